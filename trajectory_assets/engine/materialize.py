"""One materialization: operators over a set of days, planned, run, merged and committed.

The days of a range run in windows (see `RunSettings.window_raw_files`); each window is one
runtime job per round, in which every batch is read once for all the operators that share it.
Each day of each operator is then committed on its own, since a day is the unit Dagster tracks:
one Delta transaction per table, the operator's tables in their declared order (`engine/commit.py`).
"""

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from trajectory_assets.engine.commit import commit_day, roll_forward
from trajectory_assets.engine.lineage import in_lake
from trajectory_assets.engine.plan import DayPlan, plan_day
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.results import DayResult, OperatorResult, RunResult, TableDay
from trajectory_assets.engine.runtimes.base import Runtime
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.engine.schema_guard import refuse_schema_changes
from trajectory_assets.engine.settings import RunSettings
from trajectory_assets.engine.tasks import BatchTask, Step
from trajectory_assets.errors import MissingUpstreamError, first_few
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import RAW_TABLE
from trajectory_assets.lake.raw import RawFile, list_days, list_raw_files, raw_version
from trajectory_assets.lake.staging import PARTIALS, BatchReceipt, finished_batches
from trajectory_assets.operator import Operator

log = logging.getLogger(__name__)
DEFAULTS = RunSettings()
Progress = Callable[[str], None]
Committed = Callable[[Operator, DayResult], None]
"""Told of each operator's day as soon as it is committed: a run that fails later has still
changed those days, and whoever keeps a record (Dagster) must hear of them."""


def _nobody(op: Operator, day: DayResult) -> None:
    pass


def run_operators(
    operators: Sequence[Operator],
    lake: Lake,
    days: Sequence[str],
    runtime: Runtime,
    *,
    registry: Registry | None = None,
    settings: RunSettings = DEFAULTS,
    progress: Progress = log.info,
    committed: Committed = _nobody,
) -> RunResult:
    """Materialize `days` of the operators' tables. Raises ConcurrentWriterError when
    another writer commits one of those days while this run computes it."""
    started = time.perf_counter()
    registry = registry or Registry.build(operators)
    ops = in_lake(lake, registry.ordered(operators))
    registry = registry.configured(ops)
    result = RunResult(
        runtime.name,
        {op.name: OperatorResult(op.name, runtime.name, described=op.describe()) for op in ops},
    )
    for op in ops:
        roll_forward(op, lake, days, progress)
    reads_raw = any(RAW_TABLE in op.inputs for op in ops)
    if reads_raw:
        _refuse_days_without_raw(lake, days, progress)
    for window in _windows(lake, days, reads_raw, settings, result):
        _run_window(
            registry, ops, lake, days, window, runtime, settings, progress, committed, result
        )
    result.add_phase("ray_start", getattr(runtime, "start_seconds", 0.0))
    result.seconds = time.perf_counter() - started
    result.parallelism = runtime.parallelism
    result.runtime = runtime.name  # `auto` names its choice once it has made it, and makes
    if result.runtime == "auto":  # none when no batch was left to run (each finished before,
        result.runtime = "auto: no batch to run"  # or each day up to date)
    for op_result in result.operators.values():
        op_result.seconds, op_result.runtime = result.seconds, result.runtime
    return result


def _refuse_days_without_raw(lake: Lake, days: Sequence[str], progress: Progress) -> None:
    """A run none of whose days has a raw folder has no data yet (a late delivery, a day not
    ingested, a day still to come): committing it empty would show it materialized. A range
    with some such days (the UI's "materialize all" reaches today; history has gaps) commits
    them as days without events, which the sensor recomputes once raw data arrives, and says
    so: failing the whole range for them would commit none of it."""
    held = set(list_days(lake, min(days), max(days))) if days else set()
    without = [d for d in days if d not in held]
    if not without:
        return
    named = f"{first_few(without, 'more day(s)')} in {lake.display(RAW_TABLE)}"
    if len(without) == len(days):
        raise MissingUpstreamError(
            f"no raw data for {named}: ingest it first (a day folder without files is an "
            "empty day, and materializes)"
        )
    progress(f"no raw data for {named}: committed as days without events")


def _windows(
    lake: Lake, days: Sequence[str], reads_raw: bool, settings: RunSettings, result: RunResult
) -> Iterator[dict[str, list[RawFile]]]:
    """Consecutive days with their raw files (listed once per run), about
    `window_raw_files` raw files a window. A window ends before a day that would, judged by
    the last day listed, take it past that number: listing the day to find out would hold its
    files through the window's batches (a range of days of 47k files each held two days a
    window, 40 MB of file lists, where the target was 50k)."""
    window: dict[str, list[RawFile]] = {}
    held = 0
    for day in days:
        started = time.perf_counter()
        files = list_raw_files(lake, dt=day) if reads_raw else []
        if files:
            result.raw_versions[day] = raw_version(files)
        result.add_phase("list", time.perf_counter() - started)
        window[day] = files
        held += len(files)
        if settings.window_raw_files and held + len(files) > settings.window_raw_files:
            yield window
            window, held = {}, 0
    if window:
        yield window


