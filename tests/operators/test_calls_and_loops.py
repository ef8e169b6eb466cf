"""llm_calls and tool_calls rows, arguments_hash, is_terminal, and the loop columns of sessions
and turn_features, from hand-built events."""

import hashlib
import json
import random
from collections.abc import Sequence

import pyarrow as pa
import pytest

from tests.operators.builders import (
    assert_row,
    event,
    event_row,
    llm,
    one,
    rows,
    sessionize,
    sessionize_and_features,
    tool,
)
from trajectory_assets.operators import Sessionize, TurnFeatures
from trajectory_assets.operators.call_tables import LLM_CALLS, TOOL_CALLS
from trajectory_assets.operators.pricing import GENAI_PRICES_VERSION


def args(value: object) -> str:
    return json.dumps({"arguments": value})


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


# --- llm_calls -------------------------------------------------------------------------------


def test_llm_call_row_exact_values():
    given = {
        "turn_index": 2,
        "agent_id": "planner",
        "request_id": "req-9",
        "model": "gpt-4o",
        "ttft_ms": 12.5,
        "latency_ms": 340.0,
        "input_tokens": 2_000,
        "output_tokens": 100,
        "cache_tokens": 1_000,
        "error_type": "RateLimit",
        "error_code": "429",
    }
    payload = '{"anything": 1, "cache_write_tokens": 300}'  # gpt-4o has no cache-write price
    call = llm(10, event_id="c1", payload=payload, **given)
    out = sessionize([event("session_start", 0), call, tool(20, tool_name="ls")])
    assert out["llm_calls"].schema == LLM_CALLS
    cost = (1_000 * 2.5 + 1_000 * 1.25 + 100 * 10.0) / 1e6
    expected = event_row(
        "c1",
        10,
        **given,
        event_position=2,  # after session_start
        cache_write_tokens=300,
        cost_usd=cost,
        price_source=f"genai-prices {GENAI_PRICES_VERSION}: openai/gpt-4o",
        cache_added_to_input=False,
        cache_write_1h_tokens=None,
        web_searches=None,
    )
    assert_row(one(out["llm_calls"]), expected)


@pytest.mark.parametrize(
    ("given", "cache", "written", "counted"),
    [
        (10, 5_000, 300, 5_310),  # Anthropic's usage as it comes: 10 uncached tokens
        (0, 5_000, None, 5_000),
        (5_300, 5_000, 300, 5_300),  # as many: a call of the contract, every token cached
        (6_000, 5_000, 300, 6_000),
        (None, 5_000, None, None),  # no input count: unknown, not made up
    ],
)
def test_cache_counted_apart_from_input_is_added_to_it(
    given: int | None, cache: int, written: int | None, counted: int | None
) -> None:
    """`input_tokens` counts cached tokens too; a producer passing Anthropic's usage as it comes
    gave 10 input tokens and 5,000 cache reads: the call was priced on its cache alone and every
    token total of its turn and session was 5,300 short."""
    from genai_prices import Usage, calc_price

    payload = None if written is None else json.dumps({"cache_write_tokens": written})
    tokens = {"input_tokens": given, "output_tokens": 50, "cache_tokens": cache}
    model = "claude-sonnet-4-5"
    call = llm(10, event_id="c1", turn_index=0, model=model, payload=payload, **tokens)
    message = event("agent_message", 20, turn_index=0, **tokens)
    out = sessionize([event("session_start", 0), call, message])
    row = one(out["llm_calls"])
    assert row["input_tokens"] == counted
    assert row["cache_added_to_input"] is (counted is not None and counted != given)
    other = given or 0  # the agent_message's counts are not a call's: taken as they are
    assert one(out["turns"])["input_tokens"] == (counted or 0) + other
    assert one(out["sessions"])["input_tokens"] == (counted or 0) + other
    if counted is not None:
        usage = Usage(input_tokens=counted, cache_read_tokens=cache, output_tokens=50)
        usage.cache_write_tokens = written or 0
        price = calc_price(usage, model, genai_request_timestamp=row["ts"])
        assert row["cost_usd"] == pytest.approx(float(price.total_price), abs=1e-12)


