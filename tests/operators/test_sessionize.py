"""Sessionize on hand-built raw events: exact tables.md values for sessions (metrics, duplicates,
status, evals); turns and errors have files of their own."""

import numpy as np
import pytest

from tests.operators.builders import (
    APP,
    DAY,
    assert_row,
    at,
    eval_result,
    event,
    llm,
    one,
    rows,
    session_end,
    sessionize,
    sessions_of,
    tool,
)
from trajectory_assets.operators.session_tables import ERRORS, SESSIONS, TURNS

EVAL_COLUMNS = (
    "eval_benchmark",
    "eval_task_id",
    "eval_run_id",
    "eval_model",
    "eval_passed",
    "eval_score",
)


# --- sessions: the full picture --------------------------------------------------------------


def test_outputs_have_their_schemas_and_keys():
    out = sessionize([event("session_start", 0), llm(5, turn_index=0)])
    assert set(out) == {
        "sessions",
        "turns",
        "errors",
        "rejected_events",
        "llm_calls",
        "tool_calls",
    }
    assert out["sessions"].schema == SESSIONS
    assert out["turns"].schema == TURNS
    assert out["errors"].schema == ERRORS
    assert out["errors"].num_rows == 0
    assert out["rejected_events"].num_rows == 0


def test_session_row_exact_values():
    events = [
        event("session_start", 0, agent_id="planner"),
        event("user_message", 100, turn_index=0),
        llm(
            200,
            turn_index=0,
            agent_id="planner",
            model="m-b",
            ttft_ms=10.0,
            latency_ms=100.0,
            input_tokens=1000,
            output_tokens=50,
            cache_tokens=400,
        ),
        tool(400, turn_index=0, agent_id="coder", tool_name="bash", tool_latency_ms=30.0),
        llm(
            500,
            turn_index=1,
            agent_id="coder",
            model="m-a",
            ttft_ms=30.0,
            latency_ms=300.0,
            input_tokens=2000,
            output_tokens=150,
            cache_tokens=600,
        ),
        tool(700, turn_index=1, tool_name="grep", tool_latency_ms=20.0, error_type="ToolError"),
        session_end(1500, status="success"),
    ]
    s = one(sessions_of(events))
    assert_row(
        s,
        {
            "dt": DAY,
            "app_id": APP,
            "session_id": "s1",
            "agent_ids": ["coder", "planner"],
            "models": ["m-a", "m-b"],
            "started_at": at(0),
            "ended_at": at(1500),
            "duration_ms": 1500.0,
            "n_events": 7,
            "n_turns": 2,
            "n_llm_calls": 2,
            "n_tool_calls": 2,
            "n_errors": 1,
            "input_tokens": 3000,
            "output_tokens": 200,
            "cache_tokens": 1000,
            "ttft_ms_p50": 20.0,
            "latency_ms_p50": 200.0,
            "latency_ms_p95": 290.0,
            "tool_latency_ms_total": 50.0,
            "status": "success",
            **dict.fromkeys(EVAL_COLUMNS),
            "cost_usd": None,  # neither m-a nor m-b has a price
            "n_llm_calls_unpriced": 2,
            "max_identical_tool_run": 1,
            "max_ping_pong": 0,
            "loop_detected": False,
        },
    )


def test_single_event_session():
    s = one(sessions_of([event("session_start", 42)]))
    assert s["started_at"] == s["ended_at"] == at(42)
    assert s["duration_ms"] == 0.0
    assert s["n_events"] == 1
    assert s["n_turns"] == 0
    assert (s["n_llm_calls"], s["n_tool_calls"], s["n_errors"]) == (0, 0, 0)
    assert (s["input_tokens"], s["output_tokens"], s["cache_tokens"]) == (0, 0, 0)
    assert s["tool_latency_ms_total"] == 0.0
    assert s["ttft_ms_p50"] is None
    assert s["latency_ms_p50"] is None
    assert s["latency_ms_p95"] is None
    assert s["agent_ids"] == [] and s["models"] == []
    assert s["status"] == "unknown"


def test_sessions_of_several_apps_in_one_batch_are_separate_and_sorted():
    events = [
        llm(0, app_id="b", session_id="x", input_tokens=1),
        llm(0, app_id="a", session_id="y", input_tokens=2),
        llm(5, app_id="a", session_id="x", input_tokens=4),
        llm(9, app_id="a", session_id="y", input_tokens=8),
    ]
    got = [
        (r["app_id"], r["session_id"], r["n_events"], r["input_tokens"])
        for r in rows(sessions_of(events))
    ]
    assert got == [("a", "x", 1, 4), ("a", "y", 2, 10), ("b", "x", 1, 1)]


# --- null metrics and percentiles ------------------------------------------------------------


