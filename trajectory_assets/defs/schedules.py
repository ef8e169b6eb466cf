"""The daily job and its schedule: yesterday's partition of every Tier B asset, after 00:30 UTC."""

import dagster as dg

from trajectory_assets.defs.assets import TIER_B_KEYS

tier_b_daily = dg.define_asset_job(
    "tier_b_daily",
    selection=dg.AssetSelection.assets(*TIER_B_KEYS),
    executor_def=dg.in_process_executor,
    description="Every Tier B table for one day (or a range, as one run).",
)

tier_b_daily_schedule = dg.build_schedule_from_partitioned_job(
    tier_b_daily, hour_of_day=0, minute_of_hour=30, name="tier_b_daily_schedule"
)
