"""Late raw data: a sensor that re-materializes days whose raw files changed since their
Tier B tables were computed.

Every committed day carries the attempt key of the inputs it was computed from; the sensor
recomputes the key from a fresh listing and requests a run for each day that differs.
"""

import dagster as dg

from trajectory_assets.defs.partitions import DAILY
from trajectory_assets.defs.raw import raw_version
from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.defs.schedules import tier_b_daily
from trajectory_assets.engine.plan import is_current
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.raw import list_days
from trajectory_assets.operators import Sessionize

SESSIONIZE = Sessionize()


@dg.sensor(
    job=tier_b_daily,
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description="Re-materializes days whose raw_events changed after they were materialized.",
)
def raw_events_changed(context: dg.SensorEvaluationContext, lake: LakeResource) -> dg.SensorResult:
    the_lake = lake.lake()
    catalog = Catalog(the_lake)
    valid = set(DAILY.get_partition_keys())
    requests = []
    for day in list_days(the_lake):
        state = catalog.state("sessions", day)
        if day not in valid or state is None:
            continue  # never materialized: the schedule or a backfill owns it
        if not is_current(SESSIONIZE, catalog, day):
            context.log.info(f"raw_events dt={day} changed since it was materialized")
            run_key = f"{day}:{raw_version(the_lake, day)}"
            requests.append(dg.RunRequest(run_key=run_key, partition_key=day))
    return dg.SensorResult(run_requests=requests)
