"""EvalRuns: two-phase pass rates per (benchmark, model, run_id) from hand-built sessions."""

import json
import random

import numpy as np
import pyarrow as pa
import pytest

from tests.operators.builders import (
    CTX,
    DAY,
    assert_row,
    attempt,
    event,
    llm,
    one,
    rows,
    run_eval_runs,
    sessions,
    sessions_of,
)
from trajectory_assets.batch import Batch
from trajectory_assets.engine.outputs import normalise
from trajectory_assets.lake.staging import PARTIALS
from trajectory_assets.operators import EvalRuns
from trajectory_assets.operators.eval_runs import EVAL_PARTIALS, EVAL_RUNS


def runs_by_key(table: pa.Table) -> dict[tuple, dict]:
    return {(r["benchmark"], r["model"], r["run_id"]): r for r in rows(table)}


RUN = [
    # task t1: 1 of 2 passed; t2: 0 of 1; t3: 3 of 3 -> pass_rate 4/6, pass@1 (1/2 + 0 + 1)/3
    # cost: 0.5 + 0.25 + (unpriced) + 1.0 + 0.0 + 0.25 = 2.0 over 2 passed tasks
    attempt("t1", True, 1.0, duration_ms=100.0, input_tokens=10, output_tokens=1, cost_usd=0.5),
    attempt(
        "t1",
        False,
        0.0,
        duration_ms=200.0,
        input_tokens=20,
        output_tokens=2,
        n_errors=2,
        cost_usd=0.25,
        n_unpriced=1,
    ),
    attempt(
        "t2",
        False,
        None,
        duration_ms=300.0,
        input_tokens=30,
        output_tokens=3,
        n_errors=1,
        n_unpriced=2,
    ),
    attempt("t3", True, 0.5, duration_ms=400.0, input_tokens=40, output_tokens=4, cost_usd=1.0),
    attempt("t3", True, None, duration_ms=500.0, input_tokens=50, output_tokens=5, cost_usd=0.0),
    attempt("t3", True, 0.75, duration_ms=10000.0, input_tokens=60, output_tokens=6, cost_usd=0.25),
]

RUN_EXPECTED = {
    "dt": DAY,
    "benchmark": "swe",
    "model": "m1",
    "run_id": "r1",
    "n_attempts": 6,
    "n_tasks": 3,
    "n_tasks_passed": 2,
    "pass_rate": 4 / 6,
    "pass_at_1": 0.5,
    "mean_score": (1.0 + 0.0 + 0.5 + 0.75) / 4,
    "input_tokens": 210,
    "output_tokens": 21,
    "session_duration_ms_p50": 350.0,
    "error_session_rate": 2 / 6,
    "cost_usd": 2.0,
    "cost_per_passed_task": 1.0,
    "n_llm_calls_unpriced": 3,
}


def test_exact_values_and_pass_rate_differs_from_pass_at_1():
    got = run_eval_runs(sessions(RUN))
    assert got.schema == EVAL_RUNS
    r = one(got)
    assert_row(r, RUN_EXPECTED)
    assert r["pass_rate"] != pytest.approx(r["pass_at_1"])


@pytest.mark.parametrize("n_batches", [2, 3, 4, 6, 9])
def test_merging_partials_of_many_batches_equals_one_batch(n_batches):
    assert_row(one(run_eval_runs(sessions(RUN), n_batches)), RUN_EXPECTED)


def test_sessions_without_benchmark_are_not_attempts():
    other = attempt(benchmark=None, n_errors=3, duration_ms=1.0, cost_usd=9.0, n_unpriced=4)
    got = run_eval_runs(sessions([*RUN, other]))
    assert_row(one(got), RUN_EXPECTED)


def test_no_attempts_gives_no_rows():
    assert run_eval_runs(sessions([attempt(benchmark=None)]), 3).num_rows == 0
    assert run_eval_runs(sessions([])).num_rows == 0


