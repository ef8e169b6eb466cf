"""TurnFeatures on `turns` produced by Sessionize from the same hand-built raw events."""

import pyarrow as pa
import pytest

from tests.operators.builders import (
    APP,
    DAY,
    assert_row,
    event,
    llm,
    one,
    rows,
    sessionize_and_features,
    tool,
)
from trajectory_assets.operators.turn_features import TURN_FEATURES


def features(events: list[dict]) -> pa.Table:
    _, out = sessionize_and_features(events)
    assert set(out) == {"turn_features"}
    return out["turn_features"]


def by_turn(events: list[dict]) -> dict[int, dict]:
    return {r["turn_index"]: r for r in rows(features(events))}


def test_schema_and_one_row_per_turn():
    events = [
        event("session_start", 0),
        llm(1, turn_index=0),
        llm(2, turn_index=1),
        event("session_end", 3),
    ]
    table = features(events)
    assert table.schema == TURN_FEATURES
    assert [r["turn_index"] for r in rows(table)] == [0, 1]


def test_exact_values_for_a_two_turn_session():
    events = [
        event("user_message", 0, turn_index=0),
        llm(
            100,
            turn_index=0,
            input_tokens=1000,
            cache_tokens=250,
            output_tokens=100,
            latency_ms=2000.0,
        ),
        tool(2200, turn_index=0, tool_name="bash"),
        tool(2300, turn_index=0, tool_name="bash"),
        tool(2400, turn_index=0, tool_name="grep"),
        event("user_message", 3000, turn_index=1),
        llm(
            3100,
            turn_index=1,
            input_tokens=3000,
            cache_tokens=3000,
            output_tokens=50,
            latency_ms=500.0,
            error_type="Overloaded",
        ),
        llm(3700, turn_index=1, input_tokens=None, output_tokens=None, latency_ms=500.0),
    ]
    got = by_turn(events)
    assert_row(
        got[0],
        {
            "dt": DAY,
            "app_id": APP,
            "session_id": "s1",
            "turn_index": 0,
            "cache_hit_ratio": 0.25,
            "output_tokens_per_s": 50.0,
            "tool_calls_per_llm_call": 3.0,
            "repeated_tool_calls": 1,
            "think_time_ms": None,
            "cum_input_tokens": 1000,
            "cum_output_tokens": 100,
            "is_last_turn": False,
            "had_error": False,
            "max_identical_tool_run": 2,  # bash, bash (no arguments: equal)
            "max_ping_pong": 0,
            "loop_detected": False,
        },
    )
    assert_row(
        got[1],
        {
            "dt": DAY,
            "app_id": APP,
            "session_id": "s1",
            "turn_index": 1,
            "cache_hit_ratio": 1.0,
            "output_tokens_per_s": 50.0,
            "tool_calls_per_llm_call": 0.0,
            "repeated_tool_calls": 0,
            "think_time_ms": 600.0,
            "cum_input_tokens": 4000,
            "cum_output_tokens": 150,
            "is_last_turn": True,
            "had_error": True,
            "max_identical_tool_run": 0,
            "max_ping_pong": 0,
            "loop_detected": False,
        },
    )


# --- zero denominators -----------------------------------------------------------------------


def test_zero_input_tokens_gives_null_cache_hit_ratio():
    f = one(features([llm(0, turn_index=0, input_tokens=0, cache_tokens=0, latency_ms=10.0)]))
    assert f["cache_hit_ratio"] is None


def test_null_input_tokens_gives_null_cache_hit_ratio():
    f = one(features([llm(0, turn_index=0, cache_tokens=5)]))
    assert f["cache_hit_ratio"] is None


def test_zero_latency_total_gives_null_output_tokens_per_s():
    f = one(features([llm(0, turn_index=0, output_tokens=10, latency_ms=0.0)]))
    assert f["output_tokens_per_s"] is None


