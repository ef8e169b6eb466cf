"""Bringing a Dagster instance up to date with its lake: a new (or lost) instance would show a
full lake as never materialized, while the lake itself knows every day it holds.

The raw days are reported as observations with their data versions; every table day that the
instance has no record of, or only one older than the Delta commit that made it current, as a
runless materialization carrying the day's rows, table version and attempt; every daily report
page likewise, against the time it was written. Nothing is computed and the lake is not
changed.
"""

from collections.abc import Collection
from dataclasses import dataclass

import dagster as dg

from trajectory_assets.defs.raw import DATA_VERSION_TAG, raw_versions
from trajectory_assets.defs.report import (
    MAX_CHARTED_DAYS,
    REPORT,
    chart_metadata,
    page_metadata,
)
from trajectory_assets.engine.lineage import in_lake
from trajectory_assets.engine.registry import Registry
from trajectory_assets.lake import delta_history
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta import Snapshot
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.reports import read_report, report_days, report_files
from trajectory_assets.operator import Operator

CODE_VERSION_TAG = "dagster/code_version"  # what Dagster's stale marks compare
PAGE = 1000  # records fetched from the instance at once


@dataclass(frozen=True)
class SyncReport:
    raw_days: int
    recorded: dict[str, int]  # table -> days reported now
    current: dict[str, int]  # table -> days the instance already knew
    outside: int  # table days outside the partitions (before the first), left out


def sync(
    instance: dg.DagsterInstance,
    lake: Lake,
    registry: Registry,
    partitions: dg.DailyPartitionsDefinition,
    again: Collection[str] = (),
) -> SyncReport:
    """Record the table days the instance does not know as they are now; `again`: days to
    record anyway (their records went with runs `forget` deleted, and the purged Delta log no
    longer says when they last changed)."""
    raw_days = observe_raw(instance, lake, partitions)
    valid = set(partitions.get_partition_keys())
    catalog = Catalog(lake, registry.tables)
    recorded: dict[str, int] = {}
    current: dict[str, int] = {}
    outside = 0
    for table in registry.tables:
        snapshot = catalog.snapshot(table)
        if snapshot.version < 0:
            continue
        known = _latest(instance, table, lake.display())
        changed = _last_changes(lake, table)
        recorded[table] = current[table] = 0
        new = []
        for day in snapshot.days():
            if day not in valid:
                outside += 1
            elif day in known and known[day] >= changed.get(day, 0.0) and day not in again:
                current[table] += 1
            else:
                new.append(day)
        producer = registry.producer(table)
        made = made_by(lake, producer, table, new) if producer and new else {}
        for day in new:
            by = "sync, from the lake's Delta log"
            record_day(instance, lake, snapshot, day, by, made.get(day))
        recorded[table] += len(new)
    pages = {d: t for d, t in report_days(lake).items() if d in valid}
    if pages:
        recorded[REPORT] = _record_reports(instance, lake, pages, again)
        current[REPORT] = len(pages) - recorded[REPORT]
    return SyncReport(raw_days, recorded, current, outside)


def record_day(
    instance: dg.DagsterInstance,
    lake: Lake,
    snapshot: Snapshot,
    day: str,
    recorded_by: str,
    code_version: str | None = None,
) -> None:
    """Record a table's day as the snapshot has it (a runless materialization: the lake changed
    outside a run, or the run that recorded it is gone), made by `code_version` (`made_by`)."""
    state = snapshot.state(day)
    assert state is not None
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key=snapshot.name,
            partition=day,
            tags={CODE_VERSION_TAG: code_version} if code_version else None,
            metadata={
                "dagster/row_count": state.rows,
                "table_version": snapshot.version,
                "attempt": state.attempt or "",
                "lake": lake.display(),
                "recorded_by": recorded_by,
            },
        )
    )


def made_by(lake: Lake, op: Operator, table: str, days: Collection[str]) -> dict[str, str]:
    """The days of `table` that another operator than `op` as it reads this lake made what they
    are (found in the log of the commit that wrote their files, a rollback's restored commit
    too), each with the version and fingerprint it was made with: recorded as their code
    version, so the UI marks a day restored to an older operator's tables stale, as `explain`
    does (a record without one read as fresh). A day `op` made gets none: a runless record with
    any code version, lacking the input versions a run records, reads as stale to Dagster."""
    (now,) = in_lake(lake, [op])
    made = {}
    for day, commit in delta_history.operator_commits(lake, table, days).items():
        fingerprint = commit.operator_fingerprint  # None: an earlier release's commit
        if fingerprint is not None and fingerprint != now.fingerprint:
            made[day] = f"{commit.operator_version}+{fingerprint[:8]}"
    return made