def test_one_row_per_benchmark_model_run():
    table = sessions(
        [
            attempt("t1", True, benchmark="swe", model="m1", run_id="r1"),
            attempt("t1", False, benchmark="swe", model="m1", run_id="r2"),
            attempt("t1", False, benchmark="swe", model="m2", run_id="r1"),
            attempt("t1", True, benchmark="web", model="m1", run_id="r1"),
            attempt("t2", True, benchmark="web", model="m1", run_id="r1"),
            attempt("t1", True, benchmark="swe", model="unknown", run_id="default"),
        ]
    )
    got = run_eval_runs(table)
    assert [(r["benchmark"], r["model"], r["run_id"]) for r in rows(got)] == [
        ("swe", "m1", "r1"),
        ("swe", "m1", "r2"),
        ("swe", "m2", "r1"),
        ("swe", "unknown", "default"),
        ("web", "m1", "r1"),
    ]
    by_key = runs_by_key(got)
    assert by_key[("swe", "m1", "r2")]["pass_rate"] == 0.0
    assert by_key[("web", "m1", "r1")]["n_tasks"] == 2
    assert by_key[("web", "m1", "r1")]["n_attempts"] == 2
    split = runs_by_key(run_eval_runs(table, 4))
    assert split.keys() == by_key.keys()
    for key, row in by_key.items():
        assert_row(split[key], row)


def test_null_passed_is_an_attempt_that_did_not_pass():
    r = one(run_eval_runs(sessions([attempt("t1", None), attempt("t1", True)])))
    assert (r["n_attempts"], r["n_tasks"], r["n_tasks_passed"]) == (2, 1, 1)
    assert r["pass_rate"] == pytest.approx(0.5)
    assert r["pass_at_1"] == pytest.approx(0.5)


def test_all_null_scores_give_null_mean_score():
    r = one(run_eval_runs(sessions([attempt("t1", True, None), attempt("t2", False, None)]), 2))
    assert r["mean_score"] is None


def test_no_passes_and_no_errors():
    r = one(run_eval_runs(sessions([attempt("t1", False, 0.0), attempt("t2", False, 0.0)])))
    assert (r["n_tasks_passed"], r["pass_rate"], r["pass_at_1"]) == (0, 0.0, 0.0)
    assert r["error_session_rate"] == 0.0
    assert r["mean_score"] == 0.0


def test_single_attempt():
    r = one(run_eval_runs(sessions([attempt("t1", True, 0.25, duration_ms=42.0, n_errors=1)])))
    assert_row(
        r,
        {
            "dt": DAY,
            "benchmark": "swe",
            "model": "m1",
            "run_id": "r1",
            "n_attempts": 1,
            "n_tasks": 1,
            "n_tasks_passed": 1,
            "pass_rate": 1.0,
            "pass_at_1": 1.0,
            "mean_score": 0.25,
            "input_tokens": 0,
            "output_tokens": 0,
            "session_duration_ms_p50": 42.0,
            "error_session_rate": 1.0,
            "cost_usd": None,
            "cost_per_passed_task": None,
            "n_llm_calls_unpriced": 0,
        },
    )


@pytest.mark.parametrize("n_batches", [1, 3])
def test_cost_is_null_only_when_no_attempt_is_priced(n_batches):
    unpriced = [attempt("t1", True, n_unpriced=1), attempt("t2", True, n_unpriced=2)]
    r = one(run_eval_runs(sessions(unpriced), n_batches))
    assert (r["cost_usd"], r["cost_per_passed_task"], r["n_llm_calls_unpriced"]) == (None, None, 3)
    # one priced attempt: its cost counts, the other is reported as unpriced calls
    mixed = [attempt("t1", True, cost_usd=0.75), attempt("t2", False, n_unpriced=2)]
    r = one(run_eval_runs(sessions(mixed), n_batches))
    assert (r["cost_usd"], r["cost_per_passed_task"], r["n_llm_calls_unpriced"]) == (0.75, 0.75, 2)


def test_cost_per_passed_task_is_null_when_no_task_passed():
    r = one(run_eval_runs(sessions([attempt("t1", False, cost_usd=0.5)])))
    assert (r["cost_usd"], r["n_tasks_passed"], r["cost_per_passed_task"]) == (0.5, 0, None)


