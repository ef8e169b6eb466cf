"""One materialization of an operator over a set of days: plan, run, merge, commit.

The days of a range share one runtime job (one Ray dataset) per window of days, and each day is
then committed on its own, since a day is the unit Dagster tracks. Windows bound what the
driver holds at once (see `plan_windows`): a range of any length runs in the same memory.
"""

import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from trajectory_assets.engine.operator import PARTIALS, Operator
from trajectory_assets.engine.plan import (
    DEFAULT_BATCH_BYTES,
    MERGE_BATCH,
    BatchTask,
    DayPlan,
    Plan,
    merge_task,
    output_specs,
    plan_windows,
)
from trajectory_assets.engine.runtimes.base import Runtime
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.commit import (
    DEFAULT_KEEP_VERSIONS,
    BatchReceipt,
    commit,
    finished_batches,
    pending_attempts,
    read_intent,
    write_intent,
)
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.lease import held
from trajectory_assets.lake.raw import OnBadFile

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DayResult:
    """What a day's materialization produced, for Dagster metadata and the command line."""

    day: str
    manifests: dict[str, dict[str, Any]]
    batches: int
    reused_batches: int
    input_rows: int
    input_files: int
    skipped_files: tuple[tuple[str, str], ...]
    source: str  # what the batches read: raw_events, or raw_compacted and its version
    workers: tuple[str, ...]  # host:pid of every process that ran a batch of this day
    nodes: tuple[str, ...]  # Ray node ids that ran this run's batches (empty inline)

    def rows(self, table: str) -> int:
        return int(self.manifests[table]["rows"])


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
    keep_versions: int = DEFAULT_KEEP_VERSIONS,
    progress: Callable[[str], None] = log.info,
) -> JobResult:
    """Materialize `days` of an operator's outputs; raises LeaseHeldError if another writer is
    at work on one of those days."""
    owner = run_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    with held(lake, op.name, list(days), owner):
        return _run(
            op, lake, days, runtime, run_id, batch_bytes, on_bad_file, keep_versions, progress
        )


def _run(
    op: Operator,
    lake: Lake,
    days: Sequence[str],
    runtime: Runtime,
    run_id: str,
    batch_bytes: int,
    on_bad_file: OnBadFile,
    keep_versions: int,
    progress: Callable[[str], None],
) -> JobResult:
    started = time.perf_counter()
    for day in days:  # finish commits that an earlier, interrupted run had already decided on
        for attempt in pending_attempts(lake, op.name, day):
            progress(f"{op.name} dt={day}: completing the interrupted commit {attempt.key}")
            intent = read_intent(attempt)
            assert intent is not None
            specs = output_specs(op, Catalog(lake))
            final = _final(finished_batches(attempt), op)
            commit(attempt, specs, final, intent, keep_versions=keep_versions)

    result = JobResult(op.name, runtime.name)
    for window in plan_windows(op, lake, days, batch_bytes=batch_bytes, on_bad_file=on_bad_file):
        result.days.update(_run_window(op, window, runtime, run_id, keep_versions, progress))
    result.seconds = time.perf_counter() - started
    return result


def _run_window(
    op: Operator,
    the_plan: Plan,
    runtime: Runtime,
    run_id: str,
    keep_versions: int,
    progress: Callable[[str], None],
) -> dict[str, DayResult]:
    pending = the_plan.pending
    progress(
        f"{op.name}: {len(the_plan.days)} day(s), "
        f"{sum(len(d.tasks) for d in the_plan.days)} batches ({len(pending)} to run) "
        f"on {runtime.name}"
    )
    new = runtime.run(pending)
    receipts: dict[str, dict[str, BatchReceipt]] = {d.day: {} for d in the_plan.days}
    for d in the_plan.days:
        receipts[d.day].update(finished_batches(d.attempt))
    for r in new:
        receipts[r.day][r.batch_id] = r

    if op.two_phase:
        merges: list[BatchTask] = []
        for d in the_plan.days:
            if MERGE_BATCH not in receipts[d.day]:
                partial_files = _partial_files(d, receipts[d.day].values())
                merges.append(merge_task(d, op, partial_files))
        for r in runtime.run(merges):
            receipts[r.day][r.batch_id] = r

    results = {}
    for d in the_plan.days:
        day = _commit_day(op, the_plan.specs, d, receipts[d.day], run_id, keep_versions)
        results[d.day] = day
        progress(
            f"{op.name} dt={d.day}: committed "
            + ", ".join(f"{t} {day.rows(t):,} rows" for t in op.outputs)
        )
    return results


def _partial_files(d: DayPlan, receipts: Any) -> list[str]:
    table_dir = d.attempt.table_dir(PARTIALS)
    return sorted(f"{table_dir}/{f.path}" for r in receipts for f in r.files if f.table == PARTIALS)


def _final(receipts: dict[str, BatchReceipt], op: Operator) -> list[BatchReceipt]:
    """The receipts whose files are the operator's outputs (for two-phase: the merge only)."""
    if op.two_phase:
        return [receipts[MERGE_BATCH]] if MERGE_BATCH in receipts else []
    return list(receipts.values())


def _commit_day(
    op: Operator,
    specs: dict[str, Any],
    d: DayPlan,
    receipts: dict[str, BatchReceipt],
    run_id: str,
    keep_versions: int,
) -> DayResult:
    map_receipts = [r for b, r in receipts.items() if b != MERGE_BATCH]
    skipped = tuple(s for r in map_receipts for s in r.skipped_files)
    intent = write_intent(
        d.attempt,
        op.outputs,
        {
            "operator": op.name,
            "operator_version": op.version,
            "input_fingerprint": d.input_fingerprint,
            "source": d.source,
            "run_id": run_id,
            "skipped_files": [list(s) for s in skipped],
        },
    )
    manifests = commit(d.attempt, specs, _final(receipts, op), intent, keep_versions=keep_versions)
    return DayResult(
        day=d.day,
        manifests=manifests,
        batches=len(d.tasks),
        reused_batches=len(d.done),
        input_rows=sum(r.input_rows for r in map_receipts),
        input_files=d.input_files,
        skipped_files=skipped,
        source=d.source,
        workers=tuple(sorted({r.worker for r in receipts.values()})),
        nodes=tuple(sorted({r.node for r in receipts.values() if r.node})),
    )