@pytest.mark.parametrize(
    ("payload", "written"),
    [
        ('{"cache_write_tokens": 20000}', 20_000),
        ('{"cache_write_tokens": -1}', None),  # no count: the tokens are priced as input
        ('{"cache_write_tokens": 1.5}', None),
        ('{"cache_write_tokens": 20000.0}', 20_000),  # a whole number, as pandas writes it
        ('{"cache_write_tokens": 2e4}', 20_000),
        ('{"cache_write_tokens": 1e13}', None),  # over 10^12
        ('{"cache_write_tokens": "20000"}', None),
        ('{"cache_write_tokens": 1000000000001}', None),  # over 10^12, as no count may be
        ("not json", None),
    ],
)
def test_cache_writes_are_priced_at_their_rate(payload: str, written: int | None) -> None:
    """A Claude Code call writing 20,000 tokens to the cache cost 0.082509, as genai-prices'
    `calc_price` and Anthropic's list prices say ($3.75 a million written); the writes were
    priced as input ($3), 0.067509, 18% under."""
    from genai_prices import Usage, calc_price

    tokens = {"input_tokens": 20_003, "output_tokens": 500, "cache_tokens": 0}
    call = llm(10, event_id="c1", model="claude-sonnet-4-5", payload=payload, **tokens)
    row = one(sessionize([event("session_start", 0), call])["llm_calls"])
    usage = Usage(input_tokens=20_003, output_tokens=500, cache_write_tokens=written or 0)
    price = calc_price(usage, "claude-sonnet-4-5", genai_request_timestamp=row["ts"])
    assert row["cache_write_tokens"] == written
    assert row["cost_usd"] == pytest.approx(float(price.total_price), abs=1e-12)
    assert row["cost_usd"] == pytest.approx(0.082509 if written else 0.067509, abs=1e-12)


def test_hour_long_cache_writes_and_web_searches_are_priced_at_their_rates() -> None:
    """Anthropic charges a write kept for an hour at 2x the input rate (5 minutes: 1.25x) and
    $10 a thousand web searches: both were priced as 5-minute writes and nothing (-18% of a
    FinOps trial's lake heavy in both)."""
    from genai_prices import Usage, calc_price

    payload = json.dumps({"cache_write_tokens": 20_000, "cache_write_1h_tokens": 8_000.0})
    payload = payload[:-1] + ', "web_searches": 2}'
    tokens = {"input_tokens": 20_003, "output_tokens": 500, "cache_tokens": 0}
    call = llm(10, event_id="c1", model="claude-sonnet-4-5", payload=payload, **tokens)
    row = one(sessionize([event("session_start", 0), call])["llm_calls"])
    assert (row["cache_write_1h_tokens"], row["web_searches"]) == (8_000, 2)
    usage = Usage(input_tokens=20_003, output_tokens=500, cache_write_tokens=20_000)
    usage.cache_write_1h_tokens, usage.web_searches = 8_000, 2
    price = calc_price(usage, "claude-sonnet-4-5", genai_request_timestamp=row["ts"])
    assert row["cost_usd"] == pytest.approx(float(price.total_price), abs=1e-12)
    assert row["cost_usd"] == pytest.approx(0.082509 + 8_000 * (6 - 3.75) / 1e6 + 0.02, abs=1e-12)


def test_llm_calls_are_valid_and_deduplicated():
    kept = llm(5, event_id="dup", latency_ms=10.0)
    events = [
        kept,
        llm(9, event_id="dup", latency_ms=99.0),  # later copy of the same event
        llm(6, latency_ms=-1.0),  # invalid: rejected
        llm(7, latency_ms=20.0),
    ]
    out = sessionize(events)
    assert [r["latency_ms"] for r in rows(out["llm_calls"])] == [10.0, 20.0]
    assert out["rejected_events"].num_rows == 1
    assert one(out["sessions"])["n_llm_calls"] == out["llm_calls"].num_rows


# --- tool_calls ------------------------------------------------------------------------------


def test_tool_call_row_exact_values():
    given = {
        "turn_index": 0,
        "agent_id": "coder",
        "tool_name": "bash",
        "tool_latency_ms": 42.0,
        "error_type": "ToolError",
        "error_code": "1",
    }
    payload = json.dumps({"arguments": {"cmd": "ls -la"}, "other": 1})
    call = tool(10, event_id="t1", payload=payload, **given)
    out = sessionize([event("session_start", 0), call, event("session_end", 20)])
    assert out["tool_calls"].schema == TOOL_CALLS
    assert_row(
        one(out["tool_calls"]),
        event_row(
            "t1",
            10,
            **given,
            event_position=2,
            arguments_hash=md5('{"cmd":"ls -la"}'),
            is_terminal=True,  # nothing but session_end after it
        ),
    )


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (args({"q": "x", "n": 2}), md5('{"q":"x","n":2}')),
        ('{"arguments" :  {"q" : "x", "n":2}}', md5('{"q":"x","n":2}')),  # whitespace ignored
        (args('{"q": 1}'), md5(json.dumps('{"q": 1}'))),  # a JSON string, hashed as such
        (args([1, 2]), md5("[1,2]")),
        (args(None), None),  # null arguments: none
        ('{"args": {"q": "x"}}', None),  # no `arguments` key
        ("[1, 2]", None),  # not an object
        ("not json", None),
        (None, None),
    ],
)
def test_arguments_hash(payload, expected):
    out = sessionize([tool(0, tool_name="search", payload=payload)])
    assert one(out["tool_calls"])["arguments_hash"] == expected


