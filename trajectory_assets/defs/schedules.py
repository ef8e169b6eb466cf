"""The daily job and its schedule: yesterday's partition of every Tier B asset, after 00:30 UTC."""

import datetime as dt
import os

import dagster as dg

from trajectory_assets.defs.assets import TIER_B_KEYS
from trajectory_assets.defs.settings import SCHEDULE_CRON

tier_b_daily = dg.define_asset_job(
    "tier_b_daily",
    selection=dg.AssetSelection.assets(*TIER_B_KEYS),
    executor_def=dg.in_process_executor,
    description="Every Tier B table for one day (or a range, as one run).",
)


@dg.schedule(
    job=tier_b_daily,
    cron_schedule=os.environ.get(SCHEDULE_CRON, "30 0 * * *"),
    execution_timezone="UTC",
    name="tier_b_daily_schedule",
)
def tier_b_daily_schedule(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    """The day before the tick; the run key makes extra ticks on the same day no-ops."""
    day = (context.scheduled_execution_time - dt.timedelta(days=1)).date().isoformat()
    return dg.RunRequest(run_key=day, partition_key=day)
