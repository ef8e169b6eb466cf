"""Asset checks, evaluated on the committed tables right after each materialization.

They never read the raw data again: what the raw rows imply comes from the operators' audits,
counted per batch from the very events the run read and kept with each commit. The tables
side is read from the committed Delta tables, only the columns a check needs. A check is
partitioned like its table: each day of the run has its own outcome (`defs/evaluations.py`
records them).
"""

import os
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc

from trajectory_assets.batch import Batch
from trajectory_assets.defs.check_context import UNAUDITED, CheckContext, DayCheck, limit_text
from trajectory_assets.defs.rejected_checks import (
    event_types_known,
    rejected_share,
    rejected_share_by_app,
)
from trajectory_assets.defs.time_checks import (
    runs_within_their_day,
    sessions_on_their_day,
    times_not_in_the_future,
)
from trajectory_assets.engine.commit import SKIPPED_FILES
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.layout import COMPACTED_TABLE
from trajectory_assets.operator import Operator
from trajectory_assets.operators.audit import CONFLICTING
from trajectory_assets.schema import TableSpec


def duplicate_keys(table: pa.Table, keys: Sequence[str]) -> int:
    """How many rows repeat a key that an earlier row already had (two null keys are equal).
    Counted by DuckDB (a `Batch`'s view), several times faster than Arrow's group_by on a day
    of raw rows."""
    if table.num_rows == 0:
        return 0
    key_columns = ", ".join(f'"{k}"' for k in keys)
    batch = Batch(table.select(list(keys)))
    try:
        query = f"SELECT count(*) AS n FROM (SELECT DISTINCT {key_columns} FROM events)"
        distinct = batch.sql(query)
    finally:
        batch.close()
    return table.num_rows - int(distinct["n"][0].as_py())


def totals(table: pa.Table, columns: Sequence[str]) -> tuple[int, ...]:
    return tuple(int(pc.sum(table[c]).as_py() or 0) if table.num_rows else 0 for c in columns)


TOKENS = ("input_tokens", "output_tokens", "cache_tokens")
UNTURNED = ("unturned_input_tokens", "unturned_output_tokens", "unturned_cache_tokens")


SESSION = ("app_id", "session_id")
BY_FILE_ROWS = 250_000
"""Rows of a day above which its keys are counted one file at a time (`duplicate_keys_by_file`):
slower by a file's read each, but in the memory of a file instead of the day's."""


def duplicate_keys_by_file(catalog: Catalog, spec: TableSpec, day: str) -> tuple[int, int] | None:
    """(duplicate keys, rows) of a day of a table keyed by session, counted one file at a time,
    or None when a session has rows in two files (then only the whole day can tell).

    Exact, since two rows with one key belong to one session: when every session lies in one
    file, a repeated key repeats within a file. A batch writes whole sessions, so that is the
    rule, and the driver holds a file's keys at a time instead of the day's: a day of
    raw_compacted at 10M events is a million five-column keys."""
    dupes = rows = 0
    sessions: list[pa.Table] = []
    for keys in catalog.file_rows(spec.name, day, list(spec.keys)):
        dupes += duplicate_keys(keys, spec.keys)
        rows += keys.num_rows
        sessions.append(keys.group_by(list(SESSION)).aggregate([]))
        del keys
        # Arrow's allocator keeps what a file's read freed for later reads, so without this
        # the process grows by a file's read buffers per file (+180 MB over a 10M-event day)
        pa.default_memory_pool().release_unused()
    if sessions and duplicate_keys(pa.concat_tables(sessions), SESSION):
        return None
    return dupes, rows


def _unique_keys(spec: TableSpec) -> Callable[[CheckContext, str], DayCheck]:
    by_session = set(SESSION) <= set(spec.keys)

    def check(ctx: CheckContext, day: str) -> DayCheck:
        large = by_session and ctx.rows(spec.name, day) > BY_FILE_ROWS
        counted = duplicate_keys_by_file(ctx.catalog, spec, day) if large else None
        if counted is None:
            rows = ctx.column(spec.name, day, spec.keys)
            counted = duplicate_keys(rows, spec.keys), rows.num_rows
        dupes, n = counted
        return DayCheck(dupes == 0, f"{dupes} duplicate keys in {n} rows")

    return check


def _compacted_rows(ctx: CheckContext, day: str) -> DayCheck:
    state = ctx.catalog.state(COMPACTED_TABLE, day)
    rows = state.rows if state is not None else 0
    counted = ctx.audit("compact", COMPACTED_TABLE, day)
    if counted is None:
        return UNAUDITED
    raw_rows = counted.get("raw_rows", 0)  # none: the day had no batch (an empty day)
    return DayCheck(rows == raw_rows, f"{rows} compacted rows, {raw_rows} raw rows read")


def _events_reconcile(ctx: CheckContext, day: str) -> DayCheck:
    counted = ctx.audit("sessionize", "sessions", day)
    if counted is None:
        return UNAUDITED
    (n_events,) = totals(ctx.column("sessions", day, ["n_events"]), ["n_events"])
    valid = counted.get("valid_events", 0)  # none: the day had no batch (an empty day)
    return DayCheck(
        n_events == valid,
        f"sum(n_events)={n_events}, valid raw events={valid} "
        f"(raw rows {counted.get('raw_rows', 0)}, rejected {counted.get('rejected_rows', 0)})",
    )


