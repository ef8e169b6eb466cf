"""A team's code location reading the built-in tables: its schedule ticked at the same time as
the built-in one's and ran yesterday before the built-in run committed it (the run failed,
and nothing ran the day again: only locations reading raw data had a sensor)."""

import datetime as dt
from collections.abc import Sequence

import dagster as dg
from dagster._core.storage.tags import SCHEDULED_EXECUTION_TIME_TAG  # as Dagster tags a run

import trajectory_assets as ta
from tests.lakes import DAY1, DAY2
from tests.runs import run_all
from trajectory_assets.defs.definitions import default_resources
from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS

BUILTIN = [op for op in OPERATORS if op.name not in ("tool_stats", "decision_steps")]
OWN = [op for op in OPERATORS if op.name in ("decision_steps", "tool_stats")]
"""decision_steps reads raw data; tool_stats reads tool_calls, which the other location writes."""


def location(lake: Lake, ops: Sequence[ta.Operator]) -> dg.Definitions:
    upstream = [op for op in OPERATORS if op not in ops]
    resources = dict(default_resources(lake=lake.uri, runtime="inline"))
    return ta.build_definitions(ops, upstream=upstream, name="team", resources=resources)


def sensor_tick(defs: dg.Definitions, lake: Lake) -> dg.SensorResult:
    context = dg.build_sensor_context(resources={"lake": LakeResource(root=lake.uri)})
    result = defs.resolve_sensor_def("team_daily_raw_changed")(context)
    assert isinstance(result, dg.SensorResult)
    return result


def schedule_tick(
    defs: dg.Definitions,
    lake: Lake,
    day: str,
    instance: dg.DagsterInstance | None = None,
    hours: int = 0,
) -> object:
    at = dt.datetime.fromisoformat(day) + dt.timedelta(days=1, hours=hours, minutes=30)
    with dg.build_schedule_context(  # left open, it leaves the instance Dagster's current one
        instance=instance,
        resources={"lake": LakeResource(root=lake.uri)},
        scheduled_execution_time=at,
    ) as context:
        return defs.resolve_schedule_def("team_daily_schedule")(context)


def test_a_location_of_another_s_tables_waits_for_them_and_its_sensor_runs_them(
    lake: Lake,
) -> None:
    own = location(lake, [op for op in OWN if op.name == "tool_stats"])
    skipped = schedule_tick(own, lake, DAY1)
    assert isinstance(skipped, dg.SkipReason) and skipped.skip_message == (
        f"tool_calls dt={DAY1}, which another code location writes, not materialized yet: the "
        "raw-changes sensor, when on, runs the day once it is, as does a later tick of a cron of "
        "several ticks a day"
    )
    waiting = sensor_tick(own, lake)
    assert not waiting.run_requests and waiting.skip_reason is not None
    assert (
        f"waiting for tables another code location writes, not materialized yet: tool_calls "
        f"({DAY1}, {DAY2})" in str(waiting.skip_reason.skip_message)
    )
    run_all(lake, [DAY1], operators=BUILTIN)  # the built-in location's run of DAY1
    requests = list(sensor_tick(own, lake).run_requests or [])
    assert [(r.partition_key, r.asset_selection) for r in requests] == [(DAY1, None)]
    ran = schedule_tick(own, lake, DAY1)
    assert isinstance(ran, dg.RunRequest) and ran.asset_selection is None
    job = own.resolve_job_def("team_daily")
    assert job.execute_in_process(partition_key=DAY1).success
    assert Catalog(lake, {"tool_stats": OWN[1].outputs[0]}).days("tool_stats") == [DAY1]
    assert sensor_tick(own, lake).run_requests == []


def test_a_location_runs_what_it_computes_from_raw_data_while_the_rest_waits(lake: Lake) -> None:
    mixed = location(lake, OWN)
    requests = list(sensor_tick(mixed, lake).run_requests or [])
    only = [dg.AssetKey("decision_steps")]
    assert [(r.partition_key, r.asset_selection) for r in requests] == [
        (DAY1, only),
        (DAY2, only),
    ]
    ran = schedule_tick(mixed, lake, DAY1)
    assert isinstance(ran, dg.RunRequest) and ran.asset_selection == only
    job = mixed.resolve_job_def("team_daily")
    done = job.execute_in_process(partition_key=DAY1, asset_selection=only)
    assert done.success
    assert [m.asset_key for m in done.get_asset_materialization_events()] == only


def test_a_later_tick_runs_what_an_earlier_tick_left_waiting(lake: Lake) -> None:
    """With a cron of several ticks a day, the first tick's run of the ready operators counted
    as the day's run: the later ticks skipped the day, and what waited for another code
    location's tables never ran without the sensor."""
    mixed = location(lake, OWN)
    job = mixed.resolve_job_def("team_daily")
    with dg.instance_for_test() as instance:

        def requested(hours: int, table: str) -> None:
            """The tick at 00:30 + `hours` asks for `table` alone; its run succeeds."""
            ran = schedule_tick(mixed, lake, DAY1, instance, hours=hours)
            assert isinstance(ran, dg.RunRequest)
            assert ran.asset_selection == [dg.AssetKey(table)]
            at = dt.datetime.fromisoformat(f"{DAY1}T00:30:00+00:00")
            instance.create_run_for_job(
                job,
                status=dg.DagsterRunStatus.SUCCESS,
                asset_selection=frozenset(ran.asset_selection),
                tags={
                    "dagster/schedule_name": "team_daily_schedule",
                    "dagster/partition": DAY1,
                    SCHEDULED_EXECUTION_TIME_TAG: (at + dt.timedelta(days=1, hours=hours))
                    .astimezone(dt.UTC)
                    .isoformat(),
                },
            )

        def skipped(hours: int, saying: str) -> None:
            tick = schedule_tick(mixed, lake, DAY1, instance, hours=hours)
            assert isinstance(tick, dg.SkipReason) and str(tick.skip_message).startswith(saying)

        requested(0, "decision_steps")
        skipped(1, f"tool_calls dt={DAY1}, which another code location writes")
        run_all(lake, [DAY1], operators=BUILTIN)  # the built-in location's run of DAY1
        requested(2, "tool_stats")
        skipped(3, f"{DAY1} was run by an earlier tick")
