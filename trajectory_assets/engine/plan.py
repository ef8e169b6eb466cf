"""Planning: which files each batch reads, for each day of a materialization, before any compute.

A plan is pure data (picklable), so the same plan runs in-process or as Ray tasks, and
`explain` can show it without running anything.
"""

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from trajectory_assets.engine.operator import PARTIALS, Operator
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta import DataFile, PartitionState
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import COMPACTED_TABLE, RAW_TABLE
from trajectory_assets.lake.raw import (
    OnBadFile,
    RawFile,
    SessionRange,
    fingerprint,
    group_sessions,
    list_raw_files,
)
from trajectory_assets.lake.staging import Attempt, attempt_key, finished_batches
from trajectory_assets.operators.compact import Compact
from trajectory_assets.schema import SCHEMA_VERSION, TableSpec

DEFAULT_BATCH_BYTES = 2 * 1024 * 1024
WINDOW_RAW_FILES = 50_000


@dataclass(frozen=True)
class BatchTask:
    """Everything one batch needs, runnable anywhere the lake is reachable."""

    lake: Lake
    operator: Operator
    attempt: Attempt
    batch_id: str
    phase: Literal["map", "merge"]
    raw_files: tuple[RawFile, ...] = ()
    compacted: tuple[DataFile, ...] = ()  # raw_compacted files read instead of raw_files
    upstream: tuple[tuple[str, tuple[DataFile, ...]], ...] = ()  # (input table, its files)
    partials: tuple[str, ...] = ()  # a merge's partial aggregates (absolute paths)
    sessions: tuple[SessionRange, ...] = ()  # the batch's sessions, to filter upstream tables
    on_bad_file: OnBadFile = "fail"

    @property
    def day(self) -> str:
        return self.attempt.day


@dataclass(frozen=True)
class DayPlan:
    day: str
    attempt: Attempt
    tasks: tuple[BatchTask, ...]
    done: tuple[str, ...]  # batch ids finished by an earlier run of the same attempt
    input_files: int
    input_bytes: int
    input_fingerprint: str
    source: str  # what the batches read: raw_events, or raw_compacted and its attempt
    up_to_date: bool = False  # every output's current state is this attempt's: nothing to do

    @property
    def merge_id(self) -> str:
        """The batch id of a two-phase operator's merge over exactly these map batches."""
        return _batch_id("merge", [t.batch_id for t in self.tasks])


@dataclass(frozen=True)
class Plan:
    operator: Operator
    group: str
    days: tuple[DayPlan, ...]
    specs: dict[str, TableSpec] = field(default_factory=dict)
    table_versions: dict[str, int] = field(default_factory=dict)  # when planned (-1: no table)

    @property
    def pending(self) -> list[BatchTask]:
        return [t for d in self.days for t in d.tasks if t.batch_id not in d.done]


def partials_spec(op: Operator) -> TableSpec:
    assert op.partial_schema is not None
    return TableSpec(PARTIALS, op.partial_schema, (), (), SCHEMA_VERSION)


def plan(
    op: Operator,
    lake: Lake,
    days: Sequence[str],
    *,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_bad_file: OnBadFile = "fail",
) -> Plan:
    """The map batches of every day in one plan (what `explain` shows). Merge tasks of two-phase
    operators are added later, once the partials they read exist (see `merge_task`)."""
    (whole,) = plan_windows(
        op, lake, days, batch_bytes=batch_bytes, on_bad_file=on_bad_file, window_raw_files=0
    )
    return whole


def plan_windows(
    op: Operator,
    lake: Lake,
    days: Sequence[str],
    *,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_bad_file: OnBadFile = "fail",
    window_raw_files: int = WINDOW_RAW_FILES,
) -> Iterator[Plan]:
    """Plans of consecutive days, each closed once its batches hold `window_raw_files` raw files
    (0: one plan for every day).

    A plan names every raw file it reads, so planning a long range at once would grow the driver
    with the lake; a window is planned only when the one before it has run. Days read from
    raw_compacted hold a few files each, so a whole range usually fits in one window.
    """
    catalog = Catalog(lake)
    specs = output_specs(op, catalog)
    versions = {t: catalog.snapshot(t).version for t in op.outputs}
    window: list[DayPlan] = []
    held = 0
    for day in days:
        day_plan = _plan_day(op, catalog, day, batch_bytes * op.batch_scale, on_bad_file)
        window.append(day_plan)
        held += sum(len(t.raw_files) for t in day_plan.tasks)
        if window_raw_files and held >= window_raw_files:
            yield Plan(op, op.name, tuple(window), specs, versions)
            window, held = [], 0
    if window or not days:
        yield Plan(op, op.name, tuple(window), specs, versions)


