"""raw_events: the Tier A source asset. Its observations give each day a data version, so raw
data that arrives late marks that day's Tier B partitions stale in the UI."""

import hashlib

import dagster as dg

from trajectory_assets.defs.partitions import DAILY
from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.lake.raw import list_days, list_raw_files


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
        files = list_raw_files(the_lake, dt=day)
        digest = hashlib.sha256()
        for f in files:
            digest.update(f"{f.path}\0{f.size}\0{f.mtime}\n".encode())
        versions[day] = dg.DataVersion(f"{len(files)}-{digest.hexdigest()[:16]}")
    return dg.DataVersionsByPartition(versions)
