"""Hand-built raw events and helpers that run one operator on them, as the engine would."""

import datetime as dt
import itertools
import json
from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
import pytest

from trajectory_assets.batch import Batch
from trajectory_assets.engine.outputs import normalise
from trajectory_assets.lake.layout import partition_value
from trajectory_assets.lake.staging import PARTIALS
from trajectory_assets.operator import OpContext, Operator
from trajectory_assets.operators import EvalRuns, Sessionize, TurnFeatures
from trajectory_assets.operators.call_cost import priced_calls_sql
from trajectory_assets.operators.session_tables import SESSIONS
from trajectory_assets.schema import EVENTS

DAY = "2026-11-20"
APP = "app1"
SESSION = "s1"
T0 = dt.datetime(2026, 11, 20, 12, 0, 0, tzinfo=dt.UTC)
CTX = OpContext(DAY, "b0")

_ids = itertools.count()
_sids = itertools.count()


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


def event_row(event_id: str, ms: float, **columns: Any) -> dict[str, Any]:
    """The row a per-event table (llm_calls, tool_calls) holds for event `event_id`, `ms` after
    T0 in session s1 of app1 on DAY: those keys, then `columns`."""
    keys = {"dt": DAY, "app_id": APP, "session_id": SESSION, "event_id": event_id, "ts": at(ms)}
    return {**keys, **columns}


def llm(ms: float = 0, **columns: Any) -> dict[str, Any]:
    return event("llm_call", ms, **columns)


def tool(ms: float = 0, **columns: Any) -> dict[str, Any]:
    return event("tool_call", ms, **columns)


def eval_result(ms: float, model: str | None = "m-eval", **payload: object) -> dict[str, Any]:
    """An `eval_result` event whose payload holds `payload` as JSON."""
    return event("eval_result", ms, model=model, payload=json.dumps(payload))


def session_end(ms: float, **payload: object) -> dict[str, Any]:
    """A `session_end` event whose payload holds `payload` as JSON."""
    return event("session_end", ms, payload=json.dumps(payload))


def session_folder(app: str, session: str) -> str:
    """A session's folder as the writers name it (each key URL-encoded)."""
    return f"app_id={partition_value(app)}/session_id={partition_value(session)}"


