"""ModelComparisons: paired pass@1 differences with task-clustered standard errors."""

import math
import random
import statistics

import numpy as np
import pytest

from tests.operators.builders import (
    DAY,
    assert_row,
    attempt,
    event,
    llm,
    rows,
    run_two_phase,
    sessions,
    sessions_of,
)
from trajectory_assets.operators import ModelComparisons
from trajectory_assets.operators.model_comparisons import MODEL_COMPARISONS, paired_difference
from trajectory_assets.operators.session_tables import SESSIONS

T_975_2 = 4.302652729911275
"""Student t quantile t(0.975, 2 degrees of freedom), from printed tables."""


def compare(rows_: list[dict], n_batches: int = 1, window_days: int = 1):
    table = sessions(rows_).cast(SESSIONS)
    op = ModelComparisons(window_days)
    return run_two_phase(op, "sessions", table, n_batches)


def by_pair(table) -> dict[tuple, dict]:
    return {(r["benchmark"], r["model_a"], r["model_b"]): r for r in rows(table)}


# Two models sharing three tasks (t1, t2, t3); m2 also tried t4, which m3 shares with it.
SHARED = [
    # m1: t1 1/2, t2 1/1, t3 0/2
    attempt("t1", True, model="m1", cost_usd=0.5),
    attempt("t1", False, model="m1", cost_usd=0.25, run_id="r2"),  # run ids are pooled
    attempt("t2", True, model="m1", cost_usd=1.0),
    attempt("t3", False, model="m1", cost_usd=0.25),
    attempt("t3", None, model="m1", cost_usd=None),  # null passed: not passed; unpriced
    # m2: t1 0/1, t2 1/2, t3 0/1, t4 1/1
    attempt("t1", False, model="m2", cost_usd=0.125),
    attempt("t2", True, model="m2", cost_usd=0.5),
    attempt("t2", False, model="m2", cost_usd=0.5),
    attempt("t3", False, model="m2", cost_usd=0.25),
    attempt("t4", True, model="m2", cost_usd=0.5),
    # m3: only t4
    attempt("t4", False, model="m3", cost_usd=0.75),
    # not attempts of a task: no task id, or no benchmark at all
    attempt(None, True, model="m1"),
    attempt(None, False, model="m3"),
    attempt(benchmark=None),
]


def test_two_models_sharing_three_tasks_by_hand():
    got = by_pair(compare(SHARED))
    assert sorted(got) == [("swe", "m1", "m2"), ("swe", "m2", "m3")]  # m1, m3 share nothing
    # per task: p_m1 = (1/2, 1, 0), p_m2 = (0, 1/2, 0), d = (1/2, 1/2, 0)
    d = [0.5, 0.5, 0.0]
    diff = sum(d) / 3  # 1/3
    sd = math.sqrt(sum((x - diff) ** 2 for x in d) / (3 - 1))  # sqrt(1/12)
    se = sd / math.sqrt(3)  # exactly 1/6
    assert se == pytest.approx(1 / 6)
    # mean cost per task: m1 (0.375, 1.0, 0.25 priced only), m2 (0.125, 0.5, 0.25)
    cost_diff = ((0.375 - 0.125) + (1.0 - 0.5) + (0.25 - 0.25)) / 3
    assert_row(
        got[("swe", "m1", "m2")],
        {
            "dt": DAY,
            "benchmark": "swe",
            "model_a": "m1",
            "model_b": "m2",
            "n_tasks": 3,
            "pass_at_1_a": 0.5,
            "pass_at_1_b": 1 / 6,
            "diff": 1 / 3,
            "diff_se": 1 / 6,
            "diff_ci_low": 1 / 3 - T_975_2 / 6,
            "diff_ci_high": 1 / 3 + T_975_2 / 6,
            "mean_cost_diff": cost_diff,
            "window_days": 1,
        },
    )
    assert statistics.stdev(d) / math.sqrt(3) == pytest.approx(1 / 6)


def test_agrees_with_scipys_paired_t_test():
    from scipy import stats

    got = by_pair(compare(SHARED))[("swe", "m1", "m2")]
    result = stats.ttest_rel([0.5, 1.0, 0.0], [0.0, 0.5, 0.0])
    ci = result.confidence_interval(0.95)
    assert (got["diff_ci_low"], got["diff_ci_high"]) == (
        pytest.approx(ci.low),
        pytest.approx(ci.high),
    )
    assert got["diff"] / got["diff_se"] == pytest.approx(result.statistic)


