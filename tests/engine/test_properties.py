"""Property-based: for random valid event streams, the asset-check invariants hold and the
inline and Ray runtimes agree."""

import datetime as dt
import json
import tempfile
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.lakes import DAY1, write_lake
from tests.runs import lake_catalog, run_all
from trajectory_assets.defs.checks import TOKENS, UNTURNED, duplicate_keys, totals
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import list_raw_files
from trajectory_assets.lake.raw_read import read_events
from trajectory_assets.operators import OPERATORS, TABLES, Sessionize, TurnFeatures
from trajectory_assets.operators.audit import recount
from trajectory_assets.schema import EVENT_TYPES

T0 = dt.datetime.fromisoformat(f"{DAY1}T08:00:00+00:00")
PAYLOADS = {
    "decision": st.fixed_dictionaries(
        {
            "step": st.sampled_from(["retrieve", "rerank"]),
            "item_id": st.sampled_from(["a", "b", "c"]),
            "outcome": st.sampled_from(["kept", "eliminated", "scored"]),
        }
    ),
    "eval_result": st.fixed_dictionaries(
        {
            "benchmark": st.sampled_from(["b1", "b2"]),
            "task_id": st.sampled_from(["t1", "t2", None]),
            "passed": st.booleans(),
            "score": st.one_of(st.none(), st.floats(0, 1)),
        }
    ),
    "session_end": st.fixed_dictionaries({"status": st.sampled_from(["success", "failure"])}),
}
maybe_int = st.one_of(st.none(), st.integers(0, 5000))
maybe_ms = st.one_of(st.none(), st.floats(0, 10_000, allow_nan=False))


@st.composite
def an_event(draw: st.DrawFn) -> dict[str, object]:
    event_type = draw(st.sampled_from([*EVENT_TYPES, "heartbeat"]))
    payload = PAYLOADS.get(event_type)
    return {
        "event_id": f"e{draw(st.integers(0, 12))}",  # a small pool: duplicate ids happen
        "ts": T0 + dt.timedelta(seconds=draw(st.integers(0, 30))),  # ties happen
        "seq": draw(st.one_of(st.none(), st.integers(0, 6))),
        "event_type": event_type,
        "turn_index": draw(st.one_of(st.none(), st.integers(0, 3))),
        "agent_id": draw(st.sampled_from([None, "planner", "coder"])),
        "model": draw(st.sampled_from([None, "m1", "m2"])),
        "tool_name": draw(st.sampled_from([None, "bash", "search"])),
        "ttft_ms": draw(maybe_ms),
        "latency_ms": draw(maybe_ms),
        "tool_latency_ms": draw(maybe_ms),
        "input_tokens": draw(maybe_int),
        "output_tokens": draw(maybe_int),
        "cache_tokens": draw(maybe_int),
        "error_type": draw(st.sampled_from([None, None, None, "Timeout"])),
        "payload": json.dumps(draw(payload)) if payload is not None else None,
    }


sessions_strategy = st.lists(st.lists(an_event(), min_size=1, max_size=14), min_size=1, max_size=3)


SESSION_OPERATORS = (Sessionize(), TurnFeatures())
"""What the invariants need; the Ray comparison below runs every operator."""


def materialize(lake: Lake, runtime: object, ops: tuple = OPERATORS) -> dict[str, pa.Table]:
    """Every operator in one run, as a Dagster materialization runs them: one Ray job per round
    of batches rather than one per operator."""
    run_all(lake, [DAY1], runtime, operators=ops, batch_bytes=1)  # type: ignore[arg-type]
    return {t: lake_catalog(lake).read(t, dt=DAY1) for op in ops for t in op.output_names}


def assert_invariants(lake: Lake, tables: dict[str, pa.Table]) -> None:
    for table in tables:
        spec = TABLES[table]
        assert duplicate_keys(tables[table], spec.keys) == 0, table
    events = read_events(lake, list_raw_files(lake, dt=DAY1)).events
    counted = recount(events, tables["rejected_events"])
    assert sum(tables["sessions"]["n_events"].to_pylist()) == counted["valid_events"]
    turns = totals(tables["turns"], TOKENS)
    expected = tuple(t + counted[u] for t, u in zip(turns, UNTURNED, strict=True))
    assert totals(tables["sessions"], TOKENS) == expected
    assert tables["turn_features"].num_rows == tables["turns"].num_rows


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions=sessions_strategy)
def test_check_invariants_hold_for_random_streams(sessions: list[list[dict[str, object]]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        lake = write_lake(Path(tmp), sessions)
        assert_invariants(lake, materialize(lake, InlineRuntime(), SESSION_OPERATORS))


@pytest.mark.ray
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sessions=sessions_strategy)
def test_ray_agrees_with_inline_on_random_streams(
    sessions: list[list[dict[str, object]]], ray_session: None
) -> None:
    from trajectory_assets.engine.runtimes.ray import RayRuntime

    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        inline = materialize(write_lake(Path(a), sessions), InlineRuntime())
        ray = materialize(write_lake(Path(b), sessions), RayRuntime())
        for table in TABLES:
            assert ray[table].equals(inline[table]), table