def test_arguments_hash_is_stable_and_tells_arguments_apart():
    out = sessionize(
        [
            tool(0, tool_name="s", payload=args({"q": "a"})),
            tool(1, tool_name="s", payload=args({"q": "a"})),
            tool(2, tool_name="s", payload=args({"q": "b"})),
        ]
    )
    hashes = [r["arguments_hash"] for r in rows(out["tool_calls"])]
    assert len(set(hashes)) == 2
    again = sessionize([tool(5, tool_name="s", payload=args({"q": "a"}), session_id="other")])
    assert one(again["tool_calls"])["arguments_hash"] == hashes[0]


def test_is_terminal_only_for_an_erroring_call_with_no_call_after_it():
    events = [
        tool(0, event_id="a", tool_name="t", error_type="E"),  # an llm_call follows
        llm(1),
        tool(2, event_id="b", tool_name="t"),  # no error: never terminal
        tool(3, event_id="c", tool_name="t", error_type="E"),  # last call, erroring
        event("error", 4, error_type="AgentCrash"),
    ]
    out = sessionize(events)
    got = {r["event_id"]: r["is_terminal"] for r in rows(out["tool_calls"])}
    assert got == {"a": False, "b": False, "c": True}
    errors = {r["event_id"]: r["is_terminal"] for r in rows(out["errors"])}
    assert errors["a"] is False and errors["c"] is True  # the same rule as errors


# --- loops -----------------------------------------------------------------------------------


def loops_of(calls: Sequence[tuple[str | None, object]], **thresholds: int) -> tuple[dict, dict]:
    """Sessions and turn_features rows of one session whose calls (tool, arguments) are all
    in turn 0, with an llm_call between each pair (which must not break runs)."""
    events = []
    for i, (name, arguments) in enumerate(calls):
        payload = None if arguments is None else args(arguments)
        events.append(tool(2 * i, turn_index=0, tool_name=name, payload=payload))
        events.append(llm(2 * i + 1, turn_index=0))
    out, features = sessionize_and_features(events, **thresholds)
    return one(out["sessions"]), one(features["turn_features"])


LOOP_COLUMNS = ("max_identical_tool_run", "max_ping_pong", "loop_detected")


def loop_values(row: dict) -> tuple:
    return tuple(row[c] for c in LOOP_COLUMNS)


def test_a_loop_of_three_identical_calls():
    s, f = loops_of([("grep", {"q": "x"})] * 3)
    assert loop_values(s) == loop_values(f) == (3, 0, True)


def test_two_identical_calls_are_no_loop():
    s, f = loops_of([("grep", {"q": "x"})] * 2 + [("grep", {"q": "y"})])
    assert loop_values(s) == loop_values(f) == (2, 0, False)


def test_same_tool_with_other_arguments_is_not_identical():
    s, _ = loops_of([("grep", {"q": i}) for i in range(5)])
    assert loop_values(s) == (1, 0, False)


def test_null_arguments_are_equal_to_each_other():
    s, _ = loops_of([("ls", None), ("ls", None), ("ls", None)])
    assert loop_values(s) == (3, 0, True)


def test_a_ping_pong():
    a, b = ("read", {"f": "x"}), ("write", {"f": "x"})
    s, f = loops_of([a, b, a, b])
    assert loop_values(s) == loop_values(f) == (1, 4, True)
    s, _ = loops_of([("ls", None), a, b, a, b, a, ("ls", None)])
    assert loop_values(s) == (1, 5, True)


def test_three_alternating_calls_are_no_ping_pong():
    a, b = ("read", {"f": "x"}), ("write", {"f": "x"})
    s, _ = loops_of([a, b, a])
    assert loop_values(s) == (1, 0, False)


def test_ping_pong_needs_two_different_calls():
    a = ("read", {"f": "x"})
    s, _ = loops_of([a, a, a, a])
    assert loop_values(s) == (4, 0, True)  # identical, not a ping-pong


def test_thresholds_are_parameters():
    a, b = ("read", {"f": "x"}), ("write", {"f": "x"})
    s, f = loops_of([a, a, a, b, a, b], identical_run_threshold=4, ping_pong_threshold=5)
    assert loop_values(s) == loop_values(f) == (3, 4, False)
    s, f = loops_of([a, a, a, b, a, b], identical_run_threshold=3, ping_pong_threshold=5)
    assert loop_values(s)[2] is True and loop_values(f)[2] is True
    with pytest.raises(ValueError, match="ping_pong_threshold must be >= 4"):
        Sessionize(ping_pong_threshold=3)
    with pytest.raises(ValueError, match="identical_run_threshold must be >= 2"):
        TurnFeatures(identical_run_threshold=1)
    assert Sessionize().params == {"identical_run_threshold": 3, "ping_pong_threshold": 4}


