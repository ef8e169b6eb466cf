"""The operators of a code location as one subsettable multi-asset: every table its own asset,
with its lineage, materializable alone; one step and one read of the raw data for however many
of them a run selects.

Thin glue: the engine plans, runs and commits; this module turns the selection and run config
into operators and settings, and the result into metadata and check results.
"""

import contextlib
import logging
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import dagster as dg

from trajectory_assets.defs.checks import Check, checks_for
from trajectory_assets.defs.config import IN_RUN_CONFIG, ComputeConfig, config_class, configured
from trajectory_assets.defs.dead_runs import worker_tags
from trajectory_assets.defs.evaluations import evaluations
from trajectory_assets.defs.instance import LAKE_TAG, bind
from trajectory_assets.defs.lake_params import params_changed
from trajectory_assets.defs.metadata import (
    column_schema,
    committed_day,
    day_observations,
    table_metadata,
    unknown_columns,
)
from trajectory_assets.defs.partitions import command_days, start_date_of
from trajectory_assets.defs.raw import observe_days_read
from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.defs.run_checks import check_outcomes, checks_of_committed, hold_back
from trajectory_assets.defs.selection import selection_problem
from trajectory_assets.defs.stops import record_stop
from trajectory_assets.engine.lineage import in_lake
from trajectory_assets.engine.materialize import run_operators
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.results import DayResult, RunResult
from trajectory_assets.engine.settings import RunSettings
from trajectory_assets.errors import (
    EXPECTED,
    OperatorError,
    OtherLakeError,
    RunConfigError,
    SettingError,
)
from trajectory_assets.lake import delta_history
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import COMPACTED_TABLE, RAW_TABLE
from trajectory_assets.lake.raw import misnamed_day_folders, misnamed_warning
from trajectory_assets.operator import Operator

log = logging.getLogger(__name__)

POOL = "trajectory_assets"
SHOWN_FILES = 5  # files named in the run's log line about unknown raw columns
FAILED_AFTER = "a run that failed after committing this day"
WITH_SIBLING = "a run of another table of its operator, which commits its tables together"


def deps_of(registry: Registry, op: Operator) -> list[dg.AssetDep]:
    """An operator's inputs, and raw_compacted for session operators that may read it. A
    rolling window's main input maps each day to the days it reads, so Dagster marks every
    window a changed day is in stale, as the engine's lineage does (days before the first
    partition are none: the first windows are shorter)."""
    deps = [dg.AssetDep(name) for name in op.inputs]
    if op.lookback_days:
        with warnings.catch_warnings():  # a beta parameter, and the one that fits
            warnings.simplefilter("ignore", dg.BetaWarning)
            window = dg.TimeWindowPartitionMapping(
                start_offset=-op.lookback_days, allow_nonexistent_upstream_partitions=True
            )
        deps[0] = dg.AssetDep(op.inputs[0], partition_mapping=window)
    compaction = registry.producer(COMPACTED_TABLE)
    if op.inputs[0] == RAW_TABLE and compaction is not None and compaction.name != op.name:
        deps.append(dg.AssetDep(COMPACTED_TABLE))
    return deps


def code_versions(lake: Lake, operators: Sequence[Operator]) -> dict[str, str]:
    """Each operator's version, plus a digest of its parameters and of the lake files it
    depends on when it has any (e.g. price overrides): editing a parameter's default or those
    files makes Dagster mark the tables stale once the code location reloads, as a new version
    would (and as the command line's `--missing` recomputes them)."""
    try:
        in_this_lake = in_lake(lake, operators)
    except (OSError, SettingError) as exc:  # an unreachable lake, a lake file with a mistake
        log.warning(  # the location loads; each run names the mistake
            "%s (until it is fixed and the code location reloads, the tables' code versions in "
            "Dagster leave out the lake's files; runs fail on it, naming it)",
            exc,
        )
        in_this_lake = list(operators)  # must not stop the location: the runs name the mistake
    versions = {}
    for op in in_this_lake:
        bare = not op.params and op.lake_files_digest == op.with_lake_files({}).lake_files_digest
        versions[op.name] = op.version if bare else f"{op.version}+{op.fingerprint[:8]}"
    return versions


