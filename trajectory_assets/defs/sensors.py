"""New and late raw data: a sensor that materializes days whose raw files arrived, or changed
since their tables were computed, or whose tables of another code location were committed.

Every committed day carries the attempt key of the inputs it was computed from; the sensor
recomputes the keys of the code location's operators from a fresh listing and requests a run
for each day that is missing or differs. An operator reading another location's tables waits
for that location to commit the day (the run it requests holds the operators that are ready).
A day whose listing meets a broken link gets one run too (keyed by the link, so once per
link): it fails with the link's name, where failed runs are watched, while the other days go on
as usual. A tick checks the latest days, where late data lands, and then older ones newest
first for as long as its budget lasts; the next ticks go on from where it stopped (the
sensor's cursor), so a lake of many large days never runs a tick past Dagster's 60 s.
"""

import datetime as dt
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,  # the type define_asset_job returns; not exported
)

from trajectory_assets.defs.dead_runs import IN_FLIGHT, fail_dead_runs
from trajectory_assets.defs.instance import tick_refusal
from trajectory_assets.defs.lake_params import params_changed
from trajectory_assets.defs.partitions import start_date_of
from trajectory_assets.defs.report import REPORT, report_inputs
from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.defs.settings import START_DATE, default_on_bad_file, start_date
from trajectory_assets.defs.ticks import run_request, runs_tagged, tick_instance
from trajectory_assets.engine.lineage import in_lake, ready_for, stale_keys
from trajectory_assets.engine.registry import Registry
from trajectory_assets.errors import RawLayoutError, first_few
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.config import CONFIG
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import UNTIMED_DAY, is_day
from trajectory_assets.lake.raw import RawFile, list_days, list_raw_files, raw_version
from trajectory_assets.lake.reports import DrawnPage, drawn_from
from trajectory_assets.lake.schemas import schema_digest
from trajectory_assets.operator import Operator

RECENT_DAYS = 7
"""The latest days with raw data, where late data lands: every tick checks them."""
TICK_BUDGET_S = 30.0
"""How long after it began a tick goes on to a next older day (each checks at least one):
Dagster ends a sensor's evaluation at 60 s, and a day of 100,000 sessions takes ~2 s to list
and check."""


UNENDED = [
    *IN_FLIGHT,
    dg.DagsterRunStatus.CANCELING,
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
]
"""A run of the day in one of these has not ended: the sensor requests no other."""

NEWEST = "newest"
"""The cursor of a tick that checked every day (Dagster keeps the last cursor over an empty
one): the next tick starts from the newest."""


def tick_days(days: Sequence[str], cursor: str | None) -> tuple[list[str], list[str], bool]:
    """(the latest days, the older ones newest first, whether they go on from an earlier
    tick): those before `cursor`, the day an earlier tick stopped after, while there are
    such days; else from the newest again."""
    newest = sorted(days, reverse=True)
    recent, older = newest[:RECENT_DAYS], newest[RECENT_DAYS:]
    after = [d for d in older if cursor and is_day(cursor) and d < cursor]
    return recent, after or older, bool(after) and after != older


