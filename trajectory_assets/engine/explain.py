"""`explain`: a plan in words, without running anything."""

from collections.abc import Sequence
from dataclasses import replace

from trajectory_assets.engine.lineage import in_lake
from trajectory_assets.engine.plan import DayPlan, plan_days
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.auto import DEFAULT_THRESHOLD_BYTES, input_bytes
from trajectory_assets.engine.schema_guard import refuse_schema_changes
from trajectory_assets.engine.settings import MAX_EXPANSION, RunSettings
from trajectory_assets.engine.tasks import BatchTask
from trajectory_assets.errors import SchemaChangeError
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta_history import day_commit
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operator import Operator

DEFAULTS = RunSettings()


def explain(
    registry: Registry,
    operators: Sequence[Operator],
    lake: Lake,
    days: Sequence[str],
    runtime: str,
    settings: RunSettings = DEFAULTS,
    cluster: str | None = None,
) -> str:
    """What a materialization of `operators` over `days` would read, batch, run and write
    (`cluster`: the address of an existing Ray cluster, which `auto` then always uses)."""
    ops = in_lake(lake, registry.ordered(operators))
    registry = registry.configured(ops)
    catalog = Catalog(lake, registry.tables)
    lines = []
    for op in ops:
        kind = "two-phase" if op.two_phase else "one-phase"
        lines.append(f"operator {op.name} v{op.version} ({kind}, fingerprint {op.fingerprint})")
        lines.append(f"  inputs:  {', '.join(op.inputs)}")
        lines.append(f"  outputs: {', '.join(op.output_names)}")
    plans: list[DayPlan] = []
    for day_plan, waiting in plan_days(registry, ops, catalog, days, settings):
        plans.append(day_plan)
        lines += _day_lines(catalog, day_plan, waiting)
    try:
        refuse_schema_changes(ops, catalog, days, plans)
    except SchemaChangeError as exc:
        lines.append(f"refused: {exc}")
    lines.append(f"runtime: {_runtime(runtime, plans, cluster)}")
    lines.append(
        "data movement: each batch task reads its inputs once for every operator that shares "
        "them and writes their data files; only small receipts return to the driver, which "
        "merges two-phase aggregates and commits each table's day as one Delta transaction."
    )
    return "\n".join(lines)


def schema_refusal(
    registry: Registry,
    operators: Sequence[Operator],
    lake: Lake,
    days: Sequence[str],
    settings: RunSettings = DEFAULTS,
) -> str | None:
    """Why a run of `operators` over `days` would be refused for a change of schema, if it
    would be (a dry run's warning; planning reads each day's file list, not its data). Days are
    planned one at a time and only which operators are current is kept: a year of a large lake
    holds millions of raw files."""
    ops = in_lake(lake, registry.ordered(operators))
    registry = registry.configured(ops)
    catalog = Catalog(lake, registry.tables)
    plans = [
        replace(day_plan, tasks=())
        for day in days
        for day_plan, _ in plan_days(registry, ops, catalog, [day], settings)
    ]
    try:
        refuse_schema_changes(ops, catalog, days, plans)
    except SchemaChangeError as exc:
        return str(exc)
    return None


def _day_lines(catalog: Catalog, d: DayPlan, waiting: Sequence[Operator]) -> list[str]:
    finished = sum(1 for t in d.tasks if not t.pending)
    decoded = (
        f" (decoding to about {d.expansion:.0f}x that: smaller batches)"
        if d.expansion > MAX_EXPANSION
        else ""
    )
    lines = [
        f"dt={d.day}: {d.input_files} input files, {d.input_bytes:,} bytes{decoded}, "
        f"{len(d.tasks)} batches ({finished} already finished)"
        if d.tasks
        else f"dt={d.day}: nothing to read now"
    ]
    for op in d.current:
        lines.append(f"  {op.name}: up to date (attempt {d.keys.keys[op.name]}): nothing to do")
    shared = [op.name for op in d.run if any(op.name in _names(t) for t in d.tasks if t.sessions)]
    if shared:
        lines.append(f"  reads: {d.source}, once per batch for {', '.join(shared)}")
    for op in d.run:
        merge = ", then one merge of the day's partials" if op.two_phase else ""
        lines.append(
            f"  {op.name}: attempt {d.keys.keys[op.name]}, {len(d.map_ids(op))} batches{merge}"
            f" ({_held(catalog, op, d.day)})"
        )
    for op in waiting:
        lines.append(f"  {op.name}: waits for its inputs to be committed, then runs")
    return lines


def _held(catalog: Catalog, op: Operator, day: str) -> str:
    """What the day holds now, so a user sees why it runs (after an upgrade: another version)."""
    if catalog.state(op.output_names[0], day) is None:
        return "not materialized yet"
    commit = day_commit(catalog.lake, op.output_names[0], day, "operator_version")
    if commit is None:
        return "stale: the commit that wrote the day is no longer in the table's log"
    held = commit.metadata["operator_version"]
    if held != op.version:
        return f"stale: the day holds version {held}'s tables, the operator is now {op.version}"
    return "stale: the day's tables were computed from other inputs"


def _names(task: BatchTask) -> set[str]:
    return {s.operator.name for s in task.steps}


def _runtime(runtime: str, plans: Sequence[DayPlan], cluster: str | None) -> str:
    if runtime != "auto":
        return runtime
    if cluster:
        return f"auto: ray (the Ray cluster at {cluster}, whatever the size)"
    size = input_bytes([t for d in plans for t in d.tasks if t.pending])
    chosen = "inline" if size < DEFAULT_THRESHOLD_BYTES else "ray"
    return (
        f"auto: {chosen} ({size:,} bytes of input to read; in-process below "
        f"{DEFAULT_THRESHOLD_BYTES:,})"
    )