def test_one_shared_task_has_no_standard_error():
    r = by_pair(compare(SHARED))[("swe", "m2", "m3")]
    assert_row(
        r,
        {
            "dt": DAY,
            "benchmark": "swe",
            "model_a": "m2",
            "model_b": "m3",
            "n_tasks": 1,
            "pass_at_1_a": 1.0,
            "pass_at_1_b": 0.0,
            "diff": 1.0,
            "diff_se": None,
            "diff_ci_low": None,
            "diff_ci_high": None,
            "mean_cost_diff": -0.25,
            "window_days": 1,
        },
    )


@pytest.mark.parametrize("n_batches", [2, 3, 5, 14])
def test_batching_does_not_change_the_result(n_batches):
    assert compare(SHARED, n_batches).equals(compare(SHARED))


def test_mean_cost_diff_is_null_when_a_side_has_no_priced_attempt_on_a_shared_task():
    table = [
        attempt("t1", True, model="a", cost_usd=1.0),
        attempt("t1", True, model="b", cost_usd=0.5),
        attempt("t2", True, model="a", cost_usd=1.0),
        attempt("t2", False, model="b", cost_usd=None),
    ]
    (r,) = rows(compare(table))
    assert r["mean_cost_diff"] is None
    assert (r["n_tasks"], r["diff"]) == (2, 0.5)


def test_partly_priced_attempts_are_left_out_of_cost_means():
    table = [
        attempt("t1", True, model="a", cost_usd=1.0),
        attempt("t1", True, model="a", cost_usd=0.25, n_unpriced=2),  # a lower bound: left out
        attempt("t1", True, model="b", cost_usd=0.5),
    ]
    (r,) = rows(compare(table))
    assert r["mean_cost_diff"] == 0.5
    only_partial = [table[1], table[2]]
    (r,) = rows(compare(only_partial))
    assert r["mean_cost_diff"] is None


def test_identical_models_give_zero_difference_and_zero_error():
    table = [attempt(f"t{i}", i % 2 == 0, model=m) for i in range(4) for m in ("a", "b")]
    (r,) = rows(compare(table))
    assert (r["diff"], r["diff_se"], r["diff_ci_low"], r["diff_ci_high"]) == (0.0, 0.0, 0.0, 0.0)


def test_benchmarks_are_separate():
    table = [
        attempt("t1", True, model="a", benchmark="web"),
        attempt("t1", False, model="b", benchmark="swe"),
        attempt("t1", True, model="a", benchmark="swe"),
    ]
    (r,) = rows(compare(table))
    assert (r["benchmark"], r["n_tasks"], r["diff"]) == ("swe", 1, 1.0)


def test_unknown_model_is_compared_like_any_other():
    table = [attempt("t1", True, model="unknown"), attempt("t1", False, model="m1")]
    (r,) = rows(compare(table))
    assert (r["model_a"], r["model_b"], r["diff"]) == ("m1", "unknown", -1.0)


def test_no_shared_task_and_no_attempts_give_no_rows():
    assert compare([attempt("t1", model="a"), attempt("t2", model="b")]).num_rows == 0
    assert compare([]).num_rows == 0


def test_rolling_window_pools_the_days_ending_on_the_partition_day():
    table = [
        attempt("t1", True, model="a", day="2026-11-18"),  # outside a 2-day window
        attempt("t1", False, model="b", day="2026-11-18"),
        attempt("t2", True, model="a", day="2026-11-19"),
        attempt("t2", False, model="b", day="2026-11-19"),
        attempt("t3", False, model="a", day=DAY),
        attempt("t3", False, model="b", day=DAY),
    ]
    one_day = rows(compare(table, window_days=1))
    assert [(r["dt"], r["n_tasks"], r["diff"], r["window_days"]) for r in one_day] == [
        (DAY, 1, 0.0, 1)
    ]
    two_days = rows(compare(table, window_days=2))
    # a row says what it pools: dt alone read the same for both windows
    assert [(r["dt"], r["n_tasks"], r["diff"], r["window_days"]) for r in two_days] == [
        (DAY, 2, 0.5, 2)
    ]
    three_days = rows(compare(table, 3, window_days=3))
    assert [(r["n_tasks"], r["diff"]) for r in three_days] == [(3, pytest.approx(2 / 3))]
    with pytest.raises(ValueError, match="window_days"):
        ModelComparisons(0)