def test_no_tool_calls_give_zero_and_no_loop():
    out = sessionize([llm(0, turn_index=0)])
    assert loop_values(one(out["sessions"])) == (0, 0, False)


def test_session_loops_run_across_turns_and_turn_loops_do_not():
    events = [
        tool(0, turn_index=0, tool_name="ls"),
        tool(1, turn_index=0, tool_name="ls"),
        tool(2, turn_index=1, tool_name="ls"),
        tool(3, turn_index=None, tool_name="ls"),  # outside any turn: in the session only
    ]
    out, features = sessionize_and_features(events)
    assert loop_values(one(out["sessions"])) == (4, 0, True)
    assert [loop_values(r) for r in rows(features["turn_features"])] == [
        (2, 0, False),
        (1, 0, False),
    ]


def _reference(calls: list[tuple]) -> tuple[int, int]:
    """max_identical_tool_run and max_ping_pong by brute force over every stretch."""
    n = len(calls)
    identical = 0
    ping_pong = 0
    for i in range(n):
        for j in range(i, n):
            stretch = calls[i : j + 1]
            if all(c == stretch[0] for c in stretch):
                identical = max(identical, len(stretch))
            if (
                len(stretch) >= 2
                and stretch[0] != stretch[1]
                and all(stretch[k] == stretch[k % 2] for k in range(len(stretch)))
            ):
                ping_pong = max(ping_pong, len(stretch))
    return identical, ping_pong if ping_pong >= 4 else 0


@pytest.mark.parametrize("seed", range(6))
def test_loop_columns_match_a_brute_force_reference(seed):
    rng = random.Random(seed)
    alphabet = [("a", None), ("a", {"x": 1}), ("b", None), (None, None), (None, {"x": 1})]
    sessions = []
    for _ in range(25):
        n = rng.randrange(0, 12)
        sessions.append([rng.choice(alphabet[: rng.randrange(1, 6)]) for _ in range(n)])
    events = []
    for s, calls in enumerate(sessions):
        events.append(event("session_start", 0, session_id=f"s{s:02d}"))
        for i, (name, arguments) in enumerate(calls):
            payload = None if arguments is None else args(arguments)
            events.append(
                tool(i + 1, session_id=f"s{s:02d}", turn_index=0, tool_name=name, payload=payload)
            )
    out, features_out = sessionize_and_features(events)
    features = {r["session_id"]: r for r in rows(features_out["turn_features"])}
    for r in rows(out["sessions"]):
        calls = sessions[int(r["session_id"][1:])]
        identical, ping_pong = _reference(calls)
        expected = (identical, ping_pong, identical >= 3 or ping_pong >= 4)
        assert loop_values(r) == expected, calls
        if calls:
            assert loop_values(features[r["session_id"]]) == expected, calls


def test_repeated_tool_calls_is_unchanged_by_arguments():
    # rules.md's repeated_tool_calls compares tool names only, as before
    events = [
        tool(0, turn_index=0, tool_name="grep", payload=args({"q": 1})),
        tool(1, turn_index=0, tool_name="grep", payload=args({"q": 2})),
    ]
    f = one(sessionize_and_features(events)[1]["turn_features"])
    assert (f["repeated_tool_calls"], f["max_identical_tool_run"]) == (1, 1)


def test_tool_calls_table_has_one_row_per_tool_call_event():
    events = [tool(i, tool_name="x") for i in range(4)] + [llm(9), event("user_message", 10)]
    out = sessionize(events)
    assert out["tool_calls"].num_rows == one(out["sessions"])["n_tool_calls"] == 4
    assert isinstance(out["tool_calls"], pa.Table)


def test_event_position_orders_a_session_across_tables_where_times_tie():
    """A model call and the tool call it made share a `ts` (an importer's action time): sorted
    by `ts` and `event_id`, the tool call came first."""
    events = [
        llm(10, event_id="z-call", seq=1),
        tool(10, event_id="a-tool", seq=2, error_type="E"),
        llm(10, event_id="m-call", seq=3),
    ]
    out = sessionize(events)
    rows = [
        (r["event_position"], r["event_id"])
        for name in ("llm_calls", "tool_calls", "errors")
        for r in out[name].to_pylist()
    ]
    assert sorted(set(rows)) == [(1, "z-call"), (2, "a-tool"), (3, "m-call")]
