"""`explain`: a plan in words, without running anything."""

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace

from trajectory_assets.engine.commit import staged_of_another_schema
from trajectory_assets.engine.lineage import DayKeys, in_lake, of_another_schema
from trajectory_assets.engine.plan import DayPlan, plan_days
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.auto import DEFAULT_THRESHOLD_BYTES, input_bytes
from trajectory_assets.engine.schema_guard import refuse_schema_changes
from trajectory_assets.engine.settings import MAX_BATCH_BYTES, MAX_EXPANSION, RunSettings
from trajectory_assets.engine.tasks import BatchTask
from trajectory_assets.errors import SchemaChangeError
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta_history import Commit, operator_commits
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.staging import (
    Attempt,
    committing_now,
    finished_batches,
    intact_batches,
    pending_attempts,
    read_intent,
)
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
    planned = plan_days(registry, ops, catalog, days, settings)
    plans = [day_plan for day_plan, _ in planned]
    why = why_stale(catalog, {d.day: (d.run, d.keys) for d in plans})
    for day_plan, waiting in planned:
        lines += _day_lines(day_plan, waiting, why)
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
    settings = replace(settings, batch_bytes=MAX_BATCH_BYTES)  # only which are current counts:
    # a fixed size spares sampling each day's footers, which sizes automatic batches
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


def _day_lines(
    d: DayPlan, waiting: Sequence[Operator], why: Mapping[tuple[str, str], str]
) -> list[str]:
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
    for op in (*d.run, *d.current):
        for attempt in pending_attempts(d.lake, op.name, d.day):
            lines.append(f"  {op.name}: {_interrupted(op, attempt)}")
    for op in d.current:
        lines.append(f"  {op.name}: up to date (attempt {d.keys.keys[op.name]}): nothing to do")
    shared = [
        op.name
        for op in d.run
        if any(op.name in _names(t) for t in d.tasks if t.raw_files or t.compacted)
    ]  # batches of whole sessions (a compacted file's range of sessions may be unknown)
    if shared:
        lines.append(f"  reads: {d.source}, once per batch for {', '.join(shared)}")
    for op in d.run:
        merge = ", then one merge of the day's partials" if op.two_phase else ""
        lines.append(
            f"  {op.name}: attempt {d.keys.keys[op.name]}, {len(d.map_ids(op))} batches{merge}"
            f" ({why[op.name, d.day]})"
        )
    for op in waiting:
        lines.append(f"  {op.name}: waits for its inputs to be committed, then runs")
    return lines


def _interrupted(op: Operator, attempt: Attempt) -> str:
    """What a run does first with an interrupted commit of the day (`commit.roll_forward`)."""
    intent = read_intent(attempt)
    assert intent is not None
    if pid := committing_now(intent):
        return (
            f"a run is committing the day now (process {pid}, attempt {attempt.key}): a run "
            "started meanwhile outside its Dagster instance fails"
        )
    drops = f"first drops the commit an interrupted run decided on (attempt {attempt.key}), "
    batches = set(intent["batches"])
    finished = finished_batches(attempt)
    if not batches <= set(finished):
        return f"{drops}whose batch receipts are gone"
    if not batches <= set(intact_batches(attempt)):
        return f"{drops}some of whose files are gone (a vacuum): the day is computed anew"
    specs = {t.name: t for t in op.outputs}
    if staged_of_another_schema([finished[b] for b in batches], specs):
        return f"{drops}whose files hold another schema than the operator's now"
    return (
        f"first completes the commit an interrupted run decided on (attempt {attempt.key}): "
        "until then some of its tables of the day may be committed, others not"
    )


