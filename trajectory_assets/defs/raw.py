"""raw_events: the Tier A source asset. Its observations give each day a data version, so raw
data that arrives late marks that day's tables stale in the UI."""

import logging
from collections.abc import Mapping

import dagster as dg

from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.errors import RawLayoutError
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import RAW_TABLE
from trajectory_assets.lake.raw import list_days, list_raw_files, raw_version

DATA_VERSION_TAG = "dagster/data_version"


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
    lake: Lake, partitions: dg.DailyPartitionsDefinition, log: logging.Logger | None = None
) -> dict[str, dg.DataVersion]:
    """The data version of every day with raw data inside the partitions.

    With a log (the observation, which runs unattended), a day whose listing meets a broken
    link is logged as an error and left out, so one bad day does not stop the others' versions;
    without one (the `sync` command), the error stops it and names the link."""
    valid = set(partitions.get_partition_keys())
    versions = {}
    for day in list_days(lake):
        if day not in valid:
            if log is not None:
                log.warning(f"raw_events dt={day} is outside the daily partitions; ignored")
            continue
        try:
            files = list_raw_files(lake, dt=day)
        except RawLayoutError as exc:
            if log is None:
                raise
            log.error(f"raw_events dt={day} not observed: {exc}")
            continue
        versions[day] = dg.DataVersion(raw_version(files))
    return versions


def observe_days_read(context: dg.AssetExecutionContext, versions: Mapping[str, str]) -> None:
    """Record the raw version of each day a run read (`versions`: its listing's) as an
    observation of raw_events, before its tables are recorded: Dagster takes a
    materialization's input data version from the latest observation, and one made before
    late data arrived marked the recomputed day stale at the next Observe ("raw_events has a
    new data version"). Dagster read its inputs' versions as the step started: they are read
    again."""
    for day, version in sorted(versions.items()):
        tags = {DATA_VERSION_TAG: version}
        context.log_event(dg.AssetObservation(asset_key=RAW_TABLE, partition=day, tags=tags))
    wipe = getattr(context.get_step_execution_context(), "wipe_input_asset_version_info", None)
    if versions and wipe is not None:  # Dagster's, not a documented API: without it, as before
        wipe(dg.AssetKey(RAW_TABLE))