def raw_changed_sensor(
    registry: Registry,
    job: UnresolvedAssetJobDefinition,
    partitions: dg.PartitionsDefinition,
    loaded_params: Mapping[str, Mapping[str, Any]],
    running: bool = False,
    pinned: bool = False,
    report: bool = False,
) -> dg.SensorDefinition:
    """`loaded_params`: the lake's operator parameters as the location loaded them; `running`:
    on from the moment the code location loads, rather than switched on in the UI; `pinned`: the
    definitions give the first partition themselves (`start_date`); `report`: the location
    draws the daily report, whose missing or out-of-date pages it draws again too."""
    name = f"{job.name}_raw_changed"

    @dg.sensor(
        job=job,
        name=name,
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING
        if running
        else dg.DefaultSensorStatus.STOPPED,
        description="Materializes days whose raw_events arrived, or changed after they were "
        "materialized, or whose operators changed (a version, parameters, price overrides, "
        "columns declared since), or whose input tables of another code location were "
        "committed or changed, or whose daily report page is missing or drawn from other "
        "tables (one run per day; the days `materialize --missing` picks, but not today's, "
        "which is still filling up).",
    )
    def _sensor(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
        if (instance := tick_instance(context)) is not None:
            origin = context.code_location_origin
            location = origin.location_name if origin is not None else None
            for said in fail_dead_runs(instance, location):  # a dead run holds the pool
                context.log.warning(said)
        the_lake = lake.lake()
        if refused := tick_refusal(context, the_lake.display()) or params_changed(
            the_lake, loaded_params
        ):
            return dg.SensorResult(skip_reason=refused)  # each run would fail
        catalog = Catalog(the_lake, registry.tables)
        today = dt.datetime.now(dt.UTC).date().isoformat()
        valid = {day for day in partitions.get_partition_keys() if day < today}
        ops = in_lake(the_lake, registry.operators)
        on_bad_file = default_on_bad_file()  # what the runs it requests use (no run config)
        requests = []
        waits: dict[str, list[str]] = {}  # a table of another location -> days it is missing
        days = list_days(the_lake)
        pages = drawn_from(the_lake) if report else {}
        outside = _outside(the_lake, days, partitions, today, pinned)
        if outside:
            context.log.warning(outside)
        recent, older, resumed = tick_days([d for d in days if d in valid], context.cursor)
        deadline = time.monotonic() + TICK_BUDGET_S
        seen: list[str] = []  # outside the partitions, and today's, still filling, are not
        for n, day in enumerate(recent + older):
            if n > len(recent) and time.monotonic() > deadline:  # one older day at least
                break  # the next tick goes on from here
            seen.append(day)
            try:
                raw = list_raw_files(the_lake, dt=day)
            except RawLayoutError as exc:
                context.log.error(f"raw_events dt={day}: {exc}")
                run_key = f"{day}:link:{exc.path}"
                requests.append(dg.RunRequest(run_key=run_key, partition_key=day))
                continue
            ready, waiting = ready_for(ops, catalog, day)
            for table in waiting:
                waits.setdefault(table, []).append(day)
            keys = stale_keys(ready, catalog, day, raw, on_bad_file) if ready else None
            if keys is not None:
                context.log.info(
                    f"dt={day}: not materialized yet, or its inputs or operators changed since"
                )
                requests.append(run_request(day, _run_key(day, raw, keys, ready), ready, ops))
            elif report and not waiting and (redraw := _page_request(day, catalog, pages)):
                context.log.info(f"dt={day}: its report page is missing or out of date")
                requests.append(redraw)
        left = len(recent) + len(older) - len(seen)
        cursor = seen[-1] if left else NEWEST
        waited = _waited(waits)
        if waited:
            context.log.info(waited)
        requests.sort(key=lambda request: str(request.partition_key))  # a window's days in order
        requests, before = _not_run_before(context, name, requests)
        for said in before:
            context.log.warning(said)
        if requests:
            return dg.SensorResult(run_requests=requests, cursor=cursor)
        if before:
            return dg.SensorResult(skip_reason="; ".join(before), cursor=cursor)
        checked = [d for d in seen if not any(d in w for w in waits.values())]
        why = (
            f"the {len(checked)} day(s) with raw data up to yesterday are up to date"
            if checked
            else "no raw data up to yesterday"
        )
        if left or resumed:
            rest = (
                f"{left} older day(s) are checked at the next ticks"
                if left
                else "the next tick starts from the newest again"
            )
            why = (
                f"the {len(checked)} day(s) checked are up to date ({rest}: a tick checks the "
                f"latest {RECENT_DAYS} days, then older ones for {TICK_BUDGET_S:.0f} s)"
            )
        today_left = "today's partition is left to the schedule's run once the day has ended"
        reasons = [why, waited, today_left, outside]
        return dg.SensorResult(skip_reason="; ".join(filter(None, reasons)), cursor=cursor)

    return _sensor


def _not_run_before(
    context: dg.SensorEvaluationContext, sensor: str, requests: list[dg.RunRequest]
) -> tuple[list[dg.RunRequest], list[str]]:
    """The requests of days without a run of the sensor in progress whose run key has no run
    yet, and a line for each of the others: Dagster never runs a key twice and drops them
    without a word, so a day whose run failed (a broken file, say) would otherwise be called
    changed on every tick, with "0 runs requested"; and a day whose data keeps arriving got one
    more run at every tick while the first waited for the pool."""
    new, said = [], []
    for request in requests:
        day = request.partition_key
        of_day = {"dagster/sensor_name": sensor, "dagster/partition": str(day)}
        if busy := runs_tagged(context, of_day, UNENDED):  # data still coming in: one run a
            said.append(  # day, not one more at every tick while the first waits its turn
                f"dt={day}: its run {busy[0].run_id[:8]} ({busy[0].status.value}) has not "
                "ended; the day is looked at again once it has"
            )
            continue
        tags = {"dagster/sensor_name": sensor, "dagster/run_key": str(request.run_key)}
        runs = runs_tagged(context, tags)
        if not runs:
            new.append(request)
            continue
        said.append(
            f"dt={day}: already requested for these raw files and operators, as run "
            f"{runs[0].run_id[:8]} ({runs[0].status.value}); a run key runs once, so the day "
            f"is requested again when they change (`trajectory-assets materialize --partition "
            f"{day}` runs it now)"
        )
    return new, said


def _outside(
    lake: Lake, days: Sequence[str], partitions: dg.PartitionsDefinition, today: str, pinned: bool
) -> str:
    """Raw days no run reads, named on every tick, with what would bring them in: their events
    are in no table. The lake's first partition may have moved back since the code location
    loaded (`ingest` moves it), and the logger and `serve` keep no config to move."""
    keys = partitions.get_partition_keys()
    early = [d for d in days if (not keys or d < keys[0]) and d != UNTIMED_DAY]
    late = [d for d in days if d > today]
    said = []
    if early:
        now = start_date_of(lake)
        pin = START_DATE if start_date() else f"start_date in {lake.display(CONFIG)}"
        if pinned:
            fix = "no run reads it until the start_date its definitions give is moved back"
        elif now <= early[0]:
            fix = (
                f"the lake's partitions start at {now} now: reload the code location (UI: "
                "Deployment, Reload) for runs to read it"
            )
        else:
            fix = f"no run reads it until {pin} ({now}) is moved back"
        said.append(
            f"raw data of {first_few(early, 'more day(s)')} is before the first partition, "
            f"{keys[0] if keys else '(none)'}: {fix}"
        )
    if late:
        said.append(
            f"raw data of {first_few(late, 'more day(s)')} is after today ({today}, UTC): a "
            "producer's clock ahead?"
        )
    return "; ".join(said)


def _page_request(
    day: str, catalog: Catalog, pages: Mapping[str, DrawnPage]
) -> dg.RunRequest | None:
    """A run of the day's report alone when its page is missing or drawn from other tables than
    the day's now (a report that failed, a run interrupted after its commits, a rollback), as
    `--missing` picks it: the sensor left such pages failed for good. Keyed by the tables it
    would be drawn from, so a report that fails again waits for them to change."""
    drawn = report_inputs(catalog, day)
    page = pages.get(day)
    if page is not None and page.inputs == drawn:
        return None
    key = f"{day}:report:{drawn[:16]}"
    return dg.RunRequest(run_key=key, partition_key=day, asset_selection=[dg.AssetKey(REPORT)])


def _waited(waits: Mapping[str, Sequence[str]]) -> str:
    """One line for every day that waits for another code location's tables, not one a day."""
    if not waits:
        return ""
    tables = "; ".join(f"{t} ({first_few(sorted(d), 'more day(s)')})" for t, d in waits.items())
    return (
        f"waiting for tables another code location writes, not materialized yet: {tables}; "
        "their days run here once that location commits them"
    )


def _run_key(
    day: str, raw: Sequence[RawFile], keys: Mapping[str, str], ops: Sequence[Operator]
) -> str:
    """The day, its raw files, the attempt keys the run would compute and the schemas of the
    operators' tables: Dagster never runs a key twice, so a key of the raw files alone left days
    computed by an earlier version of the operators (or before a price change) to the old code
    for good, and one without the schemas days written before a column was declared."""
    schemas = sorted(schema_digest(spec) for op in ops for spec in op.outputs)
    what = json.dumps([sorted(keys.items()), schemas])
    return f"{day}:{raw_version(raw)}:{hashlib.sha256(what.encode()).hexdigest()[:16]}"
