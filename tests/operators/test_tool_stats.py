"""ToolStats: per-tool health of a day, two phases, from tool_calls built by Sessionize."""

import random

import numpy as np
import pyarrow as pa
import pytest

from tests.operators.builders import (
    DAY,
    assert_row,
    event,
    llm,
    rows,
    run_two_phase,
    sessionize,
    tool,
)
from trajectory_assets.operators import ToolStats
from trajectory_assets.operators.tool_stats import TOOL_STATS, TOOL_STATS_PARTIALS


def tool_stats(events: list[dict], n_batches: int = 1) -> pa.Table:
    tool_calls = sessionize(events)["tool_calls"]
    return run_two_phase(ToolStats(), "tool_calls", tool_calls, n_batches)


EVENTS = [
    # app1 / s1: bash ok, bash error (an llm_call follows: not terminal), grep ok,
    # bash timeout (the session's last call: terminal)
    tool(0, session_id="s1", tool_name="bash", tool_latency_ms=10.0),
    tool(1, session_id="s1", tool_name="bash", tool_latency_ms=20.0, error_type="ToolError"),
    llm(2, session_id="s1"),
    tool(3, session_id="s1", tool_name="grep", tool_latency_ms=5.0),
    tool(4, session_id="s1", tool_name="bash", tool_latency_ms=30.0, error_type="Timeout"),
    event("session_end", 5, session_id="s1", payload='{"status": "failure"}'),
    # app1 / s2: bash ok, grep error with no latency, last call: terminal
    tool(0, session_id="s2", tool_name="bash", tool_latency_ms=40.0),
    tool(1, session_id="s2", tool_name="grep", error_type="ToolError"),
    # app1 / s3: a tool without a name
    tool(0, session_id="s3", tool_name=None, tool_latency_ms=7.0),
    # app2 / s1: the same session id in another app is another session
    tool(0, app_id="app2", session_id="s1", tool_name="bash", tool_latency_ms=100.0),
]

EXPECTED = {
    ("app1", "bash"): {
        "dt": DAY,
        "app_id": "app1",
        "tool_name": "bash",
        "n_calls": 4,
        "n_errors": 2,
        "failure_rate": 0.5,
        "latency_ms_p50": 25.0,
        "latency_ms_p95": 38.5,  # numpy: 30 + 0.85 * 10
        "n_sessions": 2,
        "terminal_error_share": 0.5,
        "top_error_type": "Timeout",  # one each: the smaller name
    },
    ("app1", "grep"): {
        "dt": DAY,
        "app_id": "app1",
        "tool_name": "grep",
        "n_calls": 2,
        "n_errors": 1,
        "failure_rate": 0.5,
        "latency_ms_p50": 5.0,
        "latency_ms_p95": 5.0,
        "n_sessions": 2,
        "terminal_error_share": 1.0,
        "top_error_type": "ToolError",
    },
    ("app1", "unknown"): {
        "dt": DAY,
        "app_id": "app1",
        "tool_name": "unknown",
        "n_calls": 1,
        "n_errors": 0,
        "failure_rate": 0.0,
        "latency_ms_p50": 7.0,
        "latency_ms_p95": 7.0,
        "n_sessions": 1,
        "terminal_error_share": None,
        "top_error_type": None,
    },
    ("app2", "bash"): {
        "dt": DAY,
        "app_id": "app2",
        "tool_name": "bash",
        "n_calls": 1,
        "n_errors": 0,
        "failure_rate": 0.0,
        "latency_ms_p50": 100.0,
        "latency_ms_p95": 100.0,
        "n_sessions": 1,
        "terminal_error_share": None,
        "top_error_type": None,
    },
}


@pytest.mark.parametrize("n_batches", [1, 2, 3, 7])
def test_exact_values_whatever_the_batching(n_batches):
    got = tool_stats(EVENTS, n_batches)
    assert got.schema == TOOL_STATS
    by_key = {(r["app_id"], r["tool_name"]): r for r in rows(got)}
    assert list(by_key) == list(EXPECTED)  # sorted by app, tool
    for key, expected in EXPECTED.items():
        assert_row(by_key[key], expected)


