"""raw_events: the Tier A source asset. Its observations give each day a data version, so raw
data that arrives late marks that day's tables stale in the UI."""

import dagster as dg

from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import fingerprint, list_days, list_raw_files


def raw_events_asset(partitions: dg.DailyPartitionsDefinition) -> dg.SourceAsset:
    @dg.observable_source_asset(
        name="raw_events",
        partitions_def=partitions,
        group_name="tier_a",
        description="Append-only raw agent events, dt=/app_id=/session_id=/*.parquet. "
        "Never modified by the pipeline.",
    )
    def raw_events(
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> dg.DataVersionsByPartition:
        return dg.DataVersionsByPartition(raw_versions(lake.lake(), partitions, context.log))

    return raw_events


def raw_versions(
    lake: Lake, partitions: dg.DailyPartitionsDefinition, log: object = None
) -> dict[str, dg.DataVersion]:
    """The data version of every day with raw data inside the partitions."""
    valid = set(partitions.get_partition_keys())
    versions = {}
    for day in list_days(lake):
        if day not in valid:
            if log is not None:
                log.warning(f"raw_events dt={day} is outside the daily partitions; ignored")  # type: ignore[attr-defined]
            continue
        versions[day] = dg.DataVersion(raw_version(lake, day))
    return versions


def raw_version(lake: Lake, day: str) -> str:
    """A day's raw data version: its file count and a fingerprint of names, sizes and times."""
    files = list_raw_files(lake, dt=day)
    return f"{len(files)}-{fingerprint(files)[:16]}"
