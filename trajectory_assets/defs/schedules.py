"""A code location's daily job and schedule: yesterday's partition of every table it writes."""

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,  # the type define_asset_job returns; not exported
)
from dagster._core.storage.tags import SCHEDULED_EXECUTION_TIME_TAG  # not exported either

from trajectory_assets.defs.instance import tick_refusal
from trajectory_assets.defs.lake_params import params_changed
from trajectory_assets.defs.report import report_inputs
from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.defs.settings import cron_problem, default_on_bad_file, schedule_cron
from trajectory_assets.defs.ticks import run_request, runs_tagged
from trajectory_assets.engine.lineage import in_lake, ready_for, stale_keys
from trajectory_assets.engine.registry import Registry
from trajectory_assets.errors import DefinitionError, RawLayoutError
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import list_days, list_raw_files
from trajectory_assets.lake.reports import current_report
from trajectory_assets.operator import Operator


def daily_job(
    name: str, keys: Sequence[dg.AssetKey], config: dict[str, Any]
) -> UnresolvedAssetJobDefinition:
    return dg.define_asset_job(
        f"{name}_daily",
        selection=dg.AssetSelection.assets(*keys),
        config=config,
        executor_def=dg.in_process_executor,
        description="Every table of the code location for one day (or a range, as one run).",
    )


def daily_schedule(
    job: UnresolvedAssetJobDefinition,
    registry: Registry,
    loaded_params: Mapping[str, Mapping[str, Any]],
    cron: str | None = None,
    running: bool = False,
    report: bool = False,
) -> dg.ScheduleDefinition:
    """`cron`: when it ticks (default: the TRAJECTORY_ASSETS_SCHEDULE_CRON setting). `running`:
    on from the moment the code location loads, rather than switched on in the UI. `report`:
    the job draws the daily report too."""
    problem = None if cron is None else cron_problem(cron)
    if problem:
        raise DefinitionError(f"cron {cron!r} of {job.name} is {problem}")
    name = f"{job.name}_schedule"

    @dg.schedule(
        job=job,
        cron_schedule=cron or schedule_cron(),
        execution_timezone="UTC",
        default_status=(
            dg.DefaultScheduleStatus.RUNNING if running else dg.DefaultScheduleStatus.STOPPED
        ),
        name=name,
        description=f"Yesterday's partition (UTC) of the assets of {job.name} whose inputs are "
        "there, once a day after it ended; the sensor takes days whose raw data (or another "
        "location's tables) arrives or changes later.",
    )
    def _daily(
        context: dg.ScheduleEvaluationContext, lake: LakeResource
    ) -> dg.RunRequest | dg.SkipReason:
        """The day before the tick, once: a later tick of the same day (a cron of several
        ticks a day) skips what an earlier tick's run, on its way or succeeded, selected, since
        Dagster keeps a schedule's run keys apart per tick only; a failed or canceled one is
        run again. A day without raw data (no traffic, or a late delivery) is skipped, not a
        failed run; so are operators whose tables of another code location are not committed
        yet (its schedule's run may still be on its way), which the sensor, or a later tick,
        runs once they are."""
        day = (context.scheduled_execution_time - dt.timedelta(days=1)).date().isoformat()
        if refused := tick_refusal(context, lake.lake().display()) or params_changed(
            lake.lake(), loaded_params
        ):
            return dg.SkipReason(refused)  # the run would fail
        earlier = _earlier_runs(context, name, day)
        if earlier and not _left_by(earlier, registry.operators):
            return dg.SkipReason(
                f"{day} was run by an earlier tick (run {earlier[0].run_id[:8]}, "
                f"{earlier[0].status.value}); the raw-changes sensor, when on, runs it again when "
                "its inputs change"
            )
        if not list_days(lake.lake(), day, day):
            return dg.SkipReason(
                f"no raw data for {day} (yet): the raw-changes sensor, when on, runs the day "
                "once it arrives"
            )
        catalog = Catalog(lake.lake(), registry.tables)
        ready, waiting = ready_for(_left_by(earlier, registry.operators), catalog, day)
        if not ready:
            ours = {t for op in registry.operators for t in op.output_names} & set(waiting)
            writer = "an earlier tick's run" if ours else "another code location"
            return dg.SkipReason(
                f"{', '.join(waiting)} dt={day}, which {writer} writes, not materialized yet: "
                "the raw-changes sensor, when on, runs the day once it is, as does a later tick "
                "of a cron of several ticks a day"
            )
        if _made_already(lake.lake(), catalog, ready, day, report and not waiting):
            left = f"; {', '.join(waiting)} dt={day} not materialized yet" if waiting else ""
            return dg.SkipReason(
                f"{day} is up to date: its tables were made from its raw data and operators as "
                "they are now (by `trajectory-assets materialize`, a backfill or the sensor), "
                f"so a run would change nothing{left}"
            )
        return run_request(day, day, ready, registry.operators)

    return _daily


def _made_already(
    lake: Lake, catalog: Catalog, ready: Sequence[Operator], day: str, report: bool
) -> bool:
    """Every table of the ready operators (and the report page, when the run would draw it:
    not while operators wait) is current for the day: a run made it before the tick, and the
    schedule's run would be one that does nothing. A day whose listing meets a broken link is
    not: the run fails naming it."""
    try:
        raw = list_raw_files(lake, dt=day)
    except RawLayoutError:
        return False
    if stale_keys(in_lake(lake, ready), catalog, day, raw, default_on_bad_file()) is not None:
        return False
    return not report or current_report(lake, day, report_inputs(catalog, day)) is not None


ON_ITS_WAY_OR_DONE = (
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.SUCCESS,
)


def _earlier_runs(
    context: dg.ScheduleEvaluationContext, schedule: str, day: str
) -> list[dg.DagsterRun]:
    """The runs earlier ticks of this schedule launched for `day`, on their way or succeeded,
    latest first. A run of this very tick is not one: Dagster evaluates a tick again after a
    crash between creating its run and submitting it, and submits the run it finds."""
    tags = {"dagster/schedule_name": schedule, "dagster/partition": day}
    this_tick = _utc(context.scheduled_execution_time).isoformat()  # as Dagster tags a run
    runs = runs_tagged(context, tags, ON_ITS_WAY_OR_DONE, limit=10)
    return [run for run in runs if run.tags.get(SCHEDULED_EXECUTION_TIME_TAG) != this_tick]


def _left_by(runs: Sequence[dg.DagsterRun], operators: Sequence[Operator]) -> list[Operator]:
    """The operators none of the runs selected: a tick that ran the operators whose inputs
    were there leaves those waiting for another code location to a later tick."""
    if any(run.asset_selection is None for run in runs):  # the whole job
        return []
    done = {key.to_user_string() for run in runs for key in run.asset_selection or ()}
    return [op for op in operators if not set(op.output_names) <= done]


def _utc(moment: dt.datetime) -> dt.datetime:
    """A tick's time in UTC (a naive one, as a test's context may give, taken as UTC)."""
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