def test_top_error_type_is_the_most_frequent():
    events = [
        tool(i, tool_name="t", error_type=e)
        for i, e in enumerate(["B", "A", "B", None, "C", "A", "B"])
    ]
    (r,) = rows(tool_stats(events))
    assert (r["top_error_type"], r["n_errors"], r["n_calls"]) == ("B", 6, 7)


def test_a_blank_tool_name_is_unknown_and_a_padded_one_kept():
    """A tool named "" was a tool of its own, beside `unknown` (a null name)."""
    events = [tool(0, tool_name=""), tool(1, tool_name="  "), tool(2, tool_name=None)]
    events.append(tool(3, tool_name=" bash"))
    got = {r["tool_name"]: r["n_calls"] for r in rows(tool_stats(events))}
    assert got == {"unknown": 3, " bash": 1}


def test_no_latencies_give_null_percentiles():
    (r,) = rows(tool_stats([tool(0, tool_name="t"), tool(1, tool_name="t")]))
    assert (r["latency_ms_p50"], r["latency_ms_p95"]) == (None, None)


def test_no_tool_calls_give_no_rows():
    assert tool_stats([llm(0), event("session_start", 1)]).num_rows == 0


def test_partials_are_one_row_per_app_tool_and_session():
    from tests.operators.builders import CTX
    from trajectory_assets.batch import Batch
    from trajectory_assets.engine.outputs import normalise
    from trajectory_assets.lake.staging import PARTIALS

    op = ToolStats()
    tool_calls = sessionize(EVENTS)["tool_calls"]
    partials = normalise(
        op, op.transform(CTX, Batch({"tool_calls": tool_calls})), CTX.day, partial=True
    )
    table = partials[PARTIALS]
    assert table.schema == TOOL_STATS_PARTIALS
    keys = [(r["app_id"], r["tool_name"], r["session_id"]) for r in rows(table)]
    assert keys == sorted(set(keys))
    assert len(keys) == 6


@pytest.mark.parametrize("n_batches", [1, 4])
def test_many_calls_match_a_python_reference(n_batches):
    rng = random.Random(3)
    events = []
    for s in range(30):
        sid = f"s{s:02d}"
        app = f"app{s % 2}"
        for i in range(rng.randrange(1, 8)):
            events.append(
                tool(
                    i,
                    app_id=app,
                    session_id=sid,
                    tool_name=rng.choice(["bash", "grep", "edit"]),
                    tool_latency_ms=rng.choice([None, float(rng.randrange(1, 500))]),
                    error_type=rng.choice([None, None, None, "E1", "E2"]),
                )
            )
    tool_calls = rows(sessionize(events)["tool_calls"])
    got = {(r["app_id"], r["tool_name"]): r for r in rows(tool_stats(events, n_batches))}
    for (app, name), r in got.items():
        mine = [c for c in tool_calls if (c["app_id"], c["tool_name"]) == (app, name)]
        errors = [c for c in mine if c["error_type"] is not None]
        latencies = [c["tool_latency_ms"] for c in mine if c["tool_latency_ms"] is not None]
        counts: dict[str, int] = {}
        for c in errors:
            counts[c["error_type"]] = counts.get(c["error_type"], 0) + 1
        top = min(counts, key=lambda e: (-counts[e], e)) if counts else None
        assert_row(
            r,
            {
                "dt": DAY,
                "app_id": app,
                "tool_name": name,
                "n_calls": len(mine),
                "n_errors": len(errors),
                "failure_rate": len(errors) / len(mine),
                "latency_ms_p50": float(np.percentile(latencies, 50)) if latencies else None,
                "latency_ms_p95": float(np.percentile(latencies, 95)) if latencies else None,
                "n_sessions": len({c["session_id"] for c in mine}),
                "terminal_error_share": (
                    sum(c["is_terminal"] for c in errors) / len(errors) if errors else None
                ),
                "top_error_type": top,
            },
        )
    assert sum(r["n_calls"] for r in got.values()) == len(tool_calls)