def _re_sent_events_agree(ctx: CheckContext, day: str) -> DayCheck:
    """A producer that re-sends an event with other content (a retry that re-serialized it, a
    replay after a fix): the tables keep the first copy in event order, the others vanish."""
    counted = ctx.audit("sessionize", "sessions", day)
    if counted is None:
        return UNAUDITED
    if "valid_events" in counted and CONFLICTING not in counted:
        return DayCheck(True, "not counted: the day was written before events were compared")
    conflicting = counted.get(CONFLICTING, 0)  # none: the day had no batch (an empty day)
    return DayCheck(
        conflicting == 0,
        f"{conflicting} event(s) re-sent with other content under the same event_id: the "
        "tables keep each one's first copy in event order"
        if conflicting
        else "every re-sent copy of an event is the same",
    )


def _all_raw_files_read(op: str, table: str) -> Callable[[CheckContext, str], DayCheck]:
    """A day whose run skipped unreadable raw files (`on_bad_file: skip`): their rows are in no
    table and no rejected share, so every other check passed while a tenant was missing."""

    def check(ctx: CheckContext, day: str) -> DayCheck:
        counted = ctx.audit(op, table, day)
        if counted is None:
            return UNAUDITED
        skipped = counted.get(SKIPPED_FILES, 0)
        return DayCheck(
            skipped == 0,
            f"{skipped} raw file(s) not read (on_bad_file: skip): their rows are in no table "
            "(skipped_files in the materialization's metadata names them)"
            if skipped
            else "every raw file listed was read",
        )

    return check


def _tokens_agree(ctx: CheckContext, day: str) -> DayCheck:
    sessions = totals(ctx.column("sessions", day, TOKENS), TOKENS)
    turns = totals(ctx.column("turns", day, TOKENS), TOKENS)
    counted = ctx.audit("sessionize", "sessions", day)
    if counted is None:
        return UNAUDITED
    expected = tuple(t + counted.get(u, 0) for t, u in zip(turns, UNTURNED, strict=True))
    return DayCheck(
        sessions == expected,
        f"sessions (in, out, cache)={sessions}; turns + events without a turn={expected}",
    )


def _elimination_ratio(ctx: CheckContext, day: str) -> DayCheck:
    """Names the steps (not their sessions: no check names a session), which a team's funnel
    has a handful of: the count alone left the search to a query."""
    limit = ctx.limits.max_elimination_ratio
    steps = ctx.column("decision_steps", day, ["step", "elimination_ratio"]).to_pylist()
    above = [
        s for s in steps if s["elimination_ratio"] is not None and s["elimination_ratio"] > limit
    ]
    names = sorted({"(no step)" if s["step"] is None else str(s["step"]) for s in above})
    which = f" (steps: {', '.join(names[:5])}{', …' if len(names) > 5 else ''})" if above else ""
    return DayCheck(
        not above,
        f"{len(above)} of {len(steps)} session steps eliminate more than {limit_text(limit)} of "
        f"their decisions{which}",
    )


def _cost_agrees(ctx: CheckContext, day: str) -> DayCheck:
    calls = ctx.column("llm_calls", day, ["cost_usd"])["cost_usd"]
    sessions = ctx.column("sessions", day, ["cost_usd"])["cost_usd"]
    priced = float(pc.sum(calls).as_py() or 0.0)
    summed = float(pc.sum(sessions).as_py() or 0.0)
    close = abs(priced - summed) <= 1e-9 * max(1.0, abs(priced))
    return DayCheck(close, f"sum(llm_calls.cost_usd)={priced:.6f}, sessions={summed:.6f}")