def build_assets(
    registry: Registry,
    *,
    name: str,
    group: str,
    partitions: dg.DailyPartitionsDefinition,
    versions: Mapping[str, str],
    blocking_checks: bool = False,
    loaded_params: Mapping[str, Mapping[str, Any]] | None = None,
) -> dg.AssetsDefinition:
    """One multi-asset for every table of the registry's operators (with the lake's params as
    `loaded_params`, which a run refuses to compute past once the lake's file changed)."""
    ops = registry.operators
    names = {t for op in ops for t in op.output_names}
    specs = [
        dg.AssetSpec(
            key=table.name,
            deps=deps_of(registry, op),
            description=table.description,
            code_version=versions.get(op.name, op.version),
            group_name=group,
            kinds={"delta", "ray"},
            metadata={  # the columns here, not in each of a range run's per-day events
                "dagster/column_schema": column_schema(table),
                "operator": op.name,
                "partitioned_by": ", ".join(["dt", *table.partition_by]),
            },
        )
        for op in ops
        for table in op.outputs
    ]
    checks = [
        replace(c, blocking=blocking_checks and c.severity == dg.AssetCheckSeverity.ERROR)
        for c in checks_for(ops)
    ]
    Config = config_class(ops, name)

    @dg.multi_asset(
        name=name,
        specs=specs,
        check_specs=[c.spec(partitions) for c in checks],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
        pool=POOL,
    )
    def _tables(
        context: dg.AssetExecutionContext,
        config: Config,  # type: ignore[valid-type]
        lake: LakeResource,
        compute: ComputeResource,
    ) -> Iterator[
        dg.MaterializeResult
        | dg.AssetMaterialization
        | dg.AssetObservation
        | dg.Output[None]
        | dg.AssetCheckEvaluation
    ]:
        run_config: ComputeConfig = config
        selected = {key.to_user_string() for key in context.selected_asset_keys}
        chosen = [op for op in ops if set(op.output_names) & selected]
        committed = {t for op in chosen for t in op.output_names}
        if problem := selection_problem(context, names, committed):
            raise dg.Failure(description=problem)
        try:
            chosen = [configured(op, run_config) for op in chosen]
        except RunConfigError as exc:
            raise dg.Failure(description=f"{IN_RUN_CONFIG}{exc}") from None
        extra = sorted(committed - selected)
        if extra:
            context.log.warning(
                f"{', '.join(extra)} are committed (and recorded) too: an operator's tables are "
                "always committed together, so they never disagree"
            )
        the_lake = lake.lake()
        if absent := lake.absent(the_lake):
            raise dg.Failure(description=absent)
        if changed := params_changed(the_lake, loaded_params or {}):
            raise dg.Failure(description=changed)
        # the lake a run was for, refused or not, shows in the UI's run list
        tags = {
            LAKE_TAG: the_lake.display(),
            **worker_tags(context),
        }  # its process, watched
        context.instance.add_run_tags(context.run.run_id, tags)
        try:
            bind(context.instance, the_lake.display(), allow_other_lake=run_config.allow_other_lake)
        except OtherLakeError as exc:
            raise dg.Failure(description=str(exc)) from None
        if not chosen:  # checks alone (the UI's "Execute checks"): of the committed days
            catalog = Catalog(the_lake, registry.tables)
            outcomes = check_outcomes(context, catalog, run_config, checks, None)
            yield from evaluations(context, outcomes)
            hold_back(outcomes)
            return
        done: list[tuple[Operator, DayResult]] = []
        recorded: set[str] = set()
        try:
            result = _run(context, registry, chosen, the_lake, compute, run_config, done)
            observe_days_read(context, result.raw_versions)
            _warn_of_unread_raw(context, result)
            if misnamed := misnamed_day_folders(the_lake):
                context.log.warning(misnamed_warning(misnamed))
            for op in chosen:
                for table in op.output_names:
                    delta_history.vacuum(the_lake, table, run_config.retention_hours)
            for item in _results(context, the_lake, registry, chosen, result, run_config, checks):
                if (
                    isinstance(item, dg.MaterializeResult | dg.AssetMaterialization)
                    and item.asset_key
                ):
                    recorded.add(item.asset_key.to_user_string())
                yield item
        except GeneratorExit:  # Dagster stopped reading: nothing failed here
            raise
        except BaseException as exc:  # what was committed is recorded before the run fails
            _record_committed(context, the_lake, done, recorded)
            if done and not recorded and isinstance(exc, Exception):
                yield from checks_of_committed(
                    context, the_lake, registry, run_config, checks, done
                )
            if isinstance(exc, OperatorError):  # its traceback is where it ran, not here
                detail = dg.MetadataValue.md(f"```\n{exc.detail}\n```")
                raise dg.Failure(description=str(exc), metadata={"traceback": detail}) from None
            if isinstance(exc, EXPECTED):
                raise dg.Failure(description=str(exc)) from None  # expected: no traceback
            record_stop(context, exc)
            raise

    return _tables


