"""An event re-sent with other content under the same event_id: the tables keep its first copy
in event order, and the `re_sent_events_agree` warning says how many events that happened to."""

import datetime as dt
from pathlib import Path

import dagster as dg

from tests.dagster_assets import assets_of, inline_resources
from tests.lakes import DAY1, write_session_file
from tests.operators.builders import event, events_table
from tests.runs import lake_catalog
from trajectory_assets.definitions import defs
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators.audit import CONFLICTING, recount
from trajectory_assets.operators.session_tables import REJECTED_EVENTS

START = dt.datetime.fromisoformat(f"{DAY1}T10:00:00+00:00")


def _write(root: Path, name: str, payloads: dict[str, str]) -> None:
    """One raw file of session s1: an event per id, with the given payloads."""
    events = [
        {"event_id": event_id, "ts": START + dt.timedelta(seconds=i), "payload": payload}
        for i, (event_id, payload) in enumerate(payloads.items())
    ]
    write_session_file(root, DAY1, "s1", events, name)


def _sessions_run(lake: Lake) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.assets("sessions", "turns").upstream(),
        partition_key=DAY1,
        resources=inline_resources(lake),
        instance=dg.DagsterInstance.ephemeral(),
    )


def test_an_event_re_sent_with_other_content_is_a_warning_naming_how_many(tmp_path: Path) -> None:
    """Event a is re-sent as it was (at-least-once delivery: not counted), b with other
    content. (A clean lake, its copies alike, passes: tests/defs/test_checks.py.)"""
    _write(tmp_path, "part-0.parquet", {"a": '{"text": "hi"}', "b": '{"text": "first"}'})
    _write(tmp_path, "part-1.parquet", {"a": '{"text": "hi"}', "b": '{"text": "edited"}'})
    lake = Lake(str(tmp_path))
    result = _sessions_run(lake)
    assert result.success  # a warning
    (found,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "re_sent_events_agree"
    ]
    assert not found.passed and found.severity == dg.AssetCheckSeverity.WARN
    assert found.metadata["detail"].value == (
        "1 event(s) re-sent with other content under the same event_id: the tables keep each "
        "one's first copy in event order"
    )
    (metadata,) = [
        m.metadata
        for m in result.asset_materializations_for_node("tier_b")
        if m.asset_key == dg.AssetKey("sessions")
    ]
    assert (metadata["duplicate_rows"].value, metadata[CONFLICTING].value) == (2, 1)
    kept = lake_catalog(lake).read("raw_compacted", dt=DAY1)
    assert kept.num_rows == 4  # raw_compacted keeps every copy; sessions count each event once
    assert lake_catalog(lake).read("sessions", dt=DAY1)["n_events"].to_pylist() == [2]


def test_the_recount_compares_every_column_but_where_a_copy_was_filed() -> None:
    first = event("llm_call", 0, event_id="a", input_tokens=5)
    rows = [
        first,
        {**first, "dt": "2026-11-17", "source_file": "elsewhere.parquet"},  # the same event
        {**first, "seq": 7},  # logged again by a retry, its counter moved on: the same event
        event("llm_call", 1, event_id="b", input_tokens=5),
        event("llm_call", 1, event_id="b", input_tokens=9),  # re-sent with another count
    ]
    counted = recount(events_table(rows), REJECTED_EVENTS.empty_table())
    assert (counted["raw_rows"], counted["valid_events"], counted[CONFLICTING]) == (5, 2, 1)


def test_events_of_a_type_no_table_reads_are_a_warning(tmp_path: Path) -> None:
    """A producer's `llm_cal` for `llm_call`: kept (SPEC), counted in n_events only, its tokens
    in the session's but its cost nowhere, and nothing said so."""
    events = [
        {"event_id": "a", "ts": START, "event_type": "llm_cal", "input_tokens": 1000},
        {"event_id": "b", "ts": START, "event_type": "llm_cal", "input_tokens": 1000},
        {"event_id": "c", "ts": START, "event_type": "user_message"},
    ]
    write_session_file(tmp_path, DAY1, "s1", events, "part-0.parquet")
    result = _sessions_run(Lake(str(tmp_path)))
    assert result.success  # a warning
    (found,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "event_types_known"
    ]
    assert not found.passed and found.severity == dg.AssetCheckSeverity.WARN
    assert str(found.metadata["detail"].value).startswith(
        "2 valid event(s) of a type no table reads carry a call's fields (a model, tokens, a "
        "latency, a tool): a misspelt llm_call or tool_call?"
    )


def test_a_misspelt_call_is_counted_by_the_copy_the_tables_keep() -> None:
    """Counted over every valid copy, an `llm_call` re-sent misspelt (the first copy, kept,
    priced) warned of a call no table read; a heartbeat of one's own is no call."""
    from trajectory_assets.operators.audit import UNKNOWN_TYPES

    kept_right = event("llm_call", 0, event_id="a", input_tokens=5)
    misspelt = event("llm_cal", 1, event_id="b", cache_tokens=5)  # any call field counts
    rows = [
        kept_right,
        {**kept_right, "event_type": "llm_cal", "ts": kept_right["ts"] + dt.timedelta(1)},
        misspelt,
        {**misspelt, "event_type": "llm_call", "ts": misspelt["ts"] + dt.timedelta(1)},
        event("heartbeat", 2, event_id="c", agent_id="worker"),
    ]
    counted = recount(events_table(rows), REJECTED_EVENTS.empty_table())
    assert counted[UNKNOWN_TYPES] == 1  # b alone: its kept copy is misspelt
