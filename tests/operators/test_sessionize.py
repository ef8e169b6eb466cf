"""Sessionize on hand-built raw events: exact SPEC.md values for sessions, turns and errors."""

import json

import numpy as np
import pytest

from tests.operators.builders import (
    APP,
    DAY,
    assert_row,
    at,
    event,
    llm,
    one,
    rows,
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


def _eval(ms: float, model: str | None = "m-eval", **payload: object) -> dict:
    return event("eval_result", ms, model=model, payload=json.dumps(payload))


def _end(ms: float, **payload: object) -> dict:
    return event("session_end", ms, payload=json.dumps(payload))


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
        _end(1500, status="success"),
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


# --- event types, turns ----------------------------------------------------------------------


def test_unknown_event_types_are_kept_and_counted_but_are_not_calls():
    events = [
        event("session_start", 0),
        event("telemetry_ping", 1, turn_index=0, model="m-x", tool_name="t", input_tokens=4),
        event("reasoning", 2, turn_index=0),
    ]
    out = sessionize(events)
    s = one(out["sessions"])
    assert s["n_events"] == 3
    assert (s["n_llm_calls"], s["n_tool_calls"]) == (0, 0)
    assert s["models"] == []
    assert s["input_tokens"] == 4
    t = one(out["turns"])
    assert (t["n_events"], t["n_llm_calls"], t["n_tool_calls"]) == (2, 0, 0)
    assert t["tools"] == [] and t["model"] is None
    assert out["rejected_events"].num_rows == 0


def test_events_without_turn_count_in_the_session_but_make_no_turn_row():
    events = [
        event("session_start", 0),
        llm(10, turn_index=None, input_tokens=5),
        llm(20, turn_index=0, input_tokens=7),
        _end(30, status="success"),
    ]
    out = sessionize(events)
    s = one(out["sessions"])
    assert (s["n_events"], s["n_turns"], s["n_llm_calls"], s["input_tokens"]) == (4, 1, 2, 12)
    t = one(out["turns"])
    assert (t["turn_index"], t["n_events"], t["input_tokens"]) == (0, 1, 7)


def test_session_with_no_turn_at_all_has_no_turn_rows():
    out = sessionize([event("session_start", 0), _end(10, status="success")])
    assert one(out["sessions"])["n_turns"] == 0
    assert out["turns"].num_rows == 0


def test_n_turns_counts_distinct_turn_indexes():
    events = [
        llm(0, turn_index=0),
        llm(1, turn_index=0),
        llm(2, turn_index=3),
        llm(3, turn_index=7),
    ]
    out = sessionize(events)
    assert one(out["sessions"])["n_turns"] == 3
    assert [t["turn_index"] for t in rows(out["turns"])] == [0, 3, 7]


def test_turn_row_exact_values():
    events = [
        event("user_message", 0, turn_index=0),
        llm(
            10,
            turn_index=0,
            agent_id="a2",
            model="m1",
            ttft_ms=5.0,
            latency_ms=50.0,
            input_tokens=10,
            output_tokens=2,
            cache_tokens=4,
        ),
        tool(70, turn_index=0, agent_id="a1", tool_name="zsh", tool_latency_ms=3.0),
        tool(80, turn_index=0, tool_name="awk", tool_latency_ms=None, latency_ms=999.0),
        tool(90, turn_index=0, tool_name="zsh", tool_latency_ms=4.0),
        tool(95, turn_index=0, tool_name=None),
        llm(100, turn_index=0, model="m2", ttft_ms=6.0, latency_ms=None, input_tokens=None),
        llm(110, turn_index=0, model="m3", ttft_ms=7.0, latency_ms=20.0, error_type="Timeout"),
    ]
    t = one(sessionize(events)["turns"])
    assert_row(
        t,
        {
            "dt": DAY,
            "app_id": APP,
            "session_id": "s1",
            "turn_index": 0,
            "agent_id": "a2",
            "model": "m1",
            "started_at": at(0),
            "ended_at": at(110),
            "duration_ms": 110.0,
            "n_events": 8,
            "n_llm_calls": 3,
            "n_tool_calls": 4,
            "n_errors": 1,
            "input_tokens": 10,
            "output_tokens": 2,
            "cache_tokens": 4,
            "ttft_ms": 5.0,
            "latency_ms_total": 70.0,
            "tool_latency_ms_total": 7.0,
            "tools": ["awk", "zsh"],
            "cost_usd": None,  # m1, m2, m3 have no price
            "n_llm_calls_unpriced": 3,
        },
    )


def test_turn_without_llm_calls():
    t = one(sessionize([tool(0, turn_index=2, tool_name="ls", latency_ms=5.0)])["turns"])
    assert t["model"] is None
    assert t["ttft_ms"] is None
    assert t["latency_ms_total"] == 0.0
    assert t["n_llm_calls"] == 0
    assert t["agent_id"] is None


def test_turn_ttft_is_the_first_llm_calls_even_when_null():
    # "ttft_ms (of the first llm_call)": the first call has none, so the turn has none.
    events = [llm(0, turn_index=0, ttft_ms=None), llm(1, turn_index=0, ttft_ms=9.0)]
    assert one(sessionize(events)["turns"])["ttft_ms"] is None


# --- order: ts, then seq (nulls last), then event_id -----------------------------------------


def test_ties_in_ts_are_broken_by_seq_for_first_llm_call():
    events = [
        llm(50, turn_index=0, seq=3, model="third", ttft_ms=3.0, event_id="a"),
        llm(50, turn_index=0, seq=1, model="first", ttft_ms=1.0, event_id="c"),
        llm(50, turn_index=0, seq=2, model="second", ttft_ms=2.0, event_id="b"),
    ]
    t = one(sessionize(events)["turns"])
    assert (t["model"], t["ttft_ms"]) == ("first", 1.0)


def test_null_seq_sorts_after_any_seq_at_equal_ts():
    events = [
        llm(50, turn_index=0, seq=None, model="no-seq", ttft_ms=1.0, event_id="a"),
        llm(50, turn_index=0, seq=99, model="seq-99", ttft_ms=2.0, event_id="z"),
    ]
    t = one(sessionize(events)["turns"])
    assert (t["model"], t["ttft_ms"]) == ("seq-99", 2.0)


def test_equal_ts_and_seq_fall_back_to_event_id():
    events = [
        llm(50, turn_index=0, seq=None, model="from-b", event_id="b"),
        llm(50, turn_index=0, seq=None, model="from-a", event_id="a"),
    ]
    assert one(sessionize(events)["turns"])["model"] == "from-a"


def test_ts_beats_seq():
    events = [
        llm(60, turn_index=0, seq=1, model="later"),
        llm(50, turn_index=0, seq=2, model="earlier"),
    ]
    assert one(sessionize(events)["turns"])["model"] == "earlier"


def test_agent_id_is_the_first_non_null():
    events = [
        event("user_message", 0, turn_index=0, agent_id=None),
        llm(5, turn_index=0, seq=2, agent_id="second"),
        llm(5, turn_index=0, seq=1, agent_id="first"),
    ]
    assert one(sessionize(events)["turns"])["agent_id"] == "first"


# --- lists -----------------------------------------------------------------------------------


def test_lists_are_distinct_sorted_and_drop_nulls():
    events = [
        llm(0, agent_id="zed", model="m-z", turn_index=0),
        llm(1, agent_id=None, model=None, turn_index=0),
        llm(2, agent_id="alpha", model="m-a", turn_index=0),
        llm(3, agent_id="zed", model="m-z", turn_index=0),
        tool(4, agent_id="mid", tool_name="z-tool", model="m-tool", turn_index=0),
        tool(5, tool_name=None, turn_index=0),
        tool(6, tool_name="a-tool", turn_index=0),
        tool(7, tool_name="z-tool", turn_index=0),
        event("agent_message", 8, tool_name="not-a-call", turn_index=0),
        _eval(9, model="m-eval", benchmark="b"),
    ]
    out = sessionize(events)
    s = one(out["sessions"])
    assert s["agent_ids"] == ["alpha", "mid", "zed"]
    assert s["models"] == ["m-a", "m-z"]
    assert one(out["turns"])["tools"] == ["a-tool", "z-tool"]


def test_models_is_empty_when_llm_calls_have_no_model():
    assert one(sessions_of([llm(0, model=None)]))["models"] == []


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
    s = one(sessions_of([event("session_start", 0), _end(5, status="success")]))
    for column in EVAL_COLUMNS:
        assert s[column] is None, column


def test_eval_columns_come_from_the_eval_result():
    events = [
        llm(0, model="m-llm"),
        _eval(5, model="m1", benchmark="swe", task_id="t1", run_id="r7", passed=True, score=0.75),
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
    events = [_eval(5, model=None, benchmark="swe", task_id="t1", passed=False)]
    s = one(sessions_of(events))
    assert s["eval_model"] == "unknown"
    assert s["eval_run_id"] == "default"
    assert s["eval_passed"] is False
    assert s["eval_score"] is None


def test_eval_null_run_id_is_default():
    s = one(sessions_of([_eval(5, benchmark="swe", task_id="t1", run_id=None)]))
    assert s["eval_run_id"] == "default"


def test_last_eval_result_wins():
    events = [
        _eval(30, model="m-last", benchmark="b2", task_id="t2", run_id="r2", passed=True, score=1),
        _eval(10, model="m-first", benchmark="b1", task_id="t1", run_id="r1", passed=False),
    ]
    s = one(sessions_of(events))
    assert (s["eval_benchmark"], s["eval_task_id"], s["eval_run_id"]) == ("b2", "t2", "r2")
    assert (s["eval_model"], s["eval_passed"], s["eval_score"]) == ("m-last", True, 1.0)


def test_last_eval_result_wins_as_a_whole_not_per_field():
    events = [
        _eval(10, model="m1", benchmark="b1", task_id="t1", run_id="r1", passed=True, score=0.5),
        _eval(20, model=None, benchmark="b1", task_id="t1"),
    ]
    s = one(sessions_of(events))
    assert s["eval_model"] == "unknown"
    assert s["eval_run_id"] == "default"
    assert s["eval_passed"] is None
    assert s["eval_score"] is None


# --- errors ----------------------------------------------------------------------------------


def _errors(events: list[dict]) -> dict[str, dict]:
    return {e["event_id"]: e for e in rows(sessionize(events)["errors"])}


def test_error_row_exact_values():
    artifacts = [{"kind": "stderr", "uri": "s3://bucket/err.txt"}]
    events = [
        event("session_start", 0),
        llm(10, turn_index=0),
        tool(
            20,
            event_id="err1",
            turn_index=0,
            tool_name="bash",
            model="m1",
            error_type="ToolError",
            error_code="E127",
            payload='{"message": "command not found", "exit": 127}',
            artifacts=artifacts,
        ),
    ]
    assert _errors(events)["err1"] == {
        "dt": DAY,
        "app_id": APP,
        "error_type": "ToolError",
        "session_id": "s1",
        "turn_index": 0,
        "event_id": "err1",
        "ts": at(20),
        "error_code": "E127",
        "event_type": "tool_call",
        "tool_name": "bash",
        "model": "m1",
        "message": "command not found",
        "prev_event_type": "llm_call",
        "is_terminal": True,
        "artifacts": artifacts,
    }


def test_any_event_with_error_type_is_an_error():
    events = [
        event("agent_message", 0, event_id="a", error_type="X"),
        event("weird_type", 1, event_id="b", error_type="Y"),
        event("error", 2, event_id="c", error_type=None),
        event("error", 3, event_id="d", error_type="Z"),
    ]
    errors = _errors(events)
    assert sorted(errors) == ["a", "b", "d"]
    assert one(sessions_of(events))["n_errors"] == 3


def test_error_message_is_null_when_absent_or_payload_not_json():
    events = [
        event("error", 0, event_id="no_payload", error_type="E"),
        event("error", 1, event_id="not_json", error_type="E", payload="boom: {"),
        event("error", 2, event_id="no_key", error_type="E", payload='{"detail": "x"}'),
        event("error", 3, event_id="ok", error_type="E", payload='{"message": "disk full"}'),
    ]
    errors = _errors(events)
    assert {k: v["message"] for k, v in errors.items()} == {
        "no_payload": None,
        "not_json": None,
        "no_key": None,
        "ok": "disk full",
    }


def test_prev_event_type_is_null_for_the_first_event():
    events = [
        event("error", 0, event_id="first", error_type="E"),
        event("user_message", 1),
        event("error", 2, event_id="second", error_type="E"),
    ]
    errors = _errors(events)
    assert errors["first"]["prev_event_type"] is None
    assert errors["second"]["prev_event_type"] == "user_message"


def test_prev_event_type_uses_seq_at_equal_ts_and_ignores_duplicates():
    err = event("error", 10, seq=3, event_id="err", error_type="E")
    events = [
        event("agent_message", 10, seq=2),
        event("user_message", 10, seq=1),
        llm(10, seq=4),
        err,
        dict(err, ts=at(10), seq=5),  # a later copy of the error: dropped, not "previous"
    ]
    errors = _errors(events)
    assert list(errors) == ["err"]
    assert errors["err"]["prev_event_type"] == "agent_message"
    assert errors["err"]["is_terminal"] is False


def test_prev_event_type_crosses_turns_and_counts_unknown_types():
    events = [
        event("custom_thing", 0, turn_index=0),
        event("error", 1, event_id="err", turn_index=1, error_type="E"),
    ]
    assert _errors(events)["err"]["prev_event_type"] == "custom_thing"


def test_is_terminal_rules():
    events = [
        event("session_start", 0),
        event("error", 10, event_id="before_llm", error_type="E"),
        llm(20, event_id="llm_error", error_type="RateLimit"),
        tool(30, event_id="last_call_error", error_type="ToolError"),
        event("error", 40, event_id="after_calls", error_type="E"),
        event("agent_message", 50, event_id="message_error", error_type="E"),
        _end(60, status="failure"),
    ]
    terminal = {k: v["is_terminal"] for k, v in _errors(events).items()}
    assert terminal == {
        "before_llm": False,
        "llm_error": False,  # a tool_call follows
        "last_call_error": True,  # an erroring tool_call counts as itself
        "after_calls": True,
        "message_error": True,
    }


def test_is_terminal_when_the_session_has_no_calls():
    events = [event("error", 0, event_id="e1", error_type="E"), _end(5)]
    assert _errors(events)["e1"]["is_terminal"] is True


def test_is_terminal_at_equal_ts_depends_on_seq():
    events = [
        event("error", 10, seq=2, event_id="err", error_type="E"),
        llm(10, seq=1),
    ]
    assert _errors(events)["err"]["is_terminal"] is True
    events = [
        event("error", 10, seq=1, event_id="err", error_type="E"),
        llm(10, seq=2),
    ]
    assert _errors(events)["err"]["is_terminal"] is False


def test_is_terminal_null_seq_call_comes_after():
    events = [
        event("error", 10, seq=1, event_id="err", error_type="E"),
        tool(10, seq=None, event_id="a"),
    ]
    assert _errors(events)["err"]["is_terminal"] is False


def test_error_of_a_session_level_event_has_null_turn_index():
    assert _errors([event("error", 0, event_id="x", error_type="E")])["x"]["turn_index"] is None


def test_errors_sort_by_app_and_event_id():
    events = [
        event("error", 0, app_id="b", event_id="e1", error_type="E"),
        event("error", 0, app_id="a", event_id="e2", error_type="Z"),
        event("error", 5, app_id="a", event_id="e1", error_type="Y"),
    ]
    got = [(r["app_id"], r["event_id"]) for r in rows(sessionize(events)["errors"])]
    assert got == [("a", "e1"), ("a", "e2"), ("b", "e1")]