def _record_reports(
    instance: dg.DagsterInstance, lake: Lake, pages: dict[str, float], again: Collection[str]
) -> int:
    """Record each day's page written after the instance's last record of it, and those of
    `again` (recorded after their tables: the page drawn from them must not show stale in the
    UI, as it did after every `forget`); how many."""
    known = _latest(instance, REPORT, lake.display())
    new = [day for day in sorted(pages) if known.get(day, 0.0) < pages[day] or day in again]
    for day in new:
        page = lake.display(report_files(day).html)
        found = read_report(lake, day)  # its numbers and chart, as the run that drew it showed
        shown = page_metadata(page, found[0]["summary"] if found else {})
        if found and len(new) <= MAX_CHARTED_DAYS:
            shown["chart"] = chart_metadata(day, found[1])
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=REPORT,
                partition=day,
                metadata={
                    **shown,
                    "lake": lake.display(),
                    "recorded_by": "sync, from the page in the lake",
                },
            )
        )
    return len(new)


def observe_raw(
    instance: dg.DagsterInstance, lake: Lake, partitions: dg.DailyPartitionsDefinition
) -> int:
    """Record the data version of every raw day whose latest observation has another (or
    none), as the raw_events observation does; the number of days recorded now."""
    versions = raw_versions(lake, partitions)
    known = _observed_versions(instance)
    changed = {day: v for day, v in versions.items() if known.get(day) != v.value}
    for day, version in changed.items():
        instance.report_runless_asset_event(
            dg.AssetObservation(
                asset_key="raw_events", partition=day, tags={DATA_VERSION_TAG: version.value}
            )
        )
    return len(changed)


def _observed_versions(instance: dg.DagsterInstance) -> dict[str, str]:
    """The data version of each raw day's latest observation."""
    found: dict[str, str] = {}
    kind = dg.DagsterEventType.ASSET_OBSERVATION
    for record in _last_records(instance, dg.AssetKey("raw_events"), kind):
        observation, day = record.asset_observation, record.partition_key
        if observation is not None and day is not None:
            found[day] = observation.tags.get(DATA_VERSION_TAG, "")
    return found


def _last_records(
    instance: dg.DagsterInstance, key: dg.AssetKey, kind: dg.DagsterEventType
) -> list[dg.EventLogRecord]:
    """Each day's last materialization (or observation) of an asset: a day has many records at
    a year (a run a day, reruns, forgets), and reading them all took seconds per table. The
    latest record ids per partition come from a Dagster method that is not public API; the
    pinned version's tests cover it."""
    last = sorted(instance.get_latest_storage_id_by_partition(key, kind).values())
    fetch = (
        instance.fetch_materializations
        if kind == dg.DagsterEventType.ASSET_MATERIALIZATION
        else instance.fetch_observations
    )
    records: list[dg.EventLogRecord] = []
    for start in range(0, len(last), PAGE):
        ids = last[start : start + PAGE]
        filtered = dg.AssetRecordsFilter(asset_key=key, storage_ids=ids)
        records += fetch(filtered, limit=len(ids)).records
    return records


def _latest(instance: dg.DagsterInstance, table: str, lake: str) -> dict[str, float]:
    """When the instance last recorded each day of a table, for the days whose last record is
    of `lake`: a day last recorded for another lake (a run allowed to write one, or the lake
    before it moved) is one the instance does not know."""
    found: dict[str, float] = {}
    kind = dg.DagsterEventType.ASSET_MATERIALIZATION
    for record in _last_records(instance, dg.AssetKey(table), kind):
        day, event = record.partition_key, record.asset_materialization
        recorded_for = event.metadata.get("lake") if event is not None else None
        if day is not None and (recorded_for is None or recorded_for.value == lake):
            found[day] = record.timestamp
    return found


def _last_changes(lake: Lake, table: str) -> dict[str, float]:
    """When each day of a table last changed, from the table's log (as far as it reaches)."""
    found: dict[str, float] = {}
    for commit in delta_history.commits(lake, table):
        for day in commit.days:
            found.setdefault(day, commit.timestamp.timestamp())
    return found
