"""The Dagster code location: `dagster dev` (workspace.yaml) and `dg` load `defs` from here."""

import os

import dagster as dg

from trajectory_assets.defs.assets import TIER_B_ASSETS
from trajectory_assets.defs.raw import raw_events
from trajectory_assets.defs.resources import LakeResource, RayResource
from trajectory_assets.defs.schedules import tier_b_daily, tier_b_daily_schedule
from trajectory_assets.defs.sensors import raw_events_changed
from trajectory_assets.defs.settings import (
    DEFAULT_LAKE,
    LAKE,
    RAY_ADDRESS,
    RAY_NUM_CPUS,
    RUNTIME,
    S3_ENDPOINT_URL,
    env_int_or,
    env_or,
)


def resources() -> dict[str, dg.ConfigurableResource]:
    return {
        "lake": LakeResource(
            root=env_or(LAKE, DEFAULT_LAKE),  # type: ignore[arg-type]
            s3_endpoint_url=env_or(S3_ENDPOINT_URL, None),  # type: ignore[arg-type]
        ),
        "ray": RayResource(
            runtime=os.environ.get(RUNTIME, "ray"),  # type: ignore[arg-type]
            address=env_or(RAY_ADDRESS, None),  # type: ignore[arg-type]
            num_cpus=env_int_or(RAY_NUM_CPUS, None),  # type: ignore[arg-type]
        ),
    }


defs = dg.Definitions(
    assets=[raw_events, *TIER_B_ASSETS],
    jobs=[tier_b_daily],
    schedules=[tier_b_daily_schedule],
    sensors=[raw_events_changed],
    resources=resources(),
    executor=dg.in_process_executor,
)
