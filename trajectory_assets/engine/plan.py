"""Planning: which operators a day needs, how they share batches, and which files each reads.

One read per batch serves every operator it can: the session operators (raw events first) share
batches of whole sessions read once, and an operator whose main input one of them writes rides
along on the same batch, reading that input from memory. An operator whose main input is
committed runs on chunks of that table's files; one whose input is computed later in the run
waits for a later round, after that input is committed.
"""

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from trajectory_assets.engine.lineage import DayKeys, day_keys, fresh_compacted, is_current
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.settings import RunSettings
from trajectory_assets.engine.tasks import BatchTask, Inputs, Step
from trajectory_assets.errors import MissingUpstreamError, first_few
from trajectory_assets.lake.catalog import Catalog, overlapping
from trajectory_assets.lake.delta import DataFile, PartitionState
from trajectory_assets.lake.footers import expansion, with_session_ranges
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import COMPACTED_TABLE, RAW_TABLE
from trajectory_assets.lake.raw import (
    RawFile,
    SessionRange,
    group_sessions,
    list_days,
    list_raw_files,
)
from trajectory_assets.lake.staging import Attempt, intact_batches
from trajectory_assets.operator import Operator

TABLE_CHUNKS = 64
"""A table-planned operator's files are dealt into at most this many batches per day."""


@dataclass(frozen=True)
class DayPlan:
    lake: Lake
    day: str
    keys: DayKeys
    run: tuple[Operator, ...]  # computed this round, in dependency order
    current: tuple[Operator, ...]  # operators whose day is already computed from these inputs
    tasks: tuple[BatchTask, ...]
    source: str  # where session batches read from: raw_events, or raw_compacted <attempt>
    input_files: int
    input_bytes: int
    expansion: float = 1.0  # decoded bytes per byte on disk of what session batches read
    reusable: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Per operator, the batches (a merge too) an earlier run finished that this one reuses:
    none under `force`, only those whose files are all there, only of the operator's code."""

    def attempt(self, op: Operator) -> Attempt:
        return attempt_of(op, self.lake, self.day, self.keys)

    def map_ids(self, op: Operator) -> list[str]:
        return [t.batch_id for t in self.tasks if any(s.operator.name == op.name for s in t.steps)]

    def merge_id(self, op: Operator) -> str:
        """The batch id of a two-phase operator's merge over exactly its map batches."""
        return batch_id("merge", self.map_ids(op))


def attempt_of(op: Operator, lake: Lake, day: str, keys: DayKeys) -> Attempt:
    return Attempt(lake, op.name, day, keys.keys[op.name], op.code_digest)


def plan_day(
    registry: Registry,
    operators: Sequence[Operator],
    catalog: Catalog,
    day: str,
    raw: Sequence[RawFile],
    settings: RunSettings,
) -> tuple[DayPlan, list[Operator]]:
    """The day's plan for this round, and the operators that must wait for a later one."""
    keys = day_keys(operators, catalog, day, raw, settings.on_bad_file)
    current = [
        op
        for op in operators
        if not settings.force and is_current(op, catalog, day, keys.keys[op.name])
    ]
    todo = [op for op in operators if op not in current]
    written_later = {t for op in todo for t in op.output_names}
    in_batch: set[str] = set()
    session: list[Operator] = []
    tabled: list[Operator] = []
    waiting: list[Operator] = []
    for op in todo:
        primary, others = op.inputs[0], op.inputs[1:]
        ready = all(i == RAW_TABLE or i in in_batch or i not in written_later for i in others)
        if op.lookback_days and primary in written_later:
            waiting.append(op)  # a window reads committed days only
        elif ready and (primary == RAW_TABLE or primary in in_batch):
            session.append(op)
            if not op.two_phase:
                in_batch.update(op.output_names)
        elif ready and primary not in written_later:
            tabled.append(op)
        else:
            waiting.append(op)
    lake = catalog.lake
    _refuse_partial_windows(
        [op for op in session + tabled if op.lookback_days], catalog, day, settings
    )
    compacted = None
    if session and registry.producer(COMPACTED_TABLE) not in session:
        compacted = fresh_compacted(registry, catalog, day, raw, settings.on_bad_file)
        if compacted is not None:  # a batch's range picks the other inputs' rows it reads
            ranged = with_session_ranges(lake, COMPACTED_TABLE, compacted.files)
            compacted = replace(compacted, files=ranged)
    tasks: list[BatchTask] = []
    decodes_to = 1.0
    source, n_files, size = RAW_TABLE, len(raw), sum(f.size for f in raw)
    if session:
        if compacted is not None:
            source = f"{COMPACTED_TABLE} {compacted.attempt}"
            n_files, size = len(compacted.files), compacted.bytes
        decodes_to = _decodes_to(lake, raw, compacted) if settings.automatic_batches else 1.0
        groups = _session_groups(raw, compacted, day, settings.batch_bytes_for(size, decodes_to))
        columns = _raw_columns(session)
        for name, raw_files, files, sessions in groups:
            steps = tuple(_step(op, keys, catalog, day, in_batch, sessions) for op in session)
            tasks.append(
                BatchTask(
                    lake,
                    day,
                    name,
                    steps,
                    raw_files=raw_files,
                    compacted=((catalog.get(COMPACTED_TABLE), files),) if files else (),
                    sessions=sessions,
                    raw_columns=columns,
                    on_bad_file=settings.on_bad_file,
                )
            )
    for op in tabled:
        tasks += _table_tasks(op, keys, catalog, day)
    if tabled and not session:  # the input is the tables' files, not the raw listing
        read = {f.path: f.size for t in tasks for _, files in t.primary for f in files}
        n_files, size = len(read), sum(read.values())
    the_run = tuple(op for op in operators if op in session or op in tabled)
    finished = {
        op.name: frozenset() if settings.force else _reusable(attempt_of(op, lake, day, keys))
        for op in the_run
    }
    tasks = [_with_done(t, finished) for t in tasks]
    day_plan = DayPlan(
        lake,
        day,
        keys,
        the_run,
        tuple(current),
        tuple(tasks),
        source,
        n_files,
        size,
        decodes_to,
        finished,
    )
    return day_plan, waiting