@dataclass(frozen=True)
class _Unit:
    """What one map batch reads from its primary input."""

    batch_id: str
    raw_files: tuple[RawFile, ...] = ()
    files: tuple[DataFile, ...] = ()  # raw_compacted or Tier B files
    sessions: tuple[SessionRange, ...] = ()


def _plan_day(
    op: Operator, catalog: Catalog, day: str, batch_bytes: int, on_bad_file: OnBadFile
) -> DayPlan:
    lake = catalog.lake
    primary = op.inputs[0]
    raw = list_raw_files(lake, dt=day) if RAW_TABLE in op.inputs else []
    input_fp = input_fingerprint(op, catalog, day, raw)
    compacted = fresh_compacted(catalog, day, raw, on_bad_file) if reads_compacted(op) else None
    if compacted is not None:
        source = f"{COMPACTED_TABLE} {compacted.attempt}"
        units = _compacted_units(day, compacted.files, batch_bytes)
        size, n_files = compacted.bytes, len(compacted.files)
    elif primary == RAW_TABLE:
        source = RAW_TABLE
        units = [
            _Unit(
                _batch_id(g.batch_id, [f.path for f in g.files]),
                raw_files=g.files,
                sessions=g.ranges,
            )
            for g in group_sessions(raw, batch_bytes)
        ]
        size, n_files = sum(f.size for f in raw), len(raw)
    else:
        source = primary
        files = catalog.files(primary, day)
        units = [
            _Unit(_batch_id(f"{day}-{index:05d}", [f.path for f in chunk]), files=tuple(chunk))
            for index, chunk in enumerate(_chunks(files, max(1, len(files) // 64 + 1)))
        ]
        size, n_files = sum(f.size for f in files), len(files)
    key = day_attempt_key(op, day, input_fp, on_bad_file)
    attempt = Attempt(lake, op.name, day, key)
    if all(_committed_by(catalog.state(t, day), key) for t in op.outputs):
        return DayPlan(day, attempt, (), (), n_files, size, input_fp, source, up_to_date=True)
    secondary = [n for n in op.inputs[1:] if n != RAW_TABLE]
    upstream_files = {name: catalog.files(name, day) for name in secondary}
    tasks = tuple(
        BatchTask(
            lake,
            op,
            attempt,
            unit.batch_id,
            "map",
            raw_files=unit.raw_files,
            compacted=unit.files if compacted is not None else (),
            upstream=(
                ((primary, unit.files),)
                if primary != RAW_TABLE
                else tuple(
                    (name, _overlapping(files, unit.sessions))
                    for name, files in upstream_files.items()
                )
            ),
            sessions=unit.sessions,
            on_bad_file=on_bad_file,
        )
        for unit in units
    )
    day_plan = DayPlan(day, attempt, tasks, (), n_files, size, input_fp, source)
    planned = {t.batch_id for t in tasks} | {day_plan.merge_id}
    done = tuple(sorted(b for b in finished_batches(attempt) if b in planned))
    return replace(day_plan, done=done)


def day_attempt_key(op: Operator, day: str, input_fp: str, on_bad_file: OnBadFile) -> str:
    """The attempt key of an operator's day: what its outputs depend on. The bad-file rule is
    part of it (a day computed while skipping unreadable files is not the day computed from all
    of them); where the batches read from (raw or raw_compacted) is not, since both give the
    same tables, and batch ids name their member files, so batchings never mix."""
    return attempt_key(op.name, day, op.version, f"{input_fp}\0{on_bad_file}")


def is_current(op: Operator, catalog: Catalog, day: str, on_bad_file: OnBadFile = "fail") -> bool:
    """Whether every output's day was committed from the inputs the day has now."""
    raw = list_raw_files(catalog.lake, dt=day) if RAW_TABLE in op.inputs else []
    key = day_attempt_key(op, day, input_fingerprint(op, catalog, day, raw), on_bad_file)
    return all(_committed_by(catalog.state(t, day), key) for t in op.outputs)


def _committed_by(state: PartitionState | None, key: str) -> bool:
    return state is not None and state.attempt == key


def _batch_id(name: str, members: Sequence[str]) -> str:
    """A batch id that names its members too, so a receipt is only ever reused by a batch of
    exactly the same files (a rerun with another batch size forms other batches)."""
    digest = hashlib.sha256("\0".join(members).encode()).hexdigest()[:8]
    return f"{name}-{digest}"


def reads_compacted(op: Operator) -> bool:
    """Operators planned on raw sessions read raw_compacted instead when it is fresh."""
    return op.inputs[0] == RAW_TABLE and COMPACTED_TABLE not in op.outputs


COMPACT = Compact()


def fresh_compacted(
    catalog: Catalog, day: str, raw: Sequence[RawFile], on_bad_file: OnBadFile = "fail"
) -> PartitionState | None:
    """raw_compacted's day when the current compaction computed it from exactly the raw files
    listed now, with the same bad-file rule; None when missing, stale or of an older version."""
    state = catalog.state(COMPACTED_TABLE, day)
    if state is None:
        return None
    expected = day_attempt_key(
        COMPACT, day, input_fingerprint(COMPACT, catalog, day, raw), on_bad_file
    )
    return state if state.attempt == expected else None


def _compacted_units(day: str, files: Sequence[DataFile], batch_bytes: int) -> list[_Unit]:
    """Batches of whole compacted files (each holds whole sessions of one app), in file order,
    of about `batch_bytes` each."""
    units: list[_Unit] = []
    current: list[DataFile] = []

    def flush() -> None:
        if current:
            name = f"{day}-c{len(units):05d}"
            units.append(
                _Unit(
                    _batch_id(name, [f.path for f in current]),
                    files=tuple(current),
                    sessions=tuple(f.sessions for f in current if f.sessions is not None),
                )
            )
            current.clear()

    for f in sorted(files, key=lambda f: (f.sessions or ("", "", ""), f.path)):
        if f.rows == 0:
            continue  # the empty file of a day without rows
        current.append(f)
        if sum(c.size for c in current) >= batch_bytes:
            flush()
    flush()
    return units


def _overlapping(
    files: Sequence[DataFile], sessions: Sequence[SessionRange]
) -> tuple[DataFile, ...]:
    """The upstream files that may hold rows of these sessions: same app, overlapping range
    (a file without a known range may hold any session)."""
    picked = [
        f
        for f in files
        if f.rows > 0
        and (
            f.sessions is None
            or any(
                f.sessions[0] == app and f.sessions[1] <= last and first <= f.sessions[2]
                for app, first, last in sessions
            )
        )
    ]
    return tuple(picked)


class MissingUpstreamError(RuntimeError):
    """An operator's Tier B input has no committed partition for the day."""


def input_fingerprint(op: Operator, catalog: Catalog, day: str, raw: Sequence[RawFile]) -> str:
    """What a day's outputs are computed from: the raw files and the upstream days' states.

    Part of the attempt key, which the committed files carry, so a changed input (late raw
    data, a new upstream state) shows as a day whose files carry another key.
    """
    states = []
    for name in op.inputs:
        if name == RAW_TABLE:
            continue
        state = catalog.state(name, day)
        if state is None:
            raise MissingUpstreamError(
                f"{op.name} dt={day} reads {name} dt={day}, which has not been materialized; "
                f"materialize {name} for that day first"
            )
        states.append((name, state.attempt or sorted(f.path for f in state.files)))
    text = (fingerprint(raw) if RAW_TABLE in op.inputs else "") + repr(states)
    return hashlib.sha256(text.encode()).hexdigest()


def output_specs(op: Operator, catalog: Catalog) -> dict[str, TableSpec]:
    """The TableSpecs an operator's batches write: its outputs, and its partials if two-phase."""
    specs = {name: catalog.get(name) for name in op.outputs}
    if op.two_phase:
        specs[PARTIALS] = partials_spec(op)
    return specs


def merge_task(day_plan: DayPlan, op: Operator, partial_files: Sequence[str]) -> BatchTask:
    return BatchTask(
        day_plan.attempt.lake,
        op,
        day_plan.attempt,
        day_plan.merge_id,
        "merge",
        partials=tuple(partial_files),
    )


def _chunks(items: Sequence[DataFile], size: int) -> list[list[DataFile]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def explain(p: Plan, runtime: str) -> str:
    """A human-readable plan: what is read, how it is batched, what is written, and where."""
    op = p.operator
    lines = [
        f"operator {op.name} v{op.version} ({'two-phase' if op.two_phase else 'one-phase'}, "
        f"batches of {'whole sessions' if op.requires == 'session' else 'files'})",
        f"  inputs:  {', '.join(op.inputs)}",
        f"  outputs: {', '.join(op.outputs)}",
        f"  runtime: {runtime}",
    ]
    for d in p.days:
        lines.append(
            f"  dt={d.day}: {d.input_files} input files, {d.input_bytes:,} bytes, "
            f"{len(d.tasks)} batches ({len(d.done)} already finished), attempt {d.attempt.key}"
            + (" (up to date: nothing to do)" if d.up_to_date else "")
        )
        lines.append(f"    reads: {d.source}")
        if op.two_phase:
            lines.append("    then one merge task over the day's partial aggregates")
    lake = p.days[0].attempt.lake if p.days else None
    if lake is not None:
        lines.append("  writes: " + ", ".join(lake.display(t) for t in op.outputs) + " (Delta)")
    lines.append(
        "  data movement: each batch task reads its own files and writes its outputs' data "
        "files; only small receipts return to the driver, which commits each table's day as "
        "one Delta transaction."
    )
    return "\n".join(lines)