def test_null_latency_gives_null_output_tokens_per_s():
    f = one(features([llm(0, turn_index=0, output_tokens=10, latency_ms=None)]))
    assert f["output_tokens_per_s"] is None


def test_no_llm_calls_gives_null_ratios():
    f = one(features([tool(0, turn_index=0, tool_name="a"), tool(1, turn_index=0, tool_name="b")]))
    assert f["tool_calls_per_llm_call"] is None
    assert f["output_tokens_per_s"] is None
    assert f["cache_hit_ratio"] is None
    assert f["repeated_tool_calls"] == 0


def test_zero_output_tokens_with_latency_is_zero_rate():
    f = one(features([llm(0, turn_index=0, output_tokens=0, latency_ms=250.0)]))
    assert f["output_tokens_per_s"] == 0.0


def test_output_tokens_per_s_uses_llm_latency_only():
    events = [
        llm(0, turn_index=0, output_tokens=30, latency_ms=1000.0),
        llm(1, turn_index=0, output_tokens=30, latency_ms=500.0),
        tool(2, turn_index=0, latency_ms=98500.0, tool_latency_ms=700.0),
    ]
    assert one(features(events))["output_tokens_per_s"] == pytest.approx(40.0)


def test_tool_calls_per_llm_call_fraction():
    events = [
        llm(0, turn_index=0),
        llm(1, turn_index=0),
        llm(2, turn_index=0),
        tool(3, turn_index=0),
    ]
    assert one(features(events))["tool_calls_per_llm_call"] == pytest.approx(1 / 3)


# --- repeated tool calls ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "repeats"),
    [
        ([], 0),
        (["a"], 0),
        (["a", "a"], 1),
        (["a", "a", "a"], 2),
        (["a", "b", "a"], 0),
        (["a", "a", "b", "a", "a"], 2),
        (["a", None, "a"], 0),
        ([None, None], 0),
    ],
)
def test_repeated_tool_calls(names, repeats):
    events = [llm(0, turn_index=0)] + [
        tool(10 + i, turn_index=0, tool_name=name) for i, name in enumerate(names)
    ]
    assert one(features(events))["repeated_tool_calls"] == repeats


def test_repeated_tool_calls_ignore_other_events_between_calls():
    events = [
        tool(0, turn_index=0, tool_name="bash"),
        llm(1, turn_index=0),
        event("agent_message", 2, turn_index=0, tool_name="other"),
        tool(3, turn_index=0, tool_name="bash"),
    ]
    assert one(features(events))["repeated_tool_calls"] == 1


def test_repeated_tool_calls_do_not_cross_turns():
    events = [
        tool(0, turn_index=0, tool_name="bash"),
        tool(1, turn_index=1, tool_name="bash"),
        tool(2, turn_index=1, tool_name="bash"),
    ]
    got = by_turn(events)
    assert (got[0]["repeated_tool_calls"], got[1]["repeated_tool_calls"]) == (0, 1)


def test_repeated_tool_calls_follow_event_order_with_seq_ties():
    # File order a, b, a; event order (by seq) a, a, b.
    events = [
        tool(5, turn_index=0, seq=1, tool_name="a"),
        tool(5, turn_index=0, seq=3, tool_name="b"),
        tool(5, turn_index=0, seq=2, tool_name="a"),
    ]
    assert one(features(events))["repeated_tool_calls"] == 1


def test_repeated_tool_calls_ignore_duplicates_and_turnless_calls():
    call = tool(0, turn_index=0, tool_name="bash")
    events = [call, dict(call), tool(1, turn_index=None, tool_name="bash")]
    assert one(features(events))["repeated_tool_calls"] == 0


# --- think time, running sums, last turn -----------------------------------------------------