def _refuse_partial_windows(
    windows: Sequence[Operator], catalog: Catalog, day: str, settings: RunSettings
) -> None:
    """A window's earlier day with raw data, from the lake's first partition on, that its input
    has not materialized: the window would be computed from part of its days, and shown whole."""
    if not windows or not settings.first_day:
        return
    lake = catalog.lake
    for op in windows:
        earlier = [d for d in op.input_days(day)[:-1] if d >= settings.first_day]
        if not earlier:
            continue
        with_raw = set(list_days(lake, earlier[0], earlier[-1]))
        missing = [d for d in earlier if d in with_raw and catalog.state(op.inputs[0], d) is None]
        if missing:
            raise MissingUpstreamError(
                f"{op.name} dt={day} reads {op.inputs[0]} of its {op.lookback_days + 1}-day "
                f"window, {op.input_days(day)[0]} to {day}, and {op.inputs[0]} has not been "
                f"materialized for {first_few(missing, 'more day(s)')}, whose raw data is in "
                f"the lake: materialize {op.inputs[0]} for them first (`materialize --missing` "
                "does both)"
            )


def _decodes_to(lake: Lake, raw: Sequence[RawFile], compacted: PartitionState | None) -> float:
    """Decoded bytes per byte on disk of what the day's session batches read."""
    if compacted is not None:
        files = [(lake.path(COMPACTED_TABLE, f.path), f.size) for f in compacted.files]
        return expansion(lake, files)
    return expansion(lake, [(lake.path(f.path), f.size) for f in raw])


def _session_groups(
    raw: Sequence[RawFile], compacted: PartitionState | None, day: str, batch_bytes: int
) -> list[tuple[str, tuple[RawFile, ...], tuple[DataFile, ...], tuple[SessionRange, ...]]]:
    """(batch id, raw files, compacted files, sessions) of each batch of whole sessions."""
    if compacted is not None:
        return [
            (batch_id(f"{day}-c{i:05d}", [f.path for f in files]), (), files, ranges)
            for i, (files, ranges) in enumerate(_compacted_units(compacted.files, batch_bytes))
        ]
    return [
        (batch_id(g.batch_id, [f.path for f in g.files]), g.files, (), g.ranges)
        for g in group_sessions(raw, batch_bytes)
    ]


