"""Sessionize on hand-built raw events: exact tables.md values for turns, event order and lists."""

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
        session_end(30, status="success"),
    ]
    out = sessionize(events)
    s = one(out["sessions"])
    assert (s["n_events"], s["n_turns"], s["n_llm_calls"], s["input_tokens"]) == (4, 1, 2, 12)
    t = one(out["turns"])
    assert (t["turn_index"], t["n_events"], t["input_tokens"]) == (0, 1, 7)


def test_session_with_no_turn_at_all_has_no_turn_rows():
    out = sessionize([event("session_start", 0), session_end(10, status="success")])
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
        eval_result(9, model="m-eval", benchmark="b"),
    ]
    out = sessionize(events)
    s = one(out["sessions"])
    assert s["agent_ids"] == ["alpha", "mid", "zed"]
    assert s["models"] == ["m-a", "m-z"]
    assert one(out["turns"])["tools"] == ["a-tool", "z-tool"]


def test_models_is_empty_when_llm_calls_have_no_model():
    assert one(sessions_of([llm(0, model=None)]))["models"] == []
