"""Planning: which files each batch reads, for each day of a materialization, before any compute.

A plan is pure data (picklable), so the same plan runs in-process or as Ray tasks, and
`explain` can show it without running anything.
"""

import hashlib
import posixpath
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from trajectory_assets.engine.operator import PARTIALS, Operator
from trajectory_assets.lake.catalog import (
    COMPACTED_TABLE,
    RAW_TABLE,
    Catalog,
    TableSpec,
    parse_hive,
)
from trajectory_assets.lake.commit import Attempt, attempt_key, finished_batches
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import (
    OnBadFile,
    RawFile,
    SessionRange,
    fingerprint,
    group_sessions,
    list_raw_files,
)
from trajectory_assets.operators.compact import Compact
from trajectory_assets.schema import SCHEMA_VERSION

DEFAULT_BATCH_BYTES = 2 * 1024 * 1024
MERGE_BATCH = "merge"


@dataclass(frozen=True)
class BatchTask:
    """Everything one batch needs, runnable anywhere the lake is reachable."""

    lake: Lake
    operator: Operator
    attempt: Attempt
    batch_id: str
    phase: Literal["map", "merge"]
    raw_files: tuple[RawFile, ...] = ()
    compacted: tuple[str, ...] = ()  # raw_compacted files read instead of raw_files (absolute)
    upstream: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (input table, absolute file paths)
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
    source: str  # what the batches read: raw_events, or raw_compacted and its version


@dataclass(frozen=True)
class Plan:
    operator: Operator
    group: str
    days: tuple[DayPlan, ...]
    specs: dict[str, TableSpec] = field(default_factory=dict)

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


WINDOW_RAW_FILES = 50_000


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
    window: list[DayPlan] = []
    held = 0
    for day in days:
        day_plan = _plan_day(op, catalog, day, batch_bytes * op.batch_scale, on_bad_file)
        window.append(day_plan)
        held += sum(len(t.raw_files) for t in day_plan.tasks)
        if window_raw_files and held >= window_raw_files:
            yield Plan(op, op.name, tuple(window), specs)
            window, held = [], 0
    if window or not days:
        yield Plan(op, op.name, tuple(window), specs)


@dataclass(frozen=True)
class _Unit:
    """What one map batch reads from its primary input."""

    batch_id: str
    raw_files: tuple[RawFile, ...] = ()
    files: tuple[str, ...] = ()  # raw_compacted or Tier B files
    sessions: tuple[SessionRange, ...] = ()


def _plan_day(
    op: Operator,
    catalog: Catalog,
    day: str,
    batch_bytes: int,
    on_bad_file: OnBadFile,
) -> DayPlan:
    lake = catalog.lake
    primary = op.inputs[0]
    raw = list_raw_files(lake, dt=day) if RAW_TABLE in op.inputs else []
    input_fp = input_fingerprint(op, catalog, day, raw)
    compacted = fresh_compacted(catalog, day, raw) if reads_compacted(op) else None
    if compacted is not None:
        source = f"{COMPACTED_TABLE} {compacted['version']}"
        entries = catalog.file_entries(COMPACTED_TABLE, day)
        units = _compacted_units(day, entries, batch_bytes)
        size, n_files = sum(int(e["bytes"]) for _, e in entries), len(entries)
    elif primary == RAW_TABLE:
        source = RAW_TABLE
        units = [
            _Unit(g.batch_id, raw_files=g.files, sessions=g.ranges)
            for g in group_sessions(raw, batch_bytes)
        ]
        size, n_files = sum(f.size for f in raw), len(raw)
    else:
        source = primary
        files = catalog.files(primary, dt=day)
        units = [
            _Unit(f"{day}-{index:05d}", files=tuple(chunk))
            for index, chunk in enumerate(_chunks(files, max(1, len(files) // 64 + 1)))
        ]
        size, n_files = 0, len(files)
    # The source is part of the attempt: batches of raw files and of compacted files differ,
    # and a resumed attempt must never mix the two.
    key = attempt_key(op.name, day, op.version, f"{input_fp}\0{source}")
    attempt = Attempt(lake, op.name, day, key)
    secondary = [n for n in op.inputs[1:] if n != RAW_TABLE]
    upstream_entries = {name: _by_app(catalog.file_entries(name, day)) for name in secondary}
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
                    (name, _overlapping(by_app, unit.sessions))
                    for name, by_app in upstream_entries.items()
                )
            ),
            sessions=unit.sessions,
            on_bad_file=on_bad_file,
        )
        for unit in units
    )
    done = tuple(sorted(finished_batches(attempt)))
    return DayPlan(day, attempt, tasks, done, n_files, size, input_fp, source)