def _compacted_units(
    files: Sequence[DataFile], batch_bytes: int
) -> list[tuple[tuple[DataFile, ...], tuple[SessionRange, ...]]]:
    """Batches of whole compacted files (each holds whole sessions of one app), in session
    order, of about `batch_bytes` each. A file's range comes from its rows, so a row of another
    session (rejected, but kept in raw_compacted) can widen it over the next file's: a batch is
    cut only where the ranges do not overlap, or two batches would read the same sessions of
    the other inputs. A batch with a file of unknown range reads the other inputs unfiltered."""
    units: list[tuple[tuple[DataFile, ...], tuple[SessionRange, ...]]] = []
    current: list[DataFile] = []
    last: dict[str, str] = {}  # the current batch's last session of each app

    def flush() -> None:
        if current:
            known = all(f.sessions is not None for f in current)
            ranges = tuple(f.sessions for f in current if f.sessions is not None) if known else ()
            units.append((tuple(current), ranges))
            current.clear()
            last.clear()

    for f in sorted(files, key=lambda f: (f.sessions or ("", "", ""), f.path)):
        if f.known_empty:
            continue  # the empty file of a day without rows
        full = sum(c.size for c in current) >= batch_bytes
        if full and f.sessions is not None and f.sessions[1] > last.get(f.sessions[0], ""):
            flush()
        current.append(f)
        if f.sessions is not None:
            app, _, end = f.sessions
            last[app] = max(last.get(app, end), end)
    flush()
    return units


def _raw_columns(operators: Sequence[Operator]) -> tuple[str, ...] | None:
    """The raw columns a shared batch reads: every one any of its operators reads."""
    wanted: set[str] = set()
    for op in operators:
        if RAW_TABLE not in op.inputs:
            continue
        if op.raw_columns is None:
            return None
        wanted.update(op.raw_columns)
    return tuple(sorted(wanted))


def _step(
    op: Operator,
    keys: DayKeys,
    catalog: Catalog,
    day: str,
    in_batch: set[str],
    sessions: Sequence[SessionRange],
) -> Step:
    """A step of a shared batch: inputs from memory where an earlier step writes them, else
    the committed files that may hold the batch's sessions."""
    upstream = tuple(
        (catalog.get(name), overlapping(catalog.files(name, day), sessions))
        for name in op.inputs
        if name != RAW_TABLE and name not in in_batch
    )
    return Step(op, attempt_of(op, catalog.lake, day, keys), upstream)


def _table_tasks(op: Operator, keys: DayKeys, catalog: Catalog, day: str) -> list[BatchTask]:
    """Chunks of the committed primary input's files (of every day of a rolling window); other
    inputs are read whole."""
    primary = op.inputs[0]
    files = [f for d in op.input_days(day) for f in catalog.files(primary, d) if not f.known_empty]
    others: Inputs = tuple(
        (catalog.get(name), tuple(catalog.files(name, day)))
        for name in op.inputs[1:]
        if name != RAW_TABLE
    )
    step = Step(op, attempt_of(op, catalog.lake, day, keys), others)
    size = max(1, len(files) // TABLE_CHUNKS + 1)
    chunks = [files[i : i + size] for i in range(0, len(files), size)] or [[]]
    return [
        BatchTask(
            catalog.lake,
            day,
            batch_id(f"{day}-{op.name}-{i:05d}", [f.path for f in chunk]),
            (step,),
            primary=((catalog.get(primary), tuple(chunk)),),
        )
        for i, chunk in enumerate(chunks)
    ]


def _reusable(attempt: Attempt) -> frozenset[str]:
    """The batches an earlier run of the attempt finished, by the same operator code, whose
    files are all still there."""
    intact = intact_batches(attempt)
    return frozenset(b for b, r in intact.items() if r.code == attempt.code)


def _with_done(task: BatchTask, finished: Mapping[str, frozenset[str]]) -> BatchTask:
    """The task with each step marked done when an earlier run of its attempt finished it and
    no step before it that it reads in the batch runs again: `turn_features` of an earlier run
    was computed from that run's `turns`, of another code once `sessionize` was fixed."""
    steps: list[Step] = []
    again: set[str] = set()  # tables computed again in the batch
    for step in task.steps:
        done = task.batch_id in finished[step.operator.name] and again.isdisjoint(
            step.operator.inputs
        )
        if not done:
            again.update(step.operator.output_names)
        steps.append(replace(step, done=done))
    return replace(task, steps=tuple(steps))


def batch_id(name: str, members: Sequence[str]) -> str:
    """A batch id that names its members too, so a receipt is only ever reused by a batch of
    exactly the same inputs (a rerun with another batch size forms other batches)."""
    digest = hashlib.sha256("\0".join(members).encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def plan_days(
    registry: Registry,
    operators: Sequence[Operator],
    catalog: Catalog,
    days: Sequence[str],
    settings: RunSettings,
) -> list[tuple[DayPlan, list[Operator]]]:
    """The first round of each day, listing its raw files (what `explain` shows)."""
    reads_raw = any(RAW_TABLE in op.inputs for op in operators)
    return [
        plan_day(
            registry,
            registry.ordered(operators),
            catalog,
            day,
            list_raw_files(catalog.lake, dt=day) if reads_raw else [],
            settings,
        )
        for day in days
    ]
