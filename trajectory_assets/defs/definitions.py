"""Operators in, Dagster definitions out: the one public way to make assets.

The built-in tables go through `build_definitions` too (see trajectory_assets/definitions.py);
a team's own operators get the same assets, checks, partitions, backfill policy, code versions,
metadata, resources, job, schedule and sensor in their own code location.
"""

import functools
import os
from collections.abc import Sequence

import dagster as dg

from trajectory_assets.defs.assets import build_assets, code_versions
from trajectory_assets.defs.config import launchpad_config
from trajectory_assets.defs.lake_params import lake_params, with_lake_params
from trajectory_assets.defs.partitions import daily, start_date_of
from trajectory_assets.defs.raw import raw_events_asset
from trajectory_assets.defs.report import REPORT, report_asset
from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.defs.schedules import daily_job, daily_schedule
from trajectory_assets.defs.sensors import raw_changed_sensor
from trajectory_assets.defs.settings import (
    DEFAULT_LAKE,
    LAKE,
    S3_ENDPOINT_URL,
    env_or,
    ray_num_cpus,
)
from trajectory_assets.defs.settings import runtime as runtime_setting
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.names import RAY_ADDRESS, RAY_NUM_CPUS, RUNTIME
from trajectory_assets.errors import DefinitionError
from trajectory_assets.operator import Operator


def default_resources(
    lake: str | None = None, runtime: str | None = None
) -> dict[str, dg.ConfigurableResource]:
    """The lake and compute resources as the environment configures them (see the README), or
    as `lake` and `runtime` say (an `OperatorAssets` component's attributes): the same objects
    for the same settings, since Dagster merges two definitions into one code location only
    when their resources of one key are the same object (the built-in tables and a team's, or
    two components; two that name different lakes cannot share a location)."""
    names = (LAKE, S3_ENDPOINT_URL, RUNTIME, RAY_ADDRESS, RAY_NUM_CPUS)
    return dict(_resources(tuple(os.environ.get(n) for n in names), lake, runtime))


@functools.cache
def _resources(
    settings: tuple[str | None, ...], lake: str | None, runtime: str | None
) -> dict[str, dg.ConfigurableResource]:
    """`settings`, the variables' values, only key the cache: the resources read them."""
    return {
        "lake": LakeResource(
            root=lake or env_or(LAKE, DEFAULT_LAKE),  # type: ignore[arg-type]
            s3_endpoint_url=env_or(S3_ENDPOINT_URL, None),
        ),
        "compute": ComputeResource(
            runtime=runtime or runtime_setting(),  # type: ignore[arg-type]
            address=env_or(RAY_ADDRESS, None),
            num_cpus=ray_num_cpus(),  # type: ignore[arg-type]
        ),
    }


def build_definitions(
    operators: Sequence[Operator],
    *,
    upstream: Sequence[Operator] = (),
    name: str = "tables",
    group: str | None = None,
    raw_source: bool = False,
    report: bool = False,
    resources: dict[str, dg.ConfigurableResource] | None = None,
    start_date: str | None = None,
    executor: dg.ExecutorDefinition | None = dg.in_process_executor,
    blocking_checks: bool = False,
    cron: str | None = None,
    schedule_running: bool = False,
    sensor_running: bool = False,
) -> dg.Definitions:
    """Dagster definitions for `operators`: one subsettable multi-asset (every table its own
    asset, daily partitions, single-run backfills, checks), a daily job and its schedule, and a
    sensor of new and changed inputs (raw data, late or not; another location's tables, which
    its schedule does not wait for).

    `upstream`: operators of another code location whose tables these read (their assets stay
    there; lineage crosses locations by asset key). `raw_source`: also define the `raw_events`
    source asset (once per workspace: the built-in location does). `report`: also define the
    daily_report asset (it reads built-in tables). `start_date`: the first daily partition
    (default: the lake's own, see defs/partitions.py). `executor`: the location's (a location
    has one; Dagster refuses to merge two): in-process by default, since one step at a time
    holds the pool anyway; None leaves it to definitions of one's own. `blocking_checks`: a
    failed check of ERROR severity fails the run (the tables stay committed) and holds back
    assets that depend on its table in Dagster's automation (`all_deps_blocking_checks_passed`)
    and, in the run, every asset downstream of the location's tables (one step, which fails);
    by default a run with failed checks succeeds.
    `cron`: when the daily schedule ticks (default: TRAJECTORY_ASSETS_SCHEDULE_CRON, else
    00:30 UTC). `schedule_running`, `sensor_running`: the schedule, and the
    sensor of late raw data, are on as soon as the code location loads (a deployment's code
    says so), instead of switched on in the UI, which is the default.
    The lake's `params` (its trajectory_assets.json) set the operators' parameters over the
    values they are given here, as the command line takes them (see defs/lake_params.py).
    """
    resources = resources or default_resources()
    lake = resources["lake"]
    if not isinstance(lake, LakeResource):  # a resource configured at launch, or none
        raise DefinitionError(
            f"resources['lake'] is a {type(lake).__name__}, not a LakeResource with its root: "
            "the definitions read the lake as they load (its first day starts the partitions, "
            "its trajectory_assets.json sets the operators' parameters), so it cannot be "
            "configured at launch"
        )
    params, where = lake_params(lake.lake())  # the lake's, over the code's
    registry = Registry.build(
        with_lake_params(operators, params, where, every_operator=False),
        with_lake_params(upstream, params, where, every_operator=False),
    )
    partitions = daily(start_date or start_date_of(lake.lake()))
    tables = build_assets(
        registry,
        name=name,
        group=group or name,
        partitions=partitions,
        versions=code_versions(lake.lake(), registry.operators),
        blocking_checks=blocking_checks,
        loaded_params=params,
    )
    keys = [dg.AssetKey(t) for op in registry.operators for t in op.output_names]
    job = daily_job(
        name,
        [*keys, *([dg.AssetKey(REPORT)] if report else [])],
        launchpad_config(registry.operators, name),
    )
    pinned = start_date is not None
    sensors = [
        raw_changed_sensor(registry, job, partitions, params, sensor_running, pinned, report)
    ]
    assets: list[dg.AssetsDefinition | dg.SourceAsset] = [tables]
    if raw_source:
        assets.insert(0, raw_events_asset(partitions))
    if report:
        assets.append(report_asset(registry, partitions))
    return dg.Definitions(
        assets=assets,
        jobs=[job],
        schedules=[daily_schedule(job, registry, params, cron, schedule_running, report)],
        sensors=sensors,
        resources=resources,
        executor=executor,
    )