def reads_compacted(op: Operator) -> bool:
    """Operators planned on raw sessions read raw_compacted instead when it is fresh."""
    return op.inputs[0] == RAW_TABLE and COMPACTED_TABLE not in op.outputs


COMPACT = Compact()


def fresh_compacted(catalog: Catalog, day: str, raw: Sequence[RawFile]) -> dict[str, Any] | None:
    """raw_compacted's manifest for the day when it was computed from exactly the raw files
    listed now, by the current compaction: None when missing, stale, or of an older version."""
    manifest = catalog.manifest(COMPACTED_TABLE, day)
    if manifest is None or manifest.get("operator_version") != COMPACT.version:
        return None
    if manifest.get("skipped_files"):
        return None  # some raw files were left out of it: only the raw files have everything
    if manifest.get("input_fingerprint") != input_fingerprint(COMPACT, catalog, day, raw):
        return None
    return manifest


def _compacted_units(
    day: str, entries: Sequence[tuple[str, dict[str, Any]]], batch_bytes: int
) -> list[_Unit]:
    """Batches of whole compacted files (each holds whole sessions of one app), in file order,
    of about `batch_bytes` each."""
    units: list[_Unit] = []
    current: list[tuple[str, dict[str, Any]]] = []

    def flush() -> None:
        if current:
            units.append(
                _Unit(
                    f"{day}-c{len(units):05d}",
                    files=tuple(path for path, _ in current),
                    sessions=tuple(r for _, e in current if (r := _entry_range(e)) is not None),
                )
            )
            current.clear()

    for path, entry in sorted(entries):
        current.append((path, entry))
        if sum(int(e["bytes"]) for _, e in current) >= batch_bytes:
            flush()
    flush()
    return units


def _entry_range(entry: dict[str, Any]) -> SessionRange | None:
    app = parse_hive(entry["path"]).get("app_id")
    sessions = entry.get("sessions")
    if app is None or not sessions:
        return None
    return app, sessions[0], sessions[1]


_AppFiles = dict[str | None, list[tuple[str, tuple[str, str] | None]]]


def _by_app(entries: Sequence[tuple[str, dict[str, Any]]]) -> _AppFiles:
    """Upstream files by app, with their session ranges when the manifest has them."""
    found: _AppFiles = {}
    for path, entry in entries:
        sessions = entry.get("sessions")
        span = (sessions[0], sessions[1]) if sessions else None
        found.setdefault(parse_hive(entry["path"]).get("app_id"), []).append((path, span))
    return found


def _overlapping(by_app: _AppFiles, sessions: Sequence[SessionRange]) -> tuple[str, ...]:
    """The upstream files that may hold rows of these sessions: same app, overlapping range
    (a file without a recorded range may hold any session of its app)."""
    picked = {
        path
        for app, first, last in sessions
        for path, span in by_app.get(app, [])
        if span is None or (span[0] <= last and first <= span[1])
    }
    return tuple(sorted(picked))


class MissingUpstreamError(RuntimeError):
    """An operator's Tier B input has no committed partition for the day."""


def input_fingerprint(op: Operator, catalog: Catalog, day: str, raw: Sequence[RawFile]) -> str:
    """What a day's outputs were computed from: the raw files and the upstream versions.

    Recorded in every manifest, so a changed input (late raw data, a new upstream version) is
    visible by comparing it with the current one.
    """
    versions = []
    for name in op.inputs:
        if name == RAW_TABLE:
            continue
        manifest = catalog.manifest(name, day)
        if manifest is None:
            raise MissingUpstreamError(
                f"{op.name} dt={day} reads {name} dt={day}, which has not been materialized; "
                f"materialize {name} for that day first"
            )
        versions.append((name, manifest["version"]))
    text = (fingerprint(raw) if RAW_TABLE in op.inputs else "") + repr(versions)
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
        MERGE_BATCH,
        "merge",
        upstream=((PARTIALS, tuple(partial_files)),),
    )


def _chunks(items: Sequence[str], size: int) -> list[list[str]]:
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
        )
        lines.append(f"    reads: {d.source}")
        staging = posixpath.relpath(d.attempt.path, d.attempt.lake.root)
        lines.append(f"    staging: {d.attempt.lake.display(staging)}")
        if op.two_phase:
            lines.append("    then one merge task over the day's partial aggregates")
    lines.append(
        "  data movement: each batch task reads its own files and writes its outputs to staging; "
        "only small receipts return to the driver; commit swaps each day into place."
    )
    return "\n".join(lines)