def _run_window(
    registry: Registry,
    ops: Sequence[Operator],
    lake: Lake,
    days: Sequence[str],
    window: Mapping[str, Sequence[RawFile]],
    runtime: Runtime,
    settings: RunSettings,
    progress: Progress,
    committed: Committed,
    result: RunResult,
) -> None:
    """Rounds until every operator of every day is computed: an operator whose input another
    operator of the run computes in a later phase (after a merge) waits for the next round."""
    waiting = {day: list(ops) for day in window}
    while any(waiting.values()):
        started = time.perf_counter()
        catalog = Catalog(lake, registry.tables)
        plans: list[DayPlan] = []
        # a rolling window reads earlier days as committed: it waits for every other operator
        others_pending = any(not op.lookback_days for ops_ in waiting.values() for op in ops_)
        for day, day_ops in waiting.items():
            now = [op for op in day_ops if not (op.lookback_days and others_pending)]
            if now:
                day_plan, not_yet = plan_day(registry, now, catalog, day, window[day], settings)
                waiting[day] = [*not_yet, *(op for op in day_ops if op not in now)]
                plans.append(day_plan)
        versions = {t: catalog.snapshot(t).version for op in ops for t in op.output_names}
        refuse_schema_changes(ops, catalog, [*days, *settings.also_written], plans)
        result.add_phase("plan", time.perf_counter() - started)
        if not any(d.run or d.current for d in plans):
            stuck = sorted({op.name for day_ops in waiting.values() for op in day_ops})
            raise RuntimeError(f"operators {stuck} wait for inputs no operator of the run writes")
        _run_round(plans, runtime, settings, versions, catalog, progress, committed, result)


def _run_round(
    plans: Sequence[DayPlan],
    runtime: Runtime,
    settings: RunSettings,
    versions: Mapping[str, int],
    catalog: Catalog,
    progress: Progress,
    committed: Committed,
    result: RunResult,
) -> None:
    """`catalog`: the snapshots the round was planned on, which hold the days it leaves."""
    tasks = [t for d in plans for t in d.tasks if t.pending]
    running = sorted({op.name for d in plans for op in d.run})
    if running:
        idle = [d.day for d in plans if not d.run]  # a range run names the days it leaves
        current = f"; up to date: {first_few(idle)}" if idle else ""
        progress(
            f"{len(plans)} day(s): {sum(len(d.tasks) for d in plans)} batches ({len(tasks)} to "
            f"run) for {', '.join(running)} on {runtime.name}{current}"
        )
    else:
        progress(f"{len(plans)} day(s): up to date, nothing to compute")
    started = time.perf_counter()
    receipts = runtime.run(tasks)
    result.add_phase("batches", time.perf_counter() - started)
    started = time.perf_counter()
    by_day = {d.day: _receipts(d, receipts) for d in plans}
    merges = [
        _merge_task(d, op, by_day[d.day][op.name].values())
        for d in plans
        for op in d.run
        if op.two_phase and d.merge_id(op) not in by_day[d.day][op.name]
    ]
    for r in InlineRuntime().run(merges):
        by_day[r.day][r.operator][r.batch_id] = r
    result.add_phase("merge", time.perf_counter() - started)
    for d in plans:
        by_op = by_day[d.day]
        started = time.perf_counter()
        for op in d.run:
            day = commit_day(op, d, by_op[op.name], settings.run_id, versions)
            result.operators[op.name].days[d.day] = day
            committed(op, day)
            progress(
                f"{op.name} dt={d.day}: committed "
                + ", ".join(f"{t} {_rows(day.rows(t))}" for t in op.output_names)
            )
        for op in d.current:
            result.operators[op.name].days[d.day] = _unchanged_day(op, d, catalog)
        result.add_phase("commit", time.perf_counter() - started)


def _receipts(d: DayPlan, new: Sequence[BatchReceipt]) -> dict[str, dict[str, BatchReceipt]]:
    """Each operator's receipts of the day's planned batches: finished earlier, or just now (an
    attempt may also hold receipts of another batching, which never count)."""
    ran = {s.operator.name for t in d.tasks for s in t.steps if not s.done}
    by_op: dict[str, dict[str, BatchReceipt]] = {}
    for op in d.run:
        merge = set() if op.name in ran else {d.merge_id(op)}  # of the map batches it merged
        planned = {*d.map_ids(op), *merge} & d.reusable.get(op.name, frozenset())
        finished = finished_batches(d.attempt(op))
        by_op[op.name] = {b: r for b, r in finished.items() if b in planned}
    for r in new:
        if r.day == d.day and r.operator in by_op:
            by_op[r.operator][r.batch_id] = r
    return by_op


def _merge_task(d: DayPlan, op: Operator, receipts: Iterable[BatchReceipt]) -> BatchTask:
    """One task over the day's partial aggregates: run in the driver (in-process, a thread
    per core for the run's merges), since partials are small by design and a second runtime job
    would cost more than the merge."""
    partials = sorted(f.path for r in receipts for f in r.tables(PARTIALS))
    step = Step(op, d.attempt(op))
    return BatchTask(d.lake, d.day, d.merge_id(op), (step,), "merge", partials=tuple(partials))


def _unchanged_day(op: Operator, d: DayPlan, catalog: Catalog) -> DayResult:
    """A day the run leaves as it is, from the snapshots it was planned on (a snapshot per day
    made a range of days already up to date cost the square of its days)."""
    tables = {}
    for table in op.output_names:
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
        source=d.source if RAW_TABLE in op.inputs else op.inputs[0],
        workers=(),
        nodes=(),
        up_to_date=True,
    )


def _rows(n: int) -> str:
    return "1 row" if n == 1 else f"{n:,} rows"
