"""Hand-built raw events and helpers that run one operator on them, as the engine would."""

import datetime as dt
import itertools
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pytest

from trajectory_assets.engine.batch import Batch
from trajectory_assets.engine.operator import PARTIALS, OpContext, Operator, normalise
from trajectory_assets.operators import EvalRuns, Sessionize
from trajectory_assets.schema import EVENTS, SESSIONS

DAY = "2026-11-20"
APP = "app1"
SESSION = "s1"
T0 = dt.datetime(2026, 11, 20, 12, 0, 0, tzinfo=dt.UTC)
CTX = OpContext(DAY, "b0")

_ids = itertools.count()


def at(ms: float) -> dt.datetime:
    """The timestamp `ms` milliseconds after T0."""
    return T0 + dt.timedelta(milliseconds=ms)


def event(event_type: str = "agent_message", ms: float = 0, **columns: Any) -> dict[str, Any]:
    """One raw event row: `ms` after T0 in session s1 of app1, with a fresh event_id.

    Any EVENTS column may be given by name (`ts=` overrides `ms`); the rest default to null.
    """
    row: dict[str, Any] = {
        "event_id": f"e{next(_ids):05d}",
        "app_id": APP,
        "session_id": SESSION,
        "ts": at(ms),
        "event_type": event_type,
    }
    unknown = set(columns) - set(EVENTS.names)
    if unknown:
        raise TypeError(f"not EVENTS columns: {sorted(unknown)}")
    row.update(columns)
    return row


def llm(ms: float = 0, **columns: Any) -> dict[str, Any]:
    return event("llm_call", ms, **columns)


def tool(ms: float = 0, **columns: Any) -> dict[str, Any]:
    return event("tool_call", ms, **columns)


def events_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows as the operators receive them: schema EVENTS, with dt, source_file, source_row set
    (one file per session, rows numbered in the order given) unless a row sets them itself."""
    out = []
    for i, given in enumerate(rows):
        row = dict.fromkeys(EVENTS.names)
        app, sid = given.get("app_id") or APP, given.get("session_id") or SESSION
        row.update(
            dt=DAY,
            source_file=f"raw_events/dt={DAY}/app_id={app}/session_id={sid}/part-0.parquet",
            source_row=i,
        )
        row.update(given)
        out.append(row)
    return pa.Table.from_pylist(out, schema=EVENTS)


def run(op: Operator, **tables: pa.Table) -> dict[str, pa.Table]:
    """One batch through `op.transform`, normalised as the engine does."""
    return normalise(op, op.transform(CTX, Batch(tables)))


def rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


def one(table: pa.Table) -> dict[str, Any]:
    """The single row of a table."""
    assert table.num_rows == 1, table.to_pylist()
    return table.to_pylist()[0]


def sessionize(rows_: Iterable[Mapping[str, Any]]) -> dict[str, pa.Table]:
    return run(Sessionize(), events=events_table(rows_))


def sessions_of(rows_: Iterable[Mapping[str, Any]]) -> pa.Table:
    return sessionize(rows_)["sessions"]


def run_eval_runs(sessions: pa.Table, n_batches: int = 1) -> pa.Table:
    """`eval_runs` in two phases: sessions dealt round-robin into `n_batches` batches, each
    transformed to normalised partials, all partials concatenated and merged once."""
    op = EvalRuns()
    sessions = sessions.cast(SESSIONS)
    partials = []
    for b in range(n_batches):
        part = sessions.take(pa.array(range(b, sessions.num_rows, n_batches), pa.int64()))
        ctx = OpContext(DAY, f"b{b}")
        partials.append(normalise(op, op.transform(ctx, Batch({"sessions": part})), partial=True))
    merged = pa.concat_tables([p[PARTIALS] for p in partials])
    return normalise(op, op.merge(CTX, Batch({PARTIALS: merged})))["eval_runs"]


def assert_row(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """Exact equality of two rows, except floats, which compare with pytest.approx."""
    assert sorted(actual) == sorted(expected)
    for key, want in expected.items():
        got = actual[key]
        if isinstance(want, float):
            assert got == pytest.approx(want), f"{key}: {got!r} != {want!r}"
        else:
            assert got == want and type(got) is type(want), f"{key}: {got!r} != {want!r}"