@dataclass(frozen=True)
class Check:
    name: str
    table: str
    description: str
    evaluate: Callable[[CheckContext, str], DayCheck]
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR
    blocking: bool = False  # a failure fails the run and holds back what depends on the table
    compares: tuple[str, ...] = ()  # the other tables it reads: a location writing them all has it

    def spec(self, partitions: dg.PartitionsDefinition) -> dg.AssetCheckSpec:
        """Partitioned like its table, so the UI shows each day's outcome (a preview API of
        Dagster 1.13, which warns about it every time)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.AssetCheckSpec(
                self.name,
                asset=self.table,
                description=self.description,
                partitions_def=partitions,
                blocking=self.blocking,
            )

    @property
    def key(self) -> dg.AssetCheckKey:
        return dg.AssetCheckKey(dg.AssetKey(self.table), self.name)


BUILT_IN = (
    Check(
        "rows_match_raw",
        COMPACTED_TABLE,
        "Every raw row the run read is in raw_compacted, once.",
        _compacted_rows,
    ),
    Check(
        "raw_files_read",
        COMPACTED_TABLE,
        "Every raw file of the day was read (none skipped as unreadable).",
        _all_raw_files_read("compact", COMPACTED_TABLE),
        dg.AssetCheckSeverity.WARN,
    ),
    Check(
        "raw_files_read",
        "sessions",
        "Every raw file of the day was read (none skipped as unreadable), when sessions read "
        "the raw events themselves.",
        _all_raw_files_read("sessionize", "sessions"),
        dg.AssetCheckSeverity.WARN,
    ),
    Check(
        "n_events_match_raw",
        "sessions",
        "sum(n_events) equals the raw events left after validation and de-duplication.",
        _events_reconcile,
    ),
    Check(
        "re_sent_events_agree",
        "sessions",
        "Copies of an event re-sent under the same event_id are the same (the tables keep the "
        "first in event order).",
        _re_sent_events_agree,
        dg.AssetCheckSeverity.WARN,
    ),
    Check(
        "event_types_known",
        "sessions",
        "No valid event of a type the tables do not read carries a call's fields (model, "
        "tokens, latency, tool): a misspelt llm_call's cost is nowhere.",
        event_types_known,
        dg.AssetCheckSeverity.WARN,
    ),
    Check(
        "tokens_match_sessions",
        "turns",
        "Token totals of turns plus events outside any turn equal those of sessions.",
        _tokens_agree,
        compares=("sessions",),
    ),
    Check(
        "rejected_share",
        "rejected_events",
        "The share of raw rows rejected stays under the configured limit.",
        rejected_share,
    ),
    Check(
        "rejected_share_by_app",
        "rejected_events",
        "Each app's share of rows rejected stays under the same limit, beyond chance (a small "
        "app's broken producer hides in a day's share).",
        rejected_share_by_app,
        dg.AssetCheckSeverity.WARN,
        compares=("sessions",),
    ),
    Check(
        "elimination_ratio",
        "decision_steps",
        "No decision step eliminates more than the configured share of its items.",
        _elimination_ratio,
        dg.AssetCheckSeverity.WARN,
    ),
    Check(
        "cost_matches_calls",
        "sessions",
        "The sessions' cost_usd adds up to the cost of their priced llm_calls.",
        _cost_agrees,
        compares=("llm_calls",),
    ),
    Check(
        "sessions_on_their_day",
        "sessions",
        "Every session starts on its day (UTC) and has no row on the day before or after.",
        sessions_on_their_day,
        dg.AssetCheckSeverity.WARN,
    ),
    Check(
        "times_not_in_the_future",
        "sessions",
        "No session ends more than an hour after the check ran (a producer's clock ahead).",
        times_not_in_the_future,
        dg.AssetCheckSeverity.WARN,
    ),
    Check(
        "runs_within_their_day",
        "eval_runs",
        "No eval run has attempts on the day before or after as well (a run past midnight, UTC, "
        "is a partial row on each day).",
        runs_within_their_day,
        dg.AssetCheckSeverity.WARN,
    ),
)
"""Checks of the built-in tables, all here (docs/rules.md describes each): a location gets those
of the tables it writes (`checks_for`), whichever location the operators come from."""


def checks_for(operators: Sequence[Operator]) -> list[Check]:
    """Unique keys on every table, plus the built-in checks of the tables these write (and of
    every table a check compares its table with)."""
    tables = {t.name: t for op in operators for t in op.outputs}
    found = [
        Check("unique_keys", name, f"Each {', '.join(t.keys)} appears once.", _unique_keys(t))
        for name, t in tables.items()
    ]
    return found + [c for c in BUILT_IN if {c.table, *c.compares} <= set(tables)]


Outcomes = list[tuple[Check, Mapping[str, DayCheck]]]
"""Each check with its outcome on each of its days."""


def blocked(outcomes: Outcomes) -> list[str]:
    """`table.check dt=day` of every blocking check that failed."""
    return [
        f"{check.table}.{check.name} dt={day}"
        for check, days in outcomes
        if check.blocking
        for day, outcome in sorted(days.items())
        if outcome.evaluated and not outcome.passed
    ]


def evaluate(check: Check, ctx: CheckContext, days: Sequence[str]) -> dict[str, DayCheck]:
    results: dict[str, DayCheck] = {}
    for day in days:
        results[day] = check.evaluate(ctx, day)
        # what a day's reads freed goes back to the system, not kept by Arrow's allocator for
        # the next day: two 10M-event days (Ray) peaked at 656-672 MB without it, 611 with it
        pa.default_memory_pool().release_unused()
    return results


def evaluate_all(
    checks: Sequence[Check], ctx: CheckContext, days_of: Callable[[Check], Sequence[str]]
) -> Outcomes:
    """Every check over its days, on a thread per core: a check mostly waits on reading and
    counting (Arrow and DuckDB, which release the GIL), and a range run has a few hundred."""
    if not checks:
        return []
    ctx.days = {day for check in checks for day in days_of(check)}
    with ThreadPoolExecutor(max_workers=min(len(checks), os.cpu_count() or 1)) as pool:
        found = pool.map(lambda c: evaluate(c, ctx, days_of(c)), checks)
        return list(zip(checks, found, strict=True))