def test_sums_treat_null_as_zero_and_percentiles_ignore_nulls():
    events = [
        llm(0, ttft_ms=None, latency_ms=10.0, input_tokens=None, output_tokens=5),
        llm(1, ttft_ms=4.0, latency_ms=None, input_tokens=7, output_tokens=None),
        llm(2, ttft_ms=8.0, latency_ms=30.0, cache_tokens=3),
        tool(3, tool_latency_ms=None),
        tool(4, tool_latency_ms=2.5),
    ]
    s = one(sessions_of(events))
    assert (s["input_tokens"], s["output_tokens"], s["cache_tokens"]) == (7, 5, 3)
    assert s["tool_latency_ms_total"] == 2.5
    assert s["ttft_ms_p50"] == pytest.approx(6.0)
    assert s["latency_ms_p50"] == pytest.approx(20.0)
    assert s["latency_ms_p95"] == pytest.approx(29.0)


def test_all_null_metrics_give_null_percentiles_and_zero_sums():
    events = [llm(0), llm(1), tool(2), event("user_message", 3)]
    s = one(sessions_of(events))
    assert s["ttft_ms_p50"] is None
    assert s["latency_ms_p50"] is None
    assert s["latency_ms_p95"] is None
    assert (s["input_tokens"], s["output_tokens"], s["cache_tokens"]) == (0, 0, 0)
    assert s["tool_latency_ms_total"] == 0.0


@pytest.mark.parametrize(
    "latencies",
    [
        [10.0],
        [10.0, 20.0],
        [1.0, 2.0, 3.0, 4.0],
        [5.0, 1.0, 100.0, 7.5, 3.25, 1000.0, 42.0],
        [0.0, 0.0, 0.0, 9.0],
    ],
)
def test_percentiles_match_numpy_linear_interpolation(latencies):
    events = [llm(i, latency_ms=v, ttft_ms=v / 2) for i, v in enumerate(latencies)]
    s = one(sessions_of(events))
    assert s["latency_ms_p50"] == pytest.approx(np.percentile(latencies, 50))
    assert s["latency_ms_p95"] == pytest.approx(np.percentile(latencies, 95))
    assert s["ttft_ms_p50"] == pytest.approx(np.percentile([v / 2 for v in latencies], 50))


def test_percentiles_are_over_llm_calls_only():
    llm_latencies = [10.0, 20.0, 40.0]
    events = [llm(i, latency_ms=v, ttft_ms=v) for i, v in enumerate(llm_latencies)] + [
        tool(10, latency_ms=5000.0, ttft_ms=5000.0),
        event("agent_message", 11, latency_ms=9000.0, ttft_ms=9000.0),
        event("eval_result", 12, latency_ms=7000.0, payload="{}"),
    ]
    s = one(sessions_of(events))
    assert s["latency_ms_p50"] == pytest.approx(20.0)
    assert s["latency_ms_p95"] == pytest.approx(np.percentile(llm_latencies, 95))
    assert s["ttft_ms_p50"] == pytest.approx(20.0)


def test_no_nan_anywhere_for_a_session_without_llm_calls():
    s = one(sessions_of([tool(0, tool_latency_ms=3.0), event("user_message", 1)]))
    for column in ("ttft_ms_p50", "latency_ms_p50", "latency_ms_p95"):
        assert s[column] is None


# --- duplicates ------------------------------------------------------------------------------


def test_identical_duplicates_are_one_event():
    first = llm(10, turn_index=0, input_tokens=100)
    s = one(sessions_of([event("session_start", 0), first, dict(first), dict(first)]))
    assert s["n_events"] == 2
    assert s["n_llm_calls"] == 1
    assert s["input_tokens"] == 100


def test_duplicate_keeps_the_earliest_copy_in_event_order_not_file_order():
    late = llm(900, event_id="dup", turn_index=0, input_tokens=1, model="late")
    early = llm(100, event_id="dup", turn_index=0, input_tokens=1000, model="early")
    out = sessionize([event("session_start", 0), late, early])
    s = one(out["sessions"])
    assert s["n_events"] == 2
    assert s["input_tokens"] == 1000
    assert s["models"] == ["early"]
    assert s["ended_at"] == at(100)
    t = one(out["turns"])
    assert (t["model"], t["n_events"], t["started_at"]) == ("early", 1, at(100))


def test_duplicate_with_equal_ts_keeps_the_lower_seq():
    events = [
        llm(5, event_id="dup", seq=9, output_tokens=9),
        llm(5, event_id="dup", seq=2, output_tokens=2),
    ]
    assert one(sessions_of(events))["output_tokens"] == 2


def test_duplicate_with_null_seq_loses_to_one_with_seq():
    events = [
        llm(5, event_id="dup", seq=None, output_tokens=1),
        llm(5, event_id="dup", seq=7, output_tokens=7),
    ]
    assert one(sessions_of(events))["output_tokens"] == 7


def test_fully_tied_duplicates_keep_the_first_read():
    events = [
        llm(5, event_id="dup", seq=1, output_tokens=1, source_row=0),
        llm(5, event_id="dup", seq=1, output_tokens=2, source_row=1),
    ]
    assert one(sessions_of(events))["output_tokens"] == 1


