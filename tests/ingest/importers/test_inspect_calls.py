"""Inspect model calls count once: retried attempts, and Anthropic-style token counts.

The retry fixtures are Inspect's own (`retry-2-then-success.eval`, a mock model failing twice
then answering), in the two shapes Inspect has written: `postfix` (attempts share a `call_id`)
and `legacy` (no call id; the call's event comes after its failed attempts but started first).
"""

import copy
import json
import warnings
from pathlib import Path

import pytest

from tests.ingest import real
from trajectory_assets.ingest.common import LeftOut
from trajectory_assets.ingest.importers import IMPORTERS

RETRIES = [p for p in real.INSPECT_EDGE if p.name == "retry-2-then-success.eval"]
LOG = real.FIXTURES / "inspect_ai/logs/tests/log/test_eval_log/log_formats.json"


def test_both_retry_shapes_are_in_the_fixtures() -> None:
    assert sorted(p.parent.name for p in RETRIES) == ["legacy", "postfix"]


@pytest.mark.parametrize("path", RETRIES, ids=lambda p: p.parent.name)
def test_a_retried_call_is_one_llm_call_and_its_failed_attempts_are_errors(path: Path) -> None:
    _header, (sample,) = real.inspect_log(path)
    models = [e for e in sample["events"] if e["event"] == "model"]
    failed = [e for e in models if e.get("error")]
    assert (len(models), len(failed)) == (3, 2)  # what the log states

    rows = list(IMPORTERS["inspect"].parse(path))
    calls = [r for r in rows if r["event_type"] == "llm_call"]
    errors = [r for r in rows if r["event_type"] == "error"]
    assert len(calls) == 1 and calls[0]["error_type"] is None
    assert [(r["error_type"], r["model"]) for r in errors] == [
        ("_Transient", e["model"]) for e in failed
    ]
    assert {r["turn_index"] for r in rows if r["turn_index"] is not None} == {0}
    assert json.loads(calls[0]["payload"])["retries"] == 2
    retry_of = {json.loads(r["payload"])["retry_of"] for r in errors}
    assert len(retry_of) == 1  # both point at the call's event


def test_failed_model_events_nothing_retried_stay_failed_calls(tmp_path: Path) -> None:
    """Without a later successful attempt, each failed model event is a failed call."""
    _header, (sample,) = real.inspect_log(next(p for p in RETRIES if p.parent.name == "legacy"))
    log = json.loads(LOG.read_text())
    target = log["samples"][0]
    failed = [e for e in sample["events"] if e["event"] == "model" and e.get("error")]
    events = target["transcript"]["events"]  # a 2024 log: events under `transcript`
    events[:0] = failed
    path = tmp_path / "failed.json"
    path.write_text(json.dumps(log))
    rows = list(IMPORTERS["inspect"].parse(path))
    calls = [(r["event_type"], r["error_type"]) for r in rows if r["event_type"] == "llm_call"]
    assert calls[:2] == [("llm_call", "_Transient"), ("llm_call", "_Transient")]


def test_anthropic_usage_is_added_up_openai_usage_is_kept(tmp_path: Path) -> None:
    """Inspect's Anthropic provider states input without cache reads and writes, and a total
    with them; its OpenAI provider counts cache reads inside the input."""
    log = json.loads(LOG.read_text())
    sample = log["samples"][0]
    events = sample["transcript"]["events"]
    (model,) = [e for e in events if e["event"] == "model"]
    second = copy.deepcopy(model)
    model["output"]["usage"] = {
        "input_tokens": 12,
        "output_tokens": 300,
        "total_tokens": 12 + 300 + 5000 + 800,
        "input_tokens_cache_read": 5000,
        "input_tokens_cache_write": 800,
    }
    second["output"]["usage"] = {
        "input_tokens": 4000,
        "output_tokens": 300,
        "total_tokens": 4300,
        "input_tokens_cache_read": 1024,
    }
    events.append(second)
    path = tmp_path / "usage.json"
    path.write_text(json.dumps(log))
    rows = list(IMPORTERS["inspect"].parse(path))
    calls = [r for r in rows if r["event_type"] == "llm_call"]
    assert [(r["input_tokens"], r["cache_tokens"]) for r in calls] == [(5812, 5000), (4000, 1024)]
    notes = json.loads(calls[0]["payload"])
    assert (notes["cache_write_tokens"], notes["input_tokens_stated"]) == (800, 12)
    assert real.expect_inspect([path]).input_tokens == 5812 + 4000