def test_think_time_orders_turns_by_turn_index_not_time():
    # turn 2 happened before turn 1 in time: its think time is measured from turn 1 anyway.
    events = [
        llm(0, turn_index=0),
        llm(100, turn_index=0),
        llm(1000, turn_index=1),
        llm(1500, turn_index=1),
        llm(400, turn_index=2),
        llm(450, turn_index=2),
    ]
    got = by_turn(events)
    assert got[0]["think_time_ms"] is None
    assert got[1]["think_time_ms"] == pytest.approx(900.0)
    assert got[2]["think_time_ms"] == pytest.approx(-1100.0)
    assert [got[i]["is_last_turn"] for i in (0, 1, 2)] == [False, False, True]


def test_think_time_with_gaps_in_turn_index():
    events = [llm(0, turn_index=3), llm(250, turn_index=7), llm(255, turn_index=7)]
    got = by_turn(events)
    assert got[3]["think_time_ms"] is None
    assert got[7]["think_time_ms"] == pytest.approx(250.0)
    assert (got[3]["is_last_turn"], got[7]["is_last_turn"]) == (False, True)


def test_think_time_ignores_turnless_events_between_turns():
    events = [
        llm(0, turn_index=0),
        event("agent_message", 500, turn_index=None),
        llm(800, turn_index=1),
    ]
    assert by_turn(events)[1]["think_time_ms"] == pytest.approx(800.0)


def test_cumulative_tokens_run_in_turn_index_order_and_treat_null_as_zero():
    events = [
        llm(0, turn_index=2, input_tokens=100, output_tokens=1),
        llm(10, turn_index=0, input_tokens=10, output_tokens=None),
        llm(20, turn_index=1, input_tokens=None, output_tokens=5),
        llm(30, turn_index=1, input_tokens=1, output_tokens=5),
    ]
    got = by_turn(events)
    assert [(got[i]["cum_input_tokens"], got[i]["cum_output_tokens"]) for i in (0, 1, 2)] == [
        (10, 0),
        (11, 10),
        (111, 11),
    ]


def test_features_are_per_session():
    events = [
        llm(0, session_id="a", turn_index=0, input_tokens=5),
        llm(100, session_id="a", turn_index=1, input_tokens=5),
        llm(50, session_id="b", turn_index=0, input_tokens=7),
        llm(60, app_id="other", session_id="a", turn_index=4, input_tokens=1),
    ]
    got = {(r["app_id"], r["session_id"], r["turn_index"]): r for r in rows(features(events))}
    assert sorted(got) == [(APP, "a", 0), (APP, "a", 1), (APP, "b", 0), ("other", "a", 4)]
    assert got[(APP, "b", 0)]["think_time_ms"] is None
    assert got[(APP, "b", 0)]["cum_input_tokens"] == 7
    assert got[(APP, "b", 0)]["is_last_turn"] is True
    assert got[(APP, "a", 1)]["cum_input_tokens"] == 10
    assert got[("other", "a", 4)]["is_last_turn"] is True
    assert got[("other", "a", 4)]["think_time_ms"] is None


def test_single_turn_is_last_and_has_no_think_time():
    f = one(features([llm(0, turn_index=0, input_tokens=3, output_tokens=4)]))
    assert f["is_last_turn"] is True
    assert f["think_time_ms"] is None
    assert (f["cum_input_tokens"], f["cum_output_tokens"]) == (3, 4)


def test_had_error_from_any_event_with_error_type():
    events = [
        llm(0, turn_index=0),
        event("agent_message", 1, turn_index=1, error_type="Refusal"),
        tool(2, turn_index=2, error_type=None),
        event("error", 3, turn_index=None, error_type="Session"),
    ]
    got = by_turn(events)
    assert [got[i]["had_error"] for i in (0, 1, 2)] == [False, True, False]


def test_rejected_events_do_not_count():
    events = [
        tool(0, turn_index=0, tool_name="bash"),
        tool(1, turn_index=0, tool_name="bash", tool_latency_ms=-1.0),
        tool(2, turn_index=0, tool_name="bash", event_id=""),
    ]
    f = one(features(events))
    assert f["repeated_tool_calls"] == 0