def test_duplicates_do_not_create_errors_twice():
    err = event("error", 3, error_type="Boom", payload='{"message": "x"}')
    out = sessionize([event("session_start", 0), err, dict(err)])
    assert out["errors"].num_rows == 1
    assert one(out["sessions"])["n_errors"] == 1


# --- status ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ends", "status"),
    [
        ([], "unknown"),
        ([(10, '{"status": "success"}')], "success"),
        ([(10, '{"status": "failure"}'), (20, '{"status": "abandoned"}')], "abandoned"),
        ([(20, '{"status": "abandoned"}'), (10, '{"status": "failure"}')], "abandoned"),
        ([(10, '{"status": "success"}'), (20, '{"reason": "x"}')], "unknown"),
        ([(10, '{"status": "success"}'), (20, None)], "unknown"),
        ([(10, "not json")], "unknown"),
        ([(10, '{"status": null}')], "unknown"),
        ([(10, '{"status": ""}')], "unknown"),  # blank, as blank models and error types are
        ([(10, '{"status": "  "}')], "unknown"),
    ],
)
def test_status_comes_from_the_last_session_end(ends, status):
    events = [event("session_start", 0)] + [event("session_end", ms, payload=p) for ms, p in ends]
    assert one(sessions_of(events))["status"] == status


def test_status_last_session_end_with_equal_ts_is_decided_by_seq():
    events = [
        event("session_end", 10, seq=2, payload='{"status": "failure"}'),
        event("session_end", 10, seq=1, payload='{"status": "success"}'),
    ]
    assert one(sessions_of(events))["status"] == "failure"


# --- evals -----------------------------------------------------------------------------------


def test_session_without_eval_has_all_eval_columns_null():
    s = one(sessions_of([event("session_start", 0), session_end(5, status="success")]))
    for column in EVAL_COLUMNS:
        assert s[column] is None, column


def test_eval_columns_come_from_the_eval_result():
    events = [
        llm(0, model="m-llm"),
        eval_result(
            5, model="m1", benchmark="swe", task_id="t1", run_id="r7", passed=True, score=0.75
        ),
    ]
    s = one(sessions_of(events))
    assert {c: s[c] for c in EVAL_COLUMNS} == {
        "eval_benchmark": "swe",
        "eval_task_id": "t1",
        "eval_run_id": "r7",
        "eval_model": "m1",
        "eval_passed": True,
        "eval_score": 0.75,
    }


def test_eval_defaults_unknown_model_and_default_run():
    events = [eval_result(5, model=None, benchmark="swe", task_id="t1", passed=False)]
    s = one(sessions_of(events))
    assert s["eval_model"] == "unknown"
    assert s["eval_run_id"] == "default"
    assert s["eval_passed"] is False
    assert s["eval_score"] is None


@pytest.mark.parametrize(
    ("passed", "verdict"),
    [
        (True, True),
        (False, False),
        (1, True),
        (0, False),
        (1.0, True),  # pandas or float arithmetic: it read as null, so as not passed
        (0.0, False),
        ("1", True),
        ("1.0", True),
        ("true", True),
        ("no", False),
        ("True ", True),  # spaces aside, as " 1 " was read as 1
        (" false", False),
        ("true\n", True),  # white space of any kind, as "1\n" was read as 1
        ("\tfalse", False),
        (0.5, None),  # a score is no verdict
        (2, None),
        ("maybe", None),
        (None, None),
    ],
)
def test_a_verdict_is_a_bool_or_a_number_one_or_zero(passed: object, verdict: bool | None):
    s = one(sessions_of([eval_result(5, benchmark="swe", task_id="t1", passed=passed)]))
    assert s["eval_passed"] is verdict


def test_eval_null_run_id_is_default():
    s = one(sessions_of([eval_result(5, benchmark="swe", task_id="t1", run_id=None)]))
    assert s["eval_run_id"] == "default"


def test_last_eval_result_wins():
    events = [
        eval_result(
            30, model="m-last", benchmark="b2", task_id="t2", run_id="r2", passed=True, score=1
        ),
        eval_result(10, model="m-first", benchmark="b1", task_id="t1", run_id="r1", passed=False),
    ]
    s = one(sessions_of(events))
    assert (s["eval_benchmark"], s["eval_task_id"], s["eval_run_id"]) == ("b2", "t2", "r2")
    assert (s["eval_model"], s["eval_passed"], s["eval_score"]) == ("m-last", True, 1.0)


def test_last_eval_result_wins_as_a_whole_not_per_field():
    events = [
        eval_result(
            10, model="m1", benchmark="b1", task_id="t1", run_id="r1", passed=True, score=0.5
        ),
        eval_result(20, model=None, benchmark="b1", task_id="t1"),
    ]
    s = one(sessions_of(events))
    assert s["eval_model"] == "unknown"
    assert s["eval_run_id"] == "default"
    assert s["eval_passed"] is None
    assert s["eval_score"] is None
