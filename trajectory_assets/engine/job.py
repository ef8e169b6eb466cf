"""One materialization of an operator over a set of days: plan, run, merge, commit.

The days of a range share one runtime job (one Ray dataset) per window of days, and each day is
then committed on its own, since a day is the unit Dagster tracks. Windows bound what the
driver holds at once (see `plan_windows`): a range of any length runs in the same memory.
"""

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from trajectory_assets.engine.operator import PARTIALS, Operator
from trajectory_assets.engine.plan import (
    DEFAULT_BATCH_BYTES,
    BatchTask,
    DayPlan,
    Plan,
    merge_task,
    output_specs,
    plan_windows,
)
from trajectory_assets.engine.runtimes.base import Runtime
from trajectory_assets.lake import delta
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import OnBadFile
from trajectory_assets.lake.staging import (
    Attempt,
    BatchReceipt,
    Intent,
    empty_file,
    finish,
    finished_batches,
    pending_attempts,
    read_intent,
    withdraw_intent,
    write_intent,
)
from trajectory_assets.schema import TableSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TableDay:
    """One table's day after the run."""

    rows: int
    bytes: int
    files: int
    version: int | None  # the table version this run committed; None when already current


@dataclass(frozen=True)
class DayResult:
    """What a day's materialization produced, for Dagster metadata and the command line."""

    day: str
    tables: dict[str, TableDay]
    batches: int
    reused_batches: int
    input_rows: int
    input_files: int
    skipped_files: tuple[tuple[str, str], ...]
    source: str  # what the batches read: raw_events, or raw_compacted and its attempt
    workers: tuple[str, ...]  # host:pid of every process that ran a batch of this day
    nodes: tuple[str, ...]  # Ray node ids that ran this run's batches (empty inline)
    up_to_date: bool = False  # the day was already computed from these inputs: nothing ran

    def rows(self, table: str) -> int:
        return self.tables[table].rows


@dataclass
class JobResult:
    operator: str
    runtime: str
    days: dict[str, DayResult] = field(default_factory=dict)
    seconds: float = 0.0

    def rows(self, table: str) -> int:
        return sum(d.rows(table) for d in self.days.values())

    @property
    def input_rows(self) -> int:
        return sum(d.input_rows for d in self.days.values())


def run_operator(
    op: Operator,
    lake: Lake,
    days: Sequence[str],
    runtime: Runtime,
    *,
    run_id: str = "",
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_bad_file: OnBadFile = "fail",
    progress: Callable[[str], None] = log.info,
) -> JobResult:
    """Materialize `days` of an operator's outputs. Raises delta.ConcurrentWriterError when
    another writer commits one of those days while this run computes it."""
    started = time.perf_counter()
    specs = output_specs(op, Catalog(lake))
    for day in days:  # finish commits that an earlier, interrupted run had already decided on
        for attempt in pending_attempts(lake, op.name, day):
            intent = read_intent(attempt)
            assert intent is not None
            progress(f"{op.name} dt={day}: completing the interrupted commit {attempt.key}")
            finished = finished_batches(attempt)
            receipts = [finished[b] for b in intent["batches"]]
            _commit_tables(attempt, specs, receipts, intent, since={})
            finish(attempt)

    result = JobResult(op.name, runtime.name)
    for window in plan_windows(op, lake, days, batch_bytes=batch_bytes, on_bad_file=on_bad_file):
        result.days.update(_run_window(op, window, runtime, run_id, progress))
    result.seconds = time.perf_counter() - started
    return result


