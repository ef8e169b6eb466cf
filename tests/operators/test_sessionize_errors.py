"""Sessionize on hand-built raw events: exact tables.md values for errors."""

from tests.operators.builders import (
    APP,
    DAY,
    at,
    event,
    llm,
    one,
    rows,
    session_end,
    sessionize,
    sessions_of,
    tool,
)

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
            agent_id="coder",
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
        "event_position": 3,  # session_start, the call, then it
        "agent_id": "coder",  # which agent of a session of several failed
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
        session_end(60, status="failure"),
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
    events = [event("error", 0, event_id="e1", error_type="E"), session_end(5)]
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
