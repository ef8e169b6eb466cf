"""Planning: which files each batch reads, for each day of a materialization, before any compute.

A plan is pure data (picklable), so the same plan runs in-process or as Ray tasks, and
`explain` can show it without running anything.
"""

import hashlib
import posixpath
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from trajectory_assets.engine.operator import PARTIALS, Operator
from trajectory_assets.lake.catalog import RAW_TABLE, Catalog, TableSpec
from trajectory_assets.lake.commit import Attempt, attempt_key, finished_batches
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import (
    OnBadFile,
    RawFile,
    fingerprint,
    group_sessions,
    list_raw_files,
)
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
    upstream: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (input table, absolute file paths)
    sessions: tuple[tuple[str, str], ...] = ()  # filter applied to upstream session tables
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
    group: str | None = None,
    batch_bytes: int = DEFAULT_BATCH_BYTES,
    on_bad_file: OnBadFile = "fail",
) -> Plan:
    """Plan the map batches of every day. Merge tasks of two-phase operators are added later,
    once the partials they read exist (see `merge_tasks`)."""
    catalog = Catalog(lake)
    group = group or op.name
    day_plans = []
    for day in days:
        primary = op.inputs[0]
        raw = list_raw_files(lake, dt=day) if RAW_TABLE in op.inputs else []
        input_fp = input_fingerprint(op, catalog, day, raw)
        if primary == RAW_TABLE:
            groups = group_sessions(raw, batch_bytes)
            size, n_files = sum(f.size for f in raw), len(raw)
        else:
            files = catalog.files(primary, dt=day)
            size, n_files = 0, len(files)
        attempt = Attempt(lake, group, day, attempt_key(group, day, op.version, input_fp))
        secondary = [n for n in op.inputs[1:] if n != RAW_TABLE]
        upstream_files = {name: tuple(catalog.files(name, dt=day)) for name in secondary}
        tasks: list[BatchTask] = []
        if primary == RAW_TABLE:
            for g in groups:
                apps = {a for a, _ in g.sessions}
                upstream = tuple(
                    (name, tuple(f for f in paths if _app_of(f) in apps))
                    for name, paths in upstream_files.items()
                )
                tasks.append(
                    BatchTask(
                        lake,
                        op,
                        attempt,
                        g.batch_id,
                        "map",
                        g.files,
                        upstream,
                        g.sessions,
                        on_bad_file,
                    )
                )
        else:
            for index, chunk in enumerate(_chunks(files, max(1, len(files) // 64 + 1))):
                tasks.append(
                    BatchTask(
                        lake,
                        op,
                        attempt,
                        f"{day}-{index:05d}",
                        "map",
                        upstream=((primary, tuple(chunk)),),
                        on_bad_file=on_bad_file,
                    )
                )
        done = tuple(sorted(finished_batches(attempt)))
        day_plans.append(DayPlan(day, attempt, tuple(tasks), done, n_files, size, input_fp))
    return Plan(op, group, tuple(day_plans), output_specs(op, catalog))


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


def _app_of(path: str) -> str | None:
    for segment in path.split("/"):
        if segment.startswith("app_id="):
            return segment[len("app_id=") :]
    return None


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
        staging = posixpath.relpath(d.attempt.path, d.attempt.lake.root)
        lines.append(f"    staging: {d.attempt.lake.display(staging)}")
        if op.two_phase:
            lines.append("    then one merge task over the day's partial aggregates")
    lines.append(
        "  data movement: each batch task reads its own files and writes its outputs to staging; "
        "only small receipts return to the driver; commit swaps each day into place."
    )
    return "\n".join(lines)