@pytest.mark.parametrize("seed", range(4))
def test_random_attempts_match_a_numpy_reference(seed):
    rng = random.Random(seed)
    table = [
        attempt(
            f"t{rng.randrange(8)}",
            rng.random() < 0.5,
            model=rng.choice(["a", "b", "c"]),
            cost_usd=rng.choice([None, rng.random()]),
            n_unpriced=rng.choice([0, 0, 1]),
        )
        for _ in range(60)
    ]
    batched = compare(table, n_batches=rng.randrange(2, 6))
    assert batched.equals(compare(table))  # the very same doubles, not merely close
    got = by_pair(batched)
    assert got
    for (_, a, b), r in got.items():

        def per_task(model: str) -> dict[str, tuple[float, float | None]]:
            out = {}
            for t in {x["eval_task_id"] for x in table if x["eval_model"] == model}:
                mine = [x for x in table if x["eval_model"] == model and x["eval_task_id"] == t]
                costs = [
                    x["cost_usd"]
                    for x in mine
                    if x["cost_usd"] is not None and x["n_llm_calls_unpriced"] == 0
                ]
                p = sum(bool(x["eval_passed"]) for x in mine) / len(mine)
                out[t] = (p, float(np.mean(costs)) if costs else None)
            return out

        pa_, pb_ = per_task(a), per_task(b)
        shared = sorted(set(pa_) & set(pb_))
        d = np.array([pa_[t][0] - pb_[t][0] for t in shared])
        n = len(shared)
        se = float(np.std(d, ddof=1) / np.sqrt(n)) if n >= 2 else None
        costs = [(pa_[t][1], pb_[t][1]) for t in shared]
        cost_diffs = [ca - cb for ca, cb in costs if ca is not None and cb is not None]
        assert r["n_tasks"] == n
        assert r["pass_at_1_a"] == pytest.approx(np.mean([pa_[t][0] for t in shared]))
        assert r["pass_at_1_b"] == pytest.approx(np.mean([pb_[t][0] for t in shared]))
        assert r["diff"] == pytest.approx(float(d.mean()))
        if se is None:
            assert r["diff_se"] is None
        else:
            assert r["diff_se"] == pytest.approx(se)
        if len(cost_diffs) < len(costs):  # a task without a cost on either side
            assert r["mean_cost_diff"] is None
        else:
            assert r["mean_cost_diff"] == pytest.approx(float(np.mean(cost_diffs)))


def test_paired_difference_helper():
    mean, se, low, high = paired_difference([0.5, 0.5, 0.0])
    assert (mean, se) == (pytest.approx(1 / 3), pytest.approx(1 / 6))
    assert (low, high) == (pytest.approx(1 / 3 - T_975_2 / 6), pytest.approx(1 / 3 + T_975_2 / 6))
    assert paired_difference([0.25]) == (0.25, None, None, None)


def test_schema_and_end_to_end_from_raw_events():
    import json

    def session(sid: str, model: str, task: str, passed: bool) -> list[dict]:
        body = {"benchmark": "swe", "task_id": task, "passed": passed}
        return [
            llm(0, session_id=sid, model="gpt-4o", input_tokens=400_000),  # 1.0 USD
            event("eval_result", 1, session_id=sid, model=model, payload=json.dumps(body)),
        ]

    events = [
        *session("a1", "m1", "t1", True),
        *session("a2", "m1", "t2", True),
        *session("b1", "m2", "t1", False),
        *session("b2", "m2", "t2", True),
    ]
    table = compare(rows(sessions_of(events)))
    assert table.schema == MODEL_COMPARISONS
    (r,) = rows(table)
    assert (r["n_tasks"], r["diff"], r["mean_cost_diff"]) == (2, 0.5, pytest.approx(0.0))
    assert r["diff_se"] == pytest.approx(0.5)