def test_null_task_id_is_an_attempt_but_not_a_task():
    table = sessions([attempt(None, True), attempt("t1", False), attempt("t1", False)])
    for n_batches in (1, 3):
        r = one(run_eval_runs(table, n_batches))
        assert (r["n_attempts"], r["n_tasks"], r["n_tasks_passed"]) == (3, 1, 0)
        assert r["pass_rate"] == pytest.approx(1 / 3)
        assert r["pass_at_1"] == 0.0


@pytest.mark.parametrize("n_batches", [1, 2, 5, 13])
def test_many_attempts_match_numpy_whatever_the_batching(n_batches):
    rng = random.Random(7)
    table_rows = []
    for i in range(40):
        table_rows.append(
            attempt(
                f"t{rng.randrange(9)}",
                rng.random() < 0.4,
                rng.choice([None, rng.random()]),
                model=rng.choice(["m1", "m2"]),
                duration_ms=float(rng.randrange(10, 5000)),
                input_tokens=rng.randrange(1000),
                output_tokens=rng.randrange(100),
                n_errors=rng.choice([0, 0, 1, 4]),
                app_id=f"app{i % 3}",
                cost_usd=rng.choice([None, rng.randrange(1000) / 64]),
                n_unpriced=rng.choice([0, 0, 3]),
            )
        )
    got = runs_by_key(run_eval_runs(sessions(table_rows), n_batches))
    assert sorted(got) == [("swe", "m1", "r1"), ("swe", "m2", "r1")]
    for model in ("m1", "m2"):
        mine = [r for r in table_rows if r["eval_model"] == model]
        tasks = sorted({r["eval_task_id"] for r in mine})
        per_task = [[r["eval_passed"] for r in mine if r["eval_task_id"] == t] for t in tasks]
        scores = [r["eval_score"] for r in mine if r["eval_score"] is not None]
        costs = [r["cost_usd"] for r in mine if r["cost_usd"] is not None]
        passed_tasks = sum(any(p) for p in per_task)
        assert_row(
            got[("swe", model, "r1")],
            {
                "dt": DAY,
                "benchmark": "swe",
                "model": model,
                "run_id": "r1",
                "n_attempts": len(mine),
                "n_tasks": len(tasks),
                "n_tasks_passed": sum(any(p) for p in per_task),
                "pass_rate": sum(r["eval_passed"] for r in mine) / len(mine),
                "pass_at_1": float(np.mean([sum(p) / len(p) for p in per_task])),
                "mean_score": float(np.mean(scores)),
                "input_tokens": sum(r["input_tokens"] for r in mine),
                "output_tokens": sum(r["output_tokens"] for r in mine),
                "session_duration_ms_p50": float(
                    np.percentile([r["duration_ms"] for r in mine], 50)
                ),
                "error_session_rate": sum(r["n_errors"] > 0 for r in mine) / len(mine),
                "cost_usd": sum(costs),
                "cost_per_passed_task": sum(costs) / passed_tasks,
                "n_llm_calls_unpriced": sum(r["n_llm_calls_unpriced"] for r in mine),
            },
        )


def test_partials_are_one_row_per_group_and_task():
    op = EvalRuns()
    table = sessions(
        [attempt("t1", True, 1.0, duration_ms=5.0), attempt("t1", False, None), *RUN[2:3]]
    )
    partials = normalise(op, op.transform(CTX, Batch({"sessions": table})), CTX.day, partial=True)[
        PARTIALS
    ]
    assert partials.schema == EVAL_PARTIALS
    got = {r["task_id"]: r for r in rows(partials)}
    assert sorted(got) == ["t1", "t2"]
    assert (got["t1"]["n_attempts"], got["t1"]["n_passed"]) == (2, 1)
    assert (got["t1"]["score_sum"], got["t1"]["score_count"]) == (1.0, 1)
    assert sorted(got["t1"]["durations_ms"]) == [5.0, 1000.0]