def why_stale(
    catalog: Catalog, runs: Mapping[str, tuple[Sequence[Operator], DayKeys]]
) -> dict[tuple[str, str], str]:
    """Why each operator runs on each day (`runs`: day -> the operators to run, as they compute
    on the lake, and the day's keys): what the day holds now (after an upgrade, another
    version's tables), from one walk of each table's log."""
    why = {}
    keys = {day: day_keys for day, (_, day_keys) in runs.items()}
    ops = {op.name: op for run, _ in runs.values() for op in run}.values()
    for op in ops:
        table = op.output_names[0]
        days = [day for day, (run, _) in runs.items() if op in run]
        built = [day for day in days if catalog.state(table, day) is not None]
        commits = operator_commits(catalog.lake, table, built)
        for day in days:
            commit = commits.get(day)
            state = catalog.state(table, day)
            others = [catalog.state(t, day) for t in op.output_names[1:]]
            if state is None:
                why[op.name, day] = "not materialized yet"
            elif state.attempt is None or any(
                other is not None and other.attempt != state.attempt for other in others
            ):
                why[op.name, day] = (
                    "stale: the day's files were not all committed by one run of the operator "
                    "(rewritten by another writer, an OPTIMIZE, say)"
                )
            elif commit is None:
                why[op.name, day] = "stale: the commit that wrote it is no longer in the log"
            elif (held := commit.operator_version) != op.version:
                why[op.name, day] = (
                    f"stale: the day holds version {held}'s tables, the operator is now "
                    f"{op.version}"
                )
            elif other := of_another_schema(op, catalog, day):
                why[op.name, day] = (
                    f"stale: {', '.join(other)} of the day hold other columns than the operator "
                    f"declares now (its version, {op.version}, unchanged)"
                )
            else:
                run = runs[day][0]
                again = [t for o in run if o.name != op.name for t in o.output_names]
                recomputed = [t for t in op.inputs if t in again]
                recomputed += [  # a window's earlier days the same run computes first
                    f"{op.inputs[0]} of {earlier}"
                    for earlier in op.input_days(day)[:-1]
                    if earlier in runs
                    and any(op.inputs[0] in o.output_names for o in runs[earlier][0])
                ]
                changed = _changed(op, commit, keys[day].inputs[op.name], recomputed)
                why[op.name, day] = f"stale: {changed}"
    return why


def _changed(op: Operator, commit: Commit, inputs: str, recomputed: Sequence[str]) -> str:
    """What changed since a commit of the operator's current version, among what its attempt
    key digests: the parameters (named), the lake files it reads (price overrides), the day's
    inputs (a commit keeps their digest, not their list; `recomputed`: its input tables the
    same run computes again first, which are why, when their keys moved), else the run's
    bad-file rule."""
    if (params := commit.metadata.get("operator_params")) is None:  # an older release's commit
        return (
            "the day's tables were computed from other inputs (raw files, input tables, "
            "parameters or prices)"
        )
    before = json.loads(params)
    now = json.loads(op.params_text)
    moved = [  # as the fingerprint compares them: 1 and 1.0 differ
        f"{key} {_param(before, key)} then, {_param(now, key)} now"
        for key in sorted({*before, *now})
        if _param(before, key) != _param(now, key)
    ]
    if moved:
        return f"it was computed with other parameters ({'; '.join(moved)})"
    if commit.operator_fingerprint != op.fingerprint and op.lake_files:
        return (
            f"{', '.join(op.lake_files)} of the lake, which it reads, changed since it was computed"
        )
    if commit.operator_fingerprint != op.fingerprint:
        return "it was computed by another definition of the operator (its fingerprint differs)"
    if commit.metadata.get("input_fingerprint") != inputs and recomputed:
        return f"its input tables are computed again first ({', '.join(recomputed)})"
    if commit.metadata.get("input_fingerprint") != inputs:
        window = " (or of the days its window reads)" if op.lookback_days else ""
        return f"its inputs changed since: raw files or input tables of the day{window}"
    return "it was computed with another on_bad_file setting (fail or skip)"


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


def _param(params: Mapping[str, object], key: str) -> str:
    return json.dumps(params[key]) if key in params else "unset"