def _record_committed(
    context: dg.AssetExecutionContext,
    lake: Lake,
    done: Sequence[tuple[Operator, DayResult]],
    recorded: set[str],
) -> None:
    """What a failing or terminated run committed and did not record yet; a Terminate that
    stops this too (the UI then shows those days as they were) leaves them to `sync`, said in
    the run's log: it ended in a bare DagsterExecutionInterruptedError."""
    left = [(day, t) for op, day in done for t in op.output_names if t not in recorded]
    for i, (day, table) in enumerate(left):
        try:
            context.log_event(committed_day(day, table, FAILED_AFTER))
        except BaseException:  # the run's own error is raised by the caller
            with contextlib.suppress(BaseException):
                context.log.error(
                    f"stopped while recording what the run committed: {len(left) - i} table "
                    "day(s) are committed in the lake but not recorded in Dagster, which shows "
                    f"them as they were: run `trajectory-assets sync --lake {lake.display()}`"
                )
            return


def _run(
    context: dg.AssetExecutionContext,
    registry: Registry,
    chosen: list[Operator],
    the_lake: Lake,
    compute: ComputeResource,
    run_config: ComputeConfig,
    done: list[tuple[Operator, DayResult]],
) -> RunResult:
    """The run; each operator's day is added to `done` once committed."""
    return run_operators(
        chosen,
        the_lake,
        context.partition_keys,
        compute.get_runtime(),
        registry=registry.configured(chosen),
        settings=RunSettings(
            batch_bytes=run_config.batch_bytes,
            on_bad_file=run_config.on_bad_file,
            run_id=context.run.run_id,
            force=run_config.force,
            first_day=start_date_of(the_lake),
            also_written=command_days(context),
        ),
        progress=context.log.info,
        committed=lambda op, day: done.append((op, day)),
    )


def _warn_of_unread_raw(context: dg.AssetExecutionContext, result: RunResult) -> None:
    """Raw data the run did not read fails nothing (a file skipped with `on_bad_file: skip`, a
    misspelt column read as null): say so where people look, the run's log; the metadata's
    `skipped_files` and `unknown_raw_columns` list every file."""
    ops = result.operators.values()
    skipped = sorted(
        {f"{path}: {why}" for op in ops for d in op.days.values() for path, why in d.skipped_files}
    )
    unknown = sorted({u for op in ops for u in unknown_columns(op)})
    for files, what in (
        (skipped, "were skipped as unreadable (see skipped_files in the metadata)"),
        (
            unknown,
            "have values in columns raw_events does not have, which were not read (see "
            "unknown_raw_columns in the metadata)",
        ),
    ):
        if files:
            shown = "; ".join(files[:SHOWN_FILES])
            more = f"; and {len(files) - SHOWN_FILES} more" if len(files) > SHOWN_FILES else ""
            context.log.warning(f"{len(files)} raw file(s) {what}: {shown}{more}")


def _results(
    context: dg.AssetExecutionContext,
    lake: Lake,
    registry: Registry,
    chosen: list[Operator],
    result: RunResult,
    config: ComputeConfig,
    checks: list[Check],
) -> Iterator[
    dg.MaterializeResult
    | dg.AssetMaterialization
    | dg.AssetObservation
    | dg.Output[None]
    | dg.AssetCheckEvaluation
]:
    """Checks first (their time is part of the metadata), then one result per selected table,
    then the checks' evaluations, which point at the materializations just recorded."""
    started = time.perf_counter()
    catalog = Catalog(lake, registry.tables)
    selected = {key.to_user_string() for key in context.selected_asset_keys}
    siblings = {t for op in chosen for t in op.output_names if t not in selected}
    days = list(context.partition_keys)
    of_range = f"{len(days)} day(s) of {len(selected)} table(s)"  # minutes at a year's range
    if len(days) > 1:
        context.log.info(f"checking {of_range}")
    outcomes = check_outcomes(context, catalog, config, checks, result, siblings=siblings)
    result.add_phase("checks", time.perf_counter() - started)
    if len(days) > 1:
        context.log.info(f"recording {of_range} in Dagster")
    for op in chosen:
        for table in op.output_names:
            if table not in selected:  # committed with a selected sibling: Dagster must know
                days_done = result.of(op).days.values()
                changed = [d for d in days_done if d.tables[table].version is not None]
                yield from (committed_day(d, table, WITH_SIBLING) for d in changed)
                continue
            if len(days) > 1:
                yield from day_observations(result.of(op), table)
            yield dg.MaterializeResult(
                asset_key=table, metadata=table_metadata(result, result.of(op), table, catalog)
            )
    yield from evaluations(context, outcomes)
    hold_back(outcomes)