LOG_2025 = next(p for p in real.INSPECT if p.name.endswith("_browser.json"))


@pytest.mark.parametrize(
    ("source", "graded_by"),
    [(LOG, "results"), (LOG_2025, "eval")],
    ids=["2024: results name the scorers", "2025: the eval's spec names them"],
)
def test_a_sample_that_failed_before_it_was_scored_is_an_attempt_without_a_verdict(
    tmp_path: Path, source: Path, graded_by: str
) -> None:
    """A sample whose sandbox died had no eval_result: it left the run's attempts, so 6 of 8
    passed read 0.75 where 6 of 10 ran, and the run's error rate read 0."""
    from tests.operators.builders import run_two_phase, sessions_of
    from trajectory_assets.operators import EvalRuns

    log = json.loads(source.read_text())
    if graded_by == "eval":  # the 2025 log names its scorers in both: keep the spec's only
        log.pop("results")
    passing = log["samples"][0]
    passing["scores"][next(iter(passing["scores"]))]["value"] = "C"
    failed = copy.deepcopy(passing)
    failed["id"] = 2
    failed["error"] = {"message": "RuntimeError('sandbox died')", "traceback": ""}
    del failed["scores"]
    log["samples"].append(failed)
    path = tmp_path / "errored.json"
    path.write_text(json.dumps(log))
    rows = list(IMPORTERS["inspect"].parse(path))
    results = [json.loads(r["payload"]) for r in rows if r["event_type"] == "eval_result"]
    assert [(r["task_id"], r["passed"], r["score"], r.get("unscored")) for r in results] == [
        ("1", True, 1.0, None),
        ("2", None, None, "sample_error"),
    ]
    assert real.expect_inspect([path]).eval_results == 2
    sessions = sessions_of([{**r, "app_id": "evals"} for r in rows])  # ingest names the app
    (run,) = run_two_phase(EvalRuns(), "sessions", sessions).to_pylist()
    assert (run["n_attempts"], run["pass_rate"], run["error_session_rate"]) == (2, 0.5, 0.5)

    log.pop("results", None)  # an eval that grades nothing: no attempts
    log["eval"].pop("scorers", None)
    log["samples"] = [failed]
    path.write_text(json.dumps(log))
    assert not [r for r in IMPORTERS["inspect"].parse(path) if r["event_type"] == "eval_result"]


CANCELLED = real.FIXTURES / (
    "inspect_ai/logs/tests/analysis/test_logs/2025-05-12T20-28-13-04-00_popularity.json"
)


def test_an_eval_that_did_not_finish_is_named_and_its_results_say_so(tmp_path: Path) -> None:
    """A cancelled eval's log holds the samples that ran, each looking complete: the import
    tells how many of the planned ones, and each eval_result carries the eval's status."""
    with pytest.warns(LeftOut, match=r"status is cancelled: 3 of 3 planned sample\(s\)"):
        rows = list(IMPORTERS["inspect"].parse(CANCELLED))
    results = [json.loads(r["payload"]) for r in rows if r["event_type"] == "eval_result"]
    assert [r["eval_status"] for r in results] == ["cancelled"] * 3

    log = json.loads(CANCELLED.read_text())
    log["status"] = "error"
    log["eval"]["dataset"].pop("sample_ids")  # 100 samples, a limit of 3, two epochs
    log["eval"]["config"]["epochs"] = 2
    path = tmp_path / "failed.json"
    path.write_text(json.dumps(log))
    with pytest.warns(LeftOut, match=r"status is error: 3 of 6 planned sample\(s\)"):
        list(IMPORTERS["inspect"].parse(path))
    log["eval"]["config"]["limit"] = [10, 15]  # a range of the dataset
    path.write_text(json.dumps(log))
    with pytest.warns(LeftOut, match=r"status is error: 3 of 10 planned sample\(s\)"):
        list(IMPORTERS["inspect"].parse(path))


def test_a_finished_eval_says_nothing_more() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", LeftOut)
        rows = list(IMPORTERS["inspect"].parse(LOG))
    assert all("eval_status" not in r["payload"] for r in rows if r["event_type"] == "eval_result")
