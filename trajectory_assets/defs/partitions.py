"""The one daily (UTC) partitioning shared by raw_events and every Tier B asset."""

import os

import dagster as dg

from trajectory_assets.defs.settings import DEFAULT_START_DATE, START_DATE

DAILY = dg.DailyPartitionsDefinition(
    start_date=os.environ.get(START_DATE, DEFAULT_START_DATE), timezone="UTC"
)
