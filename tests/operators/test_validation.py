"""Validation of raw rows: what goes to `rejected_events`, with which reason, and what is not
counted anywhere else."""

import json

import pyarrow as pa
import pytest

from tests.operators.builders import (
    APP,
    DAY,
    at,
    event,
    llm,
    one,
    rows,
    sessionize,
    sessions_of,
    tool,
)
from trajectory_assets.operators.session_tables import REJECTED_EVENTS
from trajectory_assets.schema import FLOAT_METRICS, NON_NEGATIVE, RAW_EVENTS, RAW_REQUIRED


def rejected(events: list[dict]) -> pa.Table:
    return sessionize(events)["rejected_events"]


def reasons(events: list[dict]) -> list[str]:
    return [r["reason"] for r in rows(rejected(events))]


# --- required columns ------------------------------------------------------------------------


@pytest.mark.parametrize("column", RAW_REQUIRED)
def test_null_required_column_is_rejected(column):
    assert reasons([{**llm(0), column: None}]) == [f"null or empty {column}"]


@pytest.mark.parametrize("column", [c for c in RAW_REQUIRED if c != "ts"])
@pytest.mark.parametrize("value", ["", "   "])
def test_empty_required_column_is_rejected(column, value):
    assert reasons([{**llm(0), column: value}]) == [f"null or empty {column}"]


# --- negative metrics ------------------------------------------------------------------------


@pytest.mark.parametrize("column", NON_NEGATIVE)
def test_negative_metric_is_rejected(column):
    value = -1.5 if column.endswith("_ms") else -1
    assert reasons([llm(0, **{column: value})]) == [f"negative {column}"]


@pytest.mark.parametrize("column", NON_NEGATIVE)
def test_zero_metric_is_valid(column):
    out = sessionize([llm(0, **{column: 0})])
    assert out["rejected_events"].num_rows == 0
    assert one(out["sessions"])["n_events"] == 1


@pytest.mark.parametrize("column", FLOAT_METRICS)
def test_nan_metric_is_rejected_so_no_percentile_turns_nan(column):
    out = sessionize([llm(0, **{column: float("nan")}), llm(1, latency_ms=100.0)])
    assert [r["reason"] for r in rows(out["rejected_events"])] == [f"NaN {column}"]
    assert one(out["sessions"])["latency_ms_p50"] == 100.0


def test_negative_metric_on_any_event_type_is_rejected():
    assert reasons([tool(0, tool_latency_ms=-0.001), event("weird", 1, input_tokens=-5)]) == [
        "negative tool_latency_ms",
        "negative input_tokens",
    ]


# --- payloads --------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["decision", "eval_result"])
@pytest.mark.parametrize("payload", ["{not json", "", "status: ok", '{"a": 1'])
def test_invalid_json_payload_of_decision_and_eval_result(event_type, payload):
    assert reasons([event(event_type, 0, payload=payload)]) == [
        f"invalid JSON payload for {event_type}"
    ]


@pytest.mark.parametrize("event_type", ["decision", "eval_result"])
def test_missing_payload_of_decision_and_eval_result(event_type):
    assert reasons([event(event_type, 0, payload=None)]) == [f"missing payload for {event_type}"]


@pytest.mark.parametrize("event_type", ["decision", "eval_result"])
@pytest.mark.parametrize("payload", ["[1, 2]", '"text"', "42", "null"])
def test_non_object_json_payload_of_decision_and_eval_result(event_type, payload):
    assert reasons([event(event_type, 0, payload=payload)]) == [
        f"payload of {event_type} is not a JSON object"
    ]


@pytest.mark.parametrize("event_type", ["decision", "eval_result"])
def test_valid_object_payload_is_accepted(event_type):
    assert reasons([event(event_type, 0, payload="{}")]) == []


@pytest.mark.parametrize(
    "event_type",
    ["session_start", "session_end", "user_message", "llm_call", "tool_call", "error", "other"],
)
@pytest.mark.parametrize("payload", ["{not json", "[1]", ""])
def test_invalid_json_payload_of_other_event_types_is_kept(event_type, payload):
    out = sessionize([event(event_type, 0, payload=payload, error_type="E")])
    assert out["rejected_events"].num_rows == 0
    assert one(out["sessions"])["n_events"] == 1
    assert one(out["errors"])["message"] is None


# --- several problems, the rejected row itself -----------------------------------------------


def test_row_with_two_problems_gets_both_reasons():
    assert reasons([llm(0, event_id="", latency_ms=-3.0)]) == [
        "null or empty event_id; negative latency_ms"
    ]


def test_row_with_many_problems_lists_reasons_in_check_order():
    row = event("decision", 0, session_id=None, ts=None, cache_tokens=-1, ttft_ms=-2.0)
    row["payload"] = "nope"
    assert reasons([row]) == [
        "null or empty session_id; null or empty ts; negative ttft_ms; negative cache_tokens; "
        "invalid JSON payload for decision"
    ]