# --- end to end: raw events -> Sessionize -> EvalRuns ----------------------------------------


def _eval_session(sid: str, *, model: str | None, passed: bool, **payload: object) -> list[dict]:
    body = {"benchmark": "swe", "passed": passed, **payload}
    return [
        event("session_start", 0, session_id=sid),
        llm(100, session_id=sid, input_tokens=10, output_tokens=2),
        event("eval_result", 300, session_id=sid, model=model, payload=json.dumps(body)),
    ]


def test_from_raw_events_with_unknown_model_and_default_run():
    events = [
        *_eval_session("a", model=None, passed=True, task_id="t1", score=1.0),
        *_eval_session("b", model=None, passed=False, task_id="t1", run_id=None),
        *_eval_session("c", model="m1", passed=True, task_id="t2", run_id="r9"),
        event("session_start", 0, session_id="no-eval"),
    ]
    got = runs_by_key(run_eval_runs(sessions_of(events), 2))
    assert sorted(got) == [("swe", "m1", "r9"), ("swe", "unknown", "default")]
    unknown = got[("swe", "unknown", "default")]
    assert (unknown["n_attempts"], unknown["n_tasks"], unknown["n_tasks_passed"]) == (2, 1, 1)
    assert unknown["pass_rate"] == pytest.approx(0.5)
    assert unknown["mean_score"] == pytest.approx(1.0)
    assert (unknown["input_tokens"], unknown["output_tokens"]) == (20, 4)
    assert unknown["session_duration_ms_p50"] == pytest.approx(300.0)
    assert unknown["error_session_rate"] == 0.0


def test_no_bit_of_a_sum_depends_on_the_batching():
    """A day read from raw_compacted is batched otherwise than from the raw files: its float sums
    (scores, costs) must still be the very same doubles, not merely close."""
    rng = random.Random(11)
    rows = [
        attempt(f"t{rng.randrange(5)}", rng.random() < 0.5, rng.random(), cost_usd=rng.random())
        for _ in range(60)
    ]
    whole = run_eval_runs(sessions(rows), 1)
    for n_batches in (2, 5, 13):
        assert run_eval_runs(sessions(rows), n_batches).equals(whole), n_batches


def test_a_score_that_is_no_number_is_null_and_the_day_still_computes():
    """A scorer's `json.dumps` writes NaN and Infinity; 1e21 fits no exact sum: each failed
    eval_runs' sums, and with them every table of the day."""
    scores = [float("nan"), float("inf"), -float("inf"), 1e21, 0.5]
    table = sessions_of(
        event(
            "eval_result",
            0,
            session_id=f"s{i}",
            model="m",
            payload=json.dumps({"benchmark": "b", "task_id": f"t{i}", "passed": True, "score": s}),
        )
        for i, s in enumerate(scores)
    )
    assert table["eval_score"].to_pylist() == [None, None, None, None, 0.5]
    assert one(run_eval_runs(table))["mean_score"] == 0.5


def test_eval_values_that_name_folders_are_folder_safe():
    """`benchmark` and `model` name eval_runs' partition folders: empty reads back as null (a
    model of "" is `unknown`, as a missing one; a benchmark of "" is none), a long one is cut."""
    long = "b" * 300

    def eval_of(i: int, benchmark: str, model: str) -> dict:
        payload = json.dumps({"benchmark": benchmark, "task_id": "t", "passed": True})
        return event("eval_result", 0, session_id=f"s{i}", model=model, payload=payload)

    table = sessions_of([eval_of(0, "b", ""), eval_of(1, "", "m"), eval_of(2, long, "m")])
    assert table["eval_model"].to_pylist() == ["unknown", "m", "m"]
    cut = table["eval_benchmark"][2].as_py()
    assert table["eval_benchmark"].to_pylist()[:2] == ["b", None]
    assert cut.startswith(long[:60] + "…") and len(cut) == 73
    runs = runs_by_key(run_eval_runs(table))
    assert sorted(k[:2] for k in runs) == [("b", "unknown"), (cut, "m")]