def events_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Rows as the operators receive them: schema EVENTS, with dt, source_file, source_row set
    (one file per session, rows numbered in the order given) unless a row sets them itself."""
    out = []
    for i, given in enumerate(rows):
        row = dict.fromkeys(EVENTS.names)
        app, sid = given.get("app_id") or APP, given.get("session_id") or SESSION
        row.update(
            dt=DAY,
            source_file=f"raw_events/dt={DAY}/{session_folder(app, sid)}/part-0.parquet",
            source_row=i,
        )
        row.update(given)
        out.append(row)
    return pa.Table.from_pylist(out, schema=EVENTS)


def attempt(
    task_id: str | None = "t1",
    passed: bool | None = True,
    score: float | None = None,
    *,
    benchmark: str | None = "swe",
    model: str = "m1",
    run_id: str = "r1",
    duration_ms: float = 1000.0,
    input_tokens: int = 0,
    output_tokens: int = 0,
    n_errors: int = 0,
    app_id: str = "app1",
    day: str = DAY,
    cost_usd: float | None = None,
    n_unpriced: int = 0,
) -> dict:
    """One `sessions` row of an eval attempt (none when `benchmark` is None); eval columns as
    Sessionize writes them."""
    row = dict.fromkeys(SESSIONS.names)
    row.update(
        dt=day,
        app_id=app_id,
        session_id=f"s{next(_sids):05d}",
        agent_ids=[],
        models=[],
        started_at=at(0),
        ended_at=at(duration_ms),
        duration_ms=duration_ms,
        n_events=1,
        n_turns=0,
        n_llm_calls=0,
        n_tool_calls=0,
        n_errors=n_errors,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_tokens=0,
        tool_latency_ms_total=0.0,
        status="unknown",
        cost_usd=cost_usd,
        n_llm_calls_unpriced=n_unpriced,
    )
    if benchmark is not None:
        row.update(
            eval_benchmark=benchmark,
            eval_task_id=task_id,
            eval_run_id=run_id,
            eval_model=model,
            eval_passed=passed,
            eval_score=score,
        )
    return row


def sessions(rows_: list[dict]) -> pa.Table:
    """`sessions` rows as a table of the SESSIONS schema."""
    return pa.Table.from_pylist(rows_, schema=SESSIONS)


def run(op: Operator, **tables: pa.Table) -> dict[str, pa.Table]:
    """One batch through `op.transform`, normalised as the engine does."""
    return normalise(op, op.transform(CTX, Batch(tables)), CTX.day)


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


def sessionize_and_features(
    rows_: Iterable[Mapping[str, Any]], **thresholds: int
) -> tuple[dict[str, pa.Table], dict[str, pa.Table]]:
    """Sessionize's tables, then TurnFeatures' on the same events and those `turns`, as the
    engine runs them (`thresholds` go to both)."""
    events = events_table(rows_)
    out = run(Sessionize(**thresholds), events=events)
    return out, run(TurnFeatures(**thresholds), events=events, turns=out["turns"])


def run_two_phase(
    op: Operator, input_name: str, table: pa.Table, n_batches: int = 1, day: str = DAY
) -> pa.Table:
    """A two-phase operator as the engine runs it: the rows of its input dealt round-robin into
    `n_batches` batches, each transformed to normalised partials, all partials merged once."""
    partials = []
    for b in range(n_batches):
        part = table.take(pa.array(range(b, table.num_rows, n_batches), pa.int64()))
        ctx = OpContext(day, f"b{b}")
        partials.append(
            normalise(op, op.transform(ctx, Batch({input_name: part})), day, partial=True)
        )
    merged = pa.concat_tables([p[PARTIALS] for p in partials])
    (output,) = op.output_names
    return normalise(op, op.merge(OpContext(day, "merge"), Batch({PARTIALS: merged})), day)[output]


def run_eval_runs(sessions: pa.Table, n_batches: int = 1) -> pa.Table:
    """`eval_runs` in two phases over `n_batches` batches of sessions (see `run_two_phase`)."""
    return run_two_phase(EvalRuns(), "sessions", sessions.cast(SESSIONS), n_batches)


def assert_row(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """Exact equality of two rows, except floats, which compare with pytest.approx."""
    assert sorted(actual) == sorted(expected)
    for key, want in expected.items():
        got = actual[key]
        if isinstance(want, float):
            assert got == pytest.approx(want), f"{key}: {got!r} != {want!r}"
        else:
            assert got == want and type(got) is type(want), f"{key}: {got!r} != {want!r}"


def price_with_sql(calls: list[dict[str, Any]], prices: pa.Table) -> list[float | None]:
    """The cost the pipeline's SQL gives each call (`model`, `ts`, token counts), in order."""
    table = pa.Table.from_pylist(
        [{"app_id": "a", "session_id": "s", "event_id": f"e{i}", **c} for i, c in enumerate(calls)],
        schema=pa.schema(
            [
                ("app_id", pa.string()),
                ("session_id", pa.string()),
                ("event_id", pa.string()),
                ("model", pa.string()),
                ("ts", pa.timestamp("us", tz="UTC")),
                ("input_tokens", pa.int64()),
                ("cache_tokens", pa.int64()),
                ("cache_write_tokens", pa.int64()),
                ("cache_write_1h_tokens", pa.int64()),
                ("web_searches", pa.int64()),
                ("output_tokens", pa.int64()),
            ]
        ),
    )
    batch = Batch({"calls": table, "prices": prices})
    try:
        got = batch.sql(f"SELECT event_id, cost_usd FROM ({priced_calls_sql('calls')})")
    finally:
        batch.close()
    by_id = dict(zip(got["event_id"].to_pylist(), got["cost_usd"].to_pylist(), strict=True))
    return [by_id[f"e{i}"] for i in range(len(calls))]