def _run_window(
    op: Operator,
    the_plan: Plan,
    runtime: Runtime,
    run_id: str,
    progress: Callable[[str], None],
) -> dict[str, DayResult]:
    pending = the_plan.pending
    current = [d for d in the_plan.days if d.up_to_date]
    progress(
        f"{op.name}: {len(the_plan.days)} day(s) ({len(current)} already up to date), "
        f"{sum(len(d.tasks) for d in the_plan.days)} batches ({len(pending)} to run) "
        f"on {runtime.name}"
    )
    new = runtime.run(pending)
    receipts: dict[str, dict[str, BatchReceipt]] = {d.day: {} for d in the_plan.days}
    for d in the_plan.days:  # the plan's own batches only: another batching may share the attempt
        planned = {t.batch_id for t in d.tasks} | {d.merge_id}
        finished = finished_batches(d.attempt).items()
        receipts[d.day].update({b: r for b, r in finished if b in planned})
    for r in new:
        receipts[r.day][r.batch_id] = r

    if op.two_phase:
        merges: list[BatchTask] = []
        for d in the_plan.days:
            if not d.up_to_date and d.merge_id not in receipts[d.day]:
                partial_files = _partial_files(receipts[d.day].values())
                merges.append(merge_task(d, op, partial_files))
        for r in runtime.run(merges):
            receipts[r.day][r.batch_id] = r

    results = {}
    catalog = Catalog(the_plan.days[0].attempt.lake) if the_plan.days else None
    for d in the_plan.days:
        if d.up_to_date:
            assert catalog is not None
            results[d.day] = _unchanged_day(op, d, catalog)
            progress(f"{op.name} dt={d.day}: already computed from these inputs")
            continue
        day = _commit_day(op, the_plan, d, receipts[d.day], run_id)
        results[d.day] = day
        progress(
            f"{op.name} dt={d.day}: committed "
            + ", ".join(f"{t} {day.rows(t):,} rows" for t in op.outputs)
        )
    return results


def _partial_files(receipts: Iterable[BatchReceipt]) -> list[str]:
    return sorted(f.path for r in receipts for f in r.tables(PARTIALS))


def _final(receipts: Mapping[str, BatchReceipt], op: Operator, d: DayPlan) -> list[BatchReceipt]:
    """The receipts whose files are the operator's outputs (for two-phase: the merge only)."""
    if op.two_phase:
        return [receipts[d.merge_id]] if d.merge_id in receipts else []
    return list(receipts.values())


def _commit_day(
    op: Operator, the_plan: Plan, d: DayPlan, receipts: dict[str, BatchReceipt], run_id: str
) -> DayResult:
    map_receipts = [r for b, r in receipts.items() if b != d.merge_id]
    skipped = tuple(s for r in map_receipts for s in r.skipped_files)
    metadata = {
        "operator": op.name,
        "operator_version": op.version,
        "attempt": d.attempt.key,
        "input_fingerprint": d.input_fingerprint,
        "source": d.source,
        "run_id": run_id,
        "skipped_files": json.dumps([list(s) for s in skipped]),
    }
    final = _final(receipts, op, d)
    intent = write_intent(d.attempt, op.outputs, [r.batch_id for r in final], metadata)
    try:
        tables = _commit_tables(
            d.attempt, the_plan.specs, final, intent, since=the_plan.table_versions
        )
    except delta.ConcurrentWriterError:
        withdraw_intent(d.attempt)  # never roll forward a result another writer superseded
        raise
    finish(d.attempt)
    return DayResult(
        day=d.day,
        tables=tables,
        batches=len(d.tasks),
        reused_batches=len(d.done),
        input_rows=sum(r.input_rows for r in map_receipts),
        input_files=d.input_files,
        skipped_files=skipped,
        source=d.source,
        workers=tuple(sorted({r.worker for r in receipts.values()})),
        nodes=tuple(sorted({r.node for r in receipts.values() if r.node})),
    )


def _commit_tables(
    attempt: Attempt,
    specs: Mapping[str, TableSpec],
    receipts: Sequence[BatchReceipt],
    intent: Intent,
    *,
    since: Mapping[str, int],
) -> dict[str, TableDay]:
    """Commit each table of the intent, in its order, one Delta transaction per table. Safe to
    call again after an interruption: tables already committed are left as they are."""
    done = {}
    for table in intent["tables"]:
        spec = specs[table]
        files = [f for r in receipts for f in r.tables(table)] or [empty_file(attempt, spec)]
        version = delta.commit_day(
            attempt.lake,
            spec,
            attempt.day,
            files,
            intent["metadata"],
            since_version=since.get(table),
        )
        done[table] = TableDay(
            sum(f.rows for f in files), sum(f.size for f in files), len(files), version
        )
    return done


def _unchanged_day(op: Operator, d: DayPlan, catalog: Catalog) -> DayResult:
    tables = {}
    for table in op.outputs:
        state = catalog.state(table, d.day)
        assert state is not None
        tables[table] = TableDay(state.rows, state.bytes, len(state.files), None)
    return DayResult(
        day=d.day,
        tables=tables,
        batches=0,
        reused_batches=0,
        input_rows=0,
        input_files=d.input_files,
        skipped_files=(),
        source=d.source,
        workers=(),
        nodes=(),
        up_to_date=True,
    )
