"""raw_events: the Tier A source asset. Its observations give each day a data version, so raw
data that arrives late marks that day's Tier B partitions stale in the UI."""

import dagster as dg

from trajectory_assets.defs.partitions import DAILY
from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import fingerprint, list_days, list_raw_files


@dg.observable_source_asset(
    name="raw_events",
    partitions_def=DAILY,
    group_name="tier_a",
    description="Append-only raw agent events, dt=/app_id=/session_id=/*.parquet. Never modified.",
)
def raw_events(context: dg.AssetExecutionContext, lake: LakeResource) -> dg.DataVersionsByPartition:
    the_lake = lake.lake()
    valid = set(DAILY.get_partition_keys())
    versions = {}
    for day in list_days(the_lake):
        if day not in valid:
            context.log.warning(f"raw_events dt={day} is outside the daily partitions; ignored")
            continue
        versions[day] = dg.DataVersion(raw_version(the_lake, day))
    return dg.DataVersionsByPartition(versions)


def raw_version(lake: Lake, day: str) -> str:
    """A day's raw data version: its file count and a fingerprint of names, sizes and times."""
    files = list_raw_files(lake, dt=day)
    return f"{len(files)}-{fingerprint(files)[:16]}"
