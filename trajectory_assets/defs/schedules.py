"""A code location's daily job and schedule: yesterday's partition of every table it writes."""

import datetime as dt
import os
from collections.abc import Sequence
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,  # the type define_asset_job returns; not exported
)

from trajectory_assets.defs.settings import SCHEDULE_CRON


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


def daily_schedule(job: UnresolvedAssetJobDefinition) -> dg.ScheduleDefinition:
    @dg.schedule(
        job=job,
        cron_schedule=os.environ.get(SCHEDULE_CRON, "30 0 * * *"),
        execution_timezone="UTC",
        name=f"{job.name}_schedule",
        description=f"Yesterday's partition (UTC) of every asset of {job.name}, once a day "
        "after it ended; the sensor takes days whose raw data arrives or changes later.",
    )
    def _daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        """The day before the tick; the run key makes extra ticks on the same day no-ops."""
        day = (context.scheduled_execution_time - dt.timedelta(days=1)).date().isoformat()
        return dg.RunRequest(run_key=day, partition_key=day)

    return _daily
