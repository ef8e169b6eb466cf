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
from trajectory_assets.schema import (
    FLOAT_METRICS,
    MAX_METRIC,
    NON_NEGATIVE,
    RAW_EVENTS,
    RAW_REQUIRED,
)


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


def test_negative_turn_index_is_rejected_not_a_turn_of_its_own():
    out = sessionize([llm(0, turn_index=0), tool(1, turn_index=-1)])
    assert [r["reason"] for r in rows(out["rejected_events"])] == ["negative turn_index"]
    assert [t["turn_index"] for t in rows(out["turns"])] == [0]


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


@pytest.mark.parametrize("column", FLOAT_METRICS)
def test_infinite_metric_is_rejected_as_nan_is(column):
    out = sessionize([llm(0, **{column: float("inf")}), llm(1, latency_ms=100.0)])
    assert [r["reason"] for r in rows(out["rejected_events"])] == [f"infinite {column}"]
    assert one(out["sessions"])["latency_ms_p95"] == 100.0


@pytest.mark.parametrize("column", NON_NEGATIVE)
def test_a_metric_over_a_trillion_is_rejected_so_no_sum_overflows(column):
    """2**63-1 tokens (an "unknown" placeholder) summed with any other call overflowed the
    session's count and failed the whole day's commit."""
    big = float(MAX_METRIC) if column.endswith("_ms") else MAX_METRIC
    over = 2.0**63 if column.endswith("_ms") else 2**63 - 1
    out = sessionize([llm(0, **{column: big}), llm(1, event_id="x", **{column: over})])
    assert [r["reason"] for r in rows(out["rejected_events"])] == [f"{column} over 10^12"]
    assert one(out["sessions"])["n_events"] == 1


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
@pytest.mark.parametrize(
    "payload",
    [
        '{"benchmark": "b", "task_id": "t", "passed": true,}',
        '{"items": [1, 2,]}',
        '{"score": nan}',
        '{"score": -inf}',
        '{"score": Inf}',
        '{"score": infinity}',
        '{"score": NAN}',
        '{"score": -NaN}',  # Python writes none and reads none
    ],
)
def test_json_only_duckdb_takes_is_invalid(event_type, payload):
    """DuckDB's `json_valid` takes a trailing comma and `nan`/`inf` in any spelling, which
    Python, JavaScript and `jq` refuse: such an eval counted as passed in every table."""
    with pytest.raises(ValueError):
        json.loads(payload)
    assert reasons([event(event_type, 0, payload=payload)]) == [
        f"invalid JSON payload for {event_type}"
    ]


@pytest.mark.parametrize("event_type", ["decision", "eval_result"])
@pytest.mark.parametrize(
    "payload",
    [
        '{"score": NaN, "high": Infinity, "low": -Infinity}',  # as Python's json.dumps writes
        '{"text": "nan, inf,] and a \\"quote\\",}", "n": [1e5, -2.5E-3, true, false, null]}',
        ' { "a" : [ ] , "b" : { } } ',
    ],
)
def test_json_that_parsers_read_is_valid(event_type, payload):
    json.loads(payload)
    assert reasons([event(event_type, 0, payload=payload)]) == []


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


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (float("nan"), "NaN"),
        (float("inf"), "Infinity"),
        (float("-inf"), "-Infinity"),
        (2e12, 2e12),
        (-1.5, -1.5),
    ],
)
def test_a_rejected_rows_json_is_strict_json(value: float, kept: object) -> None:
    """A NaN or infinite metric, the reason the row is there, was written as a bare NaN or
    Infinity, which jq and JavaScript's JSON.parse refuse."""

    def refuse(constant: str) -> None:
        raise ValueError(constant)

    for column in FLOAT_METRICS:
        r = one(rejected([llm(0, **{column: value})]))
        assert json.loads(r["row"], parse_constant=refuse)[column] == kept


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


# --- values that name partition folders ------------------------------------------------------


def test_an_empty_error_type_is_no_error():
    """A folder cannot tell "" from null: `errors` would read back a null `error_type`, which the
    table says never happens."""
    out = sessionize([tool(0, error_type=""), tool(1, error_type="  "), tool(2, error_type="E")])
    assert one(out["sessions"])["n_errors"] == 1
    assert [r["error_type"] for r in rows(out["errors"])] == ["E"]


def test_a_long_error_type_is_cut_with_a_digest_so_distinct_ones_stay_distinct():
    """A stringified exception names a folder of `errors`: over 255 bytes it failed the day."""
    head = "requests.exceptions.HTTPError: 429 Client Error: Too Many Requests for url: "
    url = "https://api.openai.com/v1/chat/completions (rate limit reached for gpt-4o in org-"
    first, second = head + url + "a", head + url + "b"
    wide = "错误" * 40  # 240 bytes, 720 URL-encoded
    out = sessionize(
        [tool(0, error_type=first), tool(1, error_type=second), tool(2, error_type=wide)]
    )
    cut = sorted(r["error_type"] for r in rows(out["errors"]))
    assert cut[0][:61] == head[:60] + "…" and cut[1][:61] == head[:60] + "…"
    assert cut[0] != cut[1] and all(len(t) == 73 for t in cut[:2])
    assert cut[2] == wide[:16] + "…" + cut[2][-12:] and len(cut[2]) == 29
    assert {r["error_type"] for r in rows(out["tool_calls"]) if r["error_type"]} == set(cut)
    short = "x" * 180  # 180 bytes encoded: kept whole
    assert one(sessionize([tool(0, error_type=short)])["errors"])["error_type"] == short


def test_keys_are_checked_against_the_folders_their_file_names_decoded_as_the_listing_does():
    """Folder names are URL-encoded (`my%20app`); one written by hand need not be, nor decode to
    UTF-8 (`caf%E9`, Latin-1), which must not fail the day. A rejected row is filed under its
    file's app, which exists, not under whatever app its column names."""

    def at(app: str, session: str) -> str:
        return f"raw_events/dt={DAY}/app_id={app}/session_id={session}/0.parquet"

    rows_ = [
        llm(0, app_id="my app", session_id="s 1", source_file=at("my%20app", "s%201")),
        llm(1, app_id="app1", session_id="caf%E9", source_file=at("app1", "caf%E9")),
        llm(2, app_id="x" * 300, session_id="s1", source_file=at("app1", "s1")),
        llm(3, app_id="app1", session_id="s2", source_file=at("app1", "s1")),
    ]
    out = sessionize(rows_)
    assert [(r["app_id"], r["reason"]) for r in rows(out["rejected_events"])] == [
        ("app1", "app_id differs from its folder's"),
        ("app1", "session_id differs from its folder's"),
    ]
    assert sorted(s["session_id"] for s in rows(out["sessions"])) == ["caf%E9", "s 1"]