def test_rejected_row_exact_values():
    bad = llm(0, event_id="bad1", input_tokens=-7, model="m1", payload='{"x": 1}')
    out = sessionize([event("session_start", 0), bad])
    table = out["rejected_events"]
    assert table.schema == REJECTED_EVENTS
    r = one(table)
    assert r == {
        "dt": DAY,
        "app_id": APP,
        "source_file": f"raw_events/dt={DAY}/app_id={APP}/session_id=s1/part-0.parquet",
        "source_row": 1,
        "event_id": "bad1",
        "reason": "negative input_tokens",
        "row": r["row"],
    }
    raw = json.loads(r["row"])
    assert list(raw) == RAW_EVENTS.names
    assert raw["event_id"] == "bad1"
    assert raw["input_tokens"] == -7
    assert raw["model"] == "m1"
    assert raw["payload"] == '{"x": 1}'
    assert raw["latency_ms"] is None


def test_rejected_row_without_app_id_takes_it_from_the_folder():
    source = f"raw_events/dt={DAY}/app_id=from-folder/session_id=s1/part-3.parquet"
    r = one(rejected([llm(0, app_id=None, source_file=source, source_row=4)]))
    assert r["app_id"] == "from-folder"
    assert r["reason"] == "null or empty app_id"
    assert (r["source_file"], r["source_row"]) == (source, 4)
    assert json.loads(r["row"])["app_id"] is None


def test_rejected_events_sorted_by_app_file_and_row():
    events = [
        llm(0, app_id="b", latency_ms=-1.0),
        llm(0, app_id="a", session_id="s2", latency_ms=-1.0),
        llm(0, app_id="a", session_id="s1", latency_ms=-1.0),
        llm(0, app_id="a", session_id="s1", ttft_ms=-1.0),
    ]
    got = [
        (r["app_id"], r["source_file"].split("/")[3], r["source_row"])
        for r in rows(rejected(events))
    ]
    assert got == [
        ("a", "session_id=s1", 2),
        ("a", "session_id=s1", 3),
        ("a", "session_id=s2", 1),
        ("b", "session_id=s1", 0),
    ]


# --- rejected rows count nowhere else --------------------------------------------------------


def test_rejected_rows_are_not_counted_in_sessions_turns_or_errors():
    events = [
        event("session_start", 0),
        llm(10, turn_index=0, input_tokens=100, latency_ms=10.0, model="good"),
        llm(20, turn_index=0, input_tokens=-1, latency_ms=1000.0, model="bad"),
        llm(30, turn_index=1, event_id="", input_tokens=999, model="bad"),
        event("error", 40, event_id=" ", error_type="E"),
        event("eval_result", 50, payload="{oops", model="m"),
        {**event("session_end", 60, payload='{"status": "success"}'), "event_type": None},
    ]
    out = sessionize(events)
    assert out["rejected_events"].num_rows == 5
    s = one(out["sessions"])
    assert (s["n_events"], s["n_llm_calls"], s["n_errors"], s["n_turns"]) == (2, 1, 0, 1)
    assert s["input_tokens"] == 100
    assert s["models"] == ["good"]
    assert s["latency_ms_p95"] == pytest.approx(10.0)
    assert s["ended_at"] == at(10)
    assert s["status"] == "unknown"
    assert s["eval_benchmark"] is None
    assert one(out["turns"])["turn_index"] == 0
    assert out["errors"].num_rows == 0


def test_session_whose_rows_are_all_rejected_has_no_row():
    events = [
        llm(0, session_id="bad", latency_ms=-1.0),
        llm(1, session_id="bad", ts=None),
        llm(2, session_id="good"),
    ]
    out = sessionize(events)
    assert [r["session_id"] for r in rows(out["sessions"])] == ["good"]
    assert out["rejected_events"].num_rows == 2


def test_invalid_first_copy_of_a_duplicate_leaves_the_valid_copy():
    events = [
        llm(0, event_id="dup", input_tokens=-1),
        llm(5, event_id="dup", input_tokens=3),
    ]
    out = sessionize(events)
    assert [r["reason"] for r in rows(out["rejected_events"])] == ["negative input_tokens"]
    s = one(out["sessions"])
    assert (s["n_events"], s["input_tokens"]) == (1, 3)


def test_validation_does_not_depend_on_the_other_rows_of_the_batch():
    good = [llm(i, input_tokens=i) for i in range(3)]
    bad = llm(9, output_tokens=-1)
    out = sessionize([*good, bad])
    assert one(out["sessions"])["n_events"] == 3
    assert one(out["rejected_events"])["source_row"] == 3
    assert sessions_of(good).equals(out["sessions"])
