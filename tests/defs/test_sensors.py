"""Late raw data marks a materialized day for re-materialization; unchanged days are left alone."""

import datetime as dt
import shutil
import socket
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.tags import SCHEDULED_EXECUTION_TIME_TAG

import trajectory_assets as ta
from tests.lakes import DAY1, DAY2, break_day
from tests.runs import run_all
from trajectory_assets.definitions import defs
from trajectory_assets.defs.definitions import default_resources
from trajectory_assets.defs.instance import bind
from trajectory_assets.defs.partitions import daily
from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.defs.sensors import _outside
from trajectory_assets.lake.config import CONFIG, LakeConfig, write_config
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS

TABLES = ta.build_definitions(OPERATORS, name="tier_b", raw_source=True)
"""The built-in tables without the daily report, whose pages the engine's runs here do not draw
(a test of the pages' own requests uses the built-in location)."""


def reporting(lake: Lake) -> dg.Definitions:
    """The built-in tables with the daily report, computing in the process."""
    return ta.build_definitions(
        OPERATORS,
        name="tier_b",
        raw_source=True,
        report=True,
        resources=default_resources(lake.uri, "inline"),
    )


def evaluated(lake: Lake) -> dg.SensorResult:
    context = dg.build_sensor_context(resources={"lake": LakeResource(root=lake.uri)})
    sensor = TABLES.resolve_sensor_def("tier_b_daily_raw_changed")
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return result


def evaluate(lake: Lake) -> list[dg.RunRequest]:
    return list(evaluated(lake).run_requests or [])


def test_days_whose_raw_data_arrived_or_changed_are_requested(lake: Lake) -> None:
    assert [r.partition_key for r in evaluate(lake)] == [DAY1, DAY2]  # arrived, never built
    run_all(lake, [DAY1, DAY2])
    assert evaluate(lake) == []
    skipped = evaluated(lake).skip_reason  # the UI shows why a tick requested nothing
    assert skipped is not None and skipped.skip_message == (
        "the 2 day(s) with raw data up to yesterday are up to date; today's partition is left "
        "to the schedule's run once the day has ended"
    )

    day1 = Path(lake.root, "raw_events", f"dt={DAY1}")
    session = next(p for p in day1.rglob("session_id=*") if p.is_dir())
    late = next(session.glob("*.parquet"))
    shutil.copy(late, session / "late-arrival.parquet")

    requests = evaluate(lake)
    assert [r.partition_key for r in requests] == [DAY1]
    run_all(lake, [DAY1])
    assert evaluate(lake) == []


def test_edited_price_overrides_request_every_priced_day_again(lake: Lake) -> None:
    run_all(lake, [DAY1, DAY2])
    assert evaluate(lake) == []
    Path(lake.root, "prices.yaml").write_text(
        "models:\n  gpt-4o:\n    input_per_mtok: 1.0\n    output_per_mtok: 2.0\n"
    )
    assert [r.partition_key for r in evaluate(lake)] == [DAY1, DAY2]
    run_all(lake, [DAY1, DAY2])
    assert evaluate(lake) == []


def test_today_is_left_to_fill_up(lake: Lake) -> None:
    """Today is a partition (it can be materialized by hand), but the sensor waits for the
    day to end instead of re-running it at every new file."""
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert defs.resolve_job_def("tier_b_daily").partitions_def.get_last_partition_key() == today  # type: ignore[union-attr]
    run_all(lake, [DAY1, DAY2])
    shutil.copytree(
        Path(lake.root, "raw_events", f"dt={DAY1}"), Path(lake.root, "raw_events", f"dt={today}")
    )
    assert evaluate(lake) == []


def test_raw_days_outside_the_partitions_are_named_on_every_tick(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A day before the loaded partitions is in no table, which the tick says with what brings
    it in: a reload when the lake's partitions reach it now (`ingest` moved the config's start
    back; the tick asked for the move already made), else the config's start_date or the
    setting, whichever pins it. Untimed events (1970-01-01) are in no partition by design."""
    partitions = defs.resolve_job_def("tier_b_daily").partitions_def
    assert partitions is not None
    first = partitions.get_first_partition_key()
    run_all(lake, [DAY1, DAY2])
    for day in ("1970-01-01", "1999-12-31", "2999-01-01"):
        shutil.copytree(
            Path(lake.root, "raw_events", f"dt={DAY1}"), Path(lake.root, "raw_events", f"dt={day}")
        )

    def said() -> str:
        result = evaluated(lake)
        assert not result.run_requests and result.skip_reason is not None
        assert result.skip_reason.skip_message is not None
        return result.skip_reason.skip_message

    moved = said()  # no config: the lake starts at its first timed raw day
    assert moved.startswith("the 2 day(s) with raw data up to yesterday")
    assert (
        f"; raw data of 1999-12-31 is before the first partition, {first}: the lake's "
        "partitions start at 1999-12-31 now: reload the code location (UI: Deployment, Reload)"
    ) in moved
    assert "; raw data of 2999-01-01 is after today (" in moved and "1970-01-01" not in moved
    write_config(lake, LakeConfig(start_date=DAY1))
    assert (
        f"1999-12-31 is before the first partition, {first}: no run reads it until start_date "
        f"in {lake.display(CONFIG)} ({DAY1}) is moved back"
    ) in said()
    monkeypatch.setenv("TRAJECTORY_ASSETS_START_DATE", DAY2)
    assert (
        f"1999-12-31 is before the first partition, {first}: no run reads it until "
        f"TRAJECTORY_ASSETS_START_DATE ({DAY2}) is moved back"
    ) in said()


def test_a_start_the_definitions_pin_is_named_as_the_pin(lake: Lake) -> None:
    """`build_definitions(start_date=...)` sets the partitions whatever the lake says: moving
    the lake's start back, as the tick advised, changed nothing."""
    said = _outside(lake, ["1999-12-31"], daily("2026-11-01"), "2026-12-06", pinned=True)
    assert said == (
        "raw data of 1999-12-31 is before the first partition, 2026-11-01: no run reads it "
        "until the start_date its definitions give is moved back"
    )


def test_a_broken_day_gets_one_failing_run_and_the_other_days_go_on(
    lake: Lake, tmp_path: Path
) -> None:
    """A broken link fails the day's run, where failed runs are watched, naming the link;
    its run key holds the link, so Dagster launches it once, not at every tick."""
    link = break_day(lake, DAY1, tmp_path)
    requests = evaluate(lake)
    assert [r.partition_key for r in requests] == [DAY1, DAY2]
    assert requests[0].run_key == f"{DAY1}:link:{link}"
    assert requests[1].run_key is not None and requests[1].run_key.startswith(f"{DAY2}:")


def test_days_computed_skipping_bad_files_are_not_requested_again(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The sensor judges days with the bad-file rule its runs use: with the environment's
    `skip`, a day computed skipping an unreadable file is current, not requested forever."""
    bad = next(Path(lake.root, "raw_events", f"dt={DAY1}").rglob("*.parquet"))
    bad.write_bytes(bad.read_bytes()[:100])
    run_all(lake, [DAY1, DAY2], on_bad_file="skip")
    monkeypatch.setenv("TRAJECTORY_ASSETS_ON_BAD_FILE", "skip")
    assert evaluate(lake) == []
    monkeypatch.setenv("TRAJECTORY_ASSETS_ON_BAD_FILE", "fail")  # runs would fail on it
    assert [r.partition_key for r in evaluate(lake)] == [DAY1, DAY2]


def test_the_daily_schedule_runs_yesterday_and_skips_a_day_without_raw_data(lake: Lake) -> None:
    """A day without raw data (no traffic, a late delivery) is a skipped tick saying why, not a
    failed run every such day."""
    schedule = defs.resolve_schedule_def("tier_b_daily_schedule")

    def tick(at: dt.datetime) -> object:
        context = dg.build_schedule_context(
            resources={"lake": LakeResource(root=lake.uri)}, scheduled_execution_time=at
        )
        return schedule(context)

    ran = tick(dt.datetime.fromisoformat(DAY1) + dt.timedelta(days=1, minutes=30))
    assert isinstance(ran, dg.RunRequest) and ran.partition_key == DAY1
    quiet = tick(dt.datetime(2020, 1, 2, 0, 30))
    assert isinstance(quiet, dg.SkipReason) and quiet.skip_message == (
        "no raw data for 2020-01-01 (yet): the raw-changes sensor, when on, runs the day once "
        "it arrives"
    )


def test_the_schedule_skips_a_day_made_before_its_tick(lake: Lake) -> None:
    """A day the command line or a backfill made before the tick was run again by the
    schedule, a run that changed nothing; a day whose raw data changed since, or whose report
    page is missing, is still run."""
    location = reporting(lake)
    at = dt.datetime.fromisoformat(DAY1) + dt.timedelta(days=1, minutes=30)

    def tick(defs: dg.Definitions) -> object:
        context = dg.build_schedule_context(
            resources={"lake": LakeResource(root=lake.uri)}, scheduled_execution_time=at
        )
        return defs.resolve_schedule_def("tier_b_daily_schedule")(context)

    run_all(lake, [DAY1])  # the tables, without the day's report page
    skipped = tick(TABLES)  # a location that draws no page
    assert isinstance(skipped, dg.SkipReason) and skipped.skip_message == (
        f"{DAY1} is up to date: its tables were made from its raw data and operators as they "
        "are now (by `trajectory-assets materialize`, a backfill or the sensor), so a run would "
        "change nothing"
    )
    assert isinstance(tick(location), dg.RunRequest)  # its page is missing
    job = location.resolve_job_def("tier_b_daily")
    page = [dg.AssetKey("daily_report")]
    assert job.execute_in_process(partition_key=DAY1, asset_selection=page).success
    assert isinstance(tick(location), dg.SkipReason)

    session = next(p for p in Path(lake.root, "raw_events", f"dt={DAY1}").rglob("session_id=*"))
    shutil.copy(next(session.glob("*.parquet")), session / "late-arrival.parquet")
    ran = tick(location)
    assert isinstance(ran, dg.RunRequest) and ran.partition_key == DAY1


def test_a_later_tick_of_the_same_day_does_not_run_yesterday_again(lake: Lake) -> None:
    """With a cron of several ticks a day, every tick ran yesterday again: Dagster keeps a
    schedule's run keys apart per tick only."""
    schedule = defs.resolve_schedule_def("tier_b_daily_schedule")
    with dg.instance_for_test() as instance:  # one a tick can reach
        _ticks_of_one_day(schedule, instance, lake)


def _ticks_of_one_day(
    schedule: dg.ScheduleDefinition, instance: dg.DagsterInstance, lake: Lake
) -> None:
    noon = dt.datetime.fromisoformat(f"{DAY1}T00:00:00+00:00") + dt.timedelta(days=1, hours=12)

    def tick(at: dt.datetime) -> object:
        with dg.build_schedule_context(
            instance=instance,
            resources={"lake": LakeResource(root=lake.uri)},
            scheduled_execution_time=at,
        ) as context:
            return schedule(context)

    first = tick(noon)
    assert isinstance(first, dg.RunRequest) and first.partition_key == DAY1

    def launched(status: dg.DagsterRunStatus, at: dt.datetime) -> dg.DagsterRun:
        return instance.create_run_for_job(
            defs.resolve_job_def("tier_b_daily"),
            status=status,
            tags={
                "dagster/schedule_name": schedule.name,
                "dagster/partition": DAY1,
                SCHEDULED_EXECUTION_TIME_TAG: at.isoformat(),  # as Dagster's scheduler tags
            },
        )

    failed = launched(dg.DagsterRunStatus.FAILURE, noon)
    assert isinstance(tick(noon + dt.timedelta(minutes=3)), dg.RunRequest), failed  # again
    run = launched(dg.DagsterRunStatus.NOT_STARTED, noon + dt.timedelta(minutes=3))
    # the same tick evaluated again after a crash: Dagster submits the run it made then
    assert isinstance(tick(noon + dt.timedelta(minutes=3)), dg.RunRequest)
    later = tick(noon + dt.timedelta(minutes=6))
    assert isinstance(later, dg.SkipReason) and later.skip_message is not None
    assert later.skip_message.startswith(
        f"{DAY1} was run by an earlier tick (run {run.run_id[:8]}, NOT_STARTED)"
    )
    assert isinstance(tick(noon + dt.timedelta(days=1)), dg.RunRequest)  # the next day's


def test_days_computed_by_an_earlier_version_of_the_operators_are_requested_again(
    lake: Lake,
) -> None:
    """After an upgrade the sensor found the days its earlier runs had computed stale, and
    Dagster skipped them for good: their run keys named the raw files alone, unchanged."""
    import trajectory_assets as ta
    from trajectory_assets.operators import OPERATORS, Sessionize

    class Earlier(Sessionize):
        version = f"{Sessionize.version}-earlier"

    before = [Earlier() if op.name == "sessionize" else op for op in OPERATORS]
    earlier = ta.build_definitions(before, name="tier_b", raw_source=True)
    context = dg.build_sensor_context(resources={"lake": LakeResource(root=lake.uri)})
    ticked = earlier.resolve_sensor_def("tier_b_daily_raw_changed")(context)
    assert isinstance(ticked, dg.SensorResult)
    launched = {r.run_key for r in ticked.run_requests or []}
    run_all(lake, [DAY1, DAY2], operators=before)  # the earlier version's runs
    requests = evaluate(lake)  # the current version
    assert [r.partition_key for r in requests] == [DAY1, DAY2]
    assert not launched & {r.run_key for r in requests}


def test_days_written_before_a_column_was_declared_are_requested_again(lake: Lake) -> None:
    """A column declared without a new version left the days written before without it: the
    run keys named the attempt keys alone, which the schema is no part of."""
    import pyarrow as pa

    import trajectory_assets as ta
    from trajectory_assets.operators import OPERATORS

    def counts(*extra: str) -> ta.Operator:
        class TurnCounts(ta.Operator):
            name, version, inputs = "turn_counts", "1", ("turns",)
            columns = [ta.column(c, pa.string(), "") for c in ("dt", "app_id", "session_id")]
            outputs = (
                ta.TableSpec(
                    "turn_counts",
                    pa.schema([*columns, *(ta.column(c, pa.int64(), "") for c in extra)]),
                    partition_by=("app_id",),
                    keys=("app_id", "session_id"),
                    description="One row per session.",
                ),
            )

            def transform(self, ctx: ta.OpContext, batch: ta.Batch) -> pa.Table:
                more = "".join(f", count(*) AS {c}" for c in extra)
                return batch.sql(f"SELECT dt, app_id, session_id{more} FROM turns GROUP BY ALL")

        return TurnCounts()

    def tick(*ops: ta.Operator) -> list[dg.RunRequest]:
        location = ta.build_definitions(ops, name="tier_b", raw_source=True)
        context = dg.build_sensor_context(resources={"lake": LakeResource(root=lake.uri)})
        ticked = location.resolve_sensor_def("tier_b_daily_raw_changed")(context)
        assert isinstance(ticked, dg.SensorResult)
        return list(ticked.run_requests or [])

    launched = {r.run_key for r in tick(*OPERATORS, counts())}
    run_all(lake, [DAY1, DAY2], operators=[*OPERATORS, counts()])
    assert tick(*OPERATORS, counts()) == []
    requests = tick(*OPERATORS, counts("n_turns"))
    assert [r.partition_key for r in requests] == [DAY1, DAY2]
    assert not launched & {r.run_key for r in requests}


def test_a_location_whose_lake_the_instance_does_not_record_requests_no_runs(
    lake: Lake, tmp_path: Path
) -> None:
    """Every run the sensor or schedule of another lake's location requested failed, and marked
    the instance's own lake's days failed in the UI (the asset keys are the same)."""
    resources = {"lake": LakeResource(root=lake.uri)}
    at = dt.datetime.fromisoformat(DAY1) + dt.timedelta(days=1, minutes=30)
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:  # DAGSTER_HOME untouched
        bind(instance, "/somewhere/else")
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            result = defs.resolve_sensor_def("tier_b_daily_raw_changed")(context)
        assert isinstance(result, dg.SensorResult) and not result.run_requests
        assert "records the lake /somewhere/else" in str(result.skip_reason)
        with dg.build_schedule_context(
            instance=instance, resources=resources, scheduled_execution_time=at
        ) as tick:  # closes the instance it opens from the reference, within this one
            skipped = defs.resolve_schedule_def("tier_b_daily_schedule")(tick)
        assert isinstance(skipped, dg.SkipReason)
        assert "records the lake /somewhere/else" in str(skipped.skip_message)


def test_a_day_whose_run_for_the_same_inputs_failed_is_said_not_requested_in_silence(
    lake: Lake, tmp_path: Path
) -> None:
    """Dagster runs a run key once: the day the failed run was for was called changed on every
    tick, and the tick said "0 runs requested" with no reason."""
    resources = {"lake": LakeResource(root=lake.uri)}
    sensor = TABLES.resolve_sensor_def("tier_b_daily_raw_changed")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            first = sensor(context)
        assert isinstance(first, dg.SensorResult) and first.run_requests
        failed = first.run_requests[0]
        tags = {"dagster/sensor_name": sensor.name, "dagster/run_key": str(failed.run_key)}
        instance.add_run(
            dg.DagsterRun(job_name="tier_b_daily", tags=tags, status=dg.DagsterRunStatus.FAILURE)
        )
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            again = sensor(context)
        assert isinstance(again, dg.SensorResult)
        assert [r.partition_key for r in again.run_requests or []] == [DAY2]  # still new
        run_all(lake, [DAY2])
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            said = sensor(context)
    assert isinstance(said, dg.SensorResult) and not said.run_requests
    assert said.skip_reason is not None
    message = said.skip_reason.skip_message or ""
    assert message.startswith(f"dt={DAY1}: already requested for these raw files and operators")
    assert "(FAILURE); a run key runs once" in message


def test_a_day_whose_report_page_is_missing_or_out_of_date_is_drawn_again(lake: Lake) -> None:
    """A run that failed or was stopped after its commits left the day's page failed: `--missing`
    picked it, the sensor called the day up to date for good."""
    location = reporting(lake)
    sensor = location.resolve_sensor_def("tier_b_daily_raw_changed")

    def requests() -> list[tuple[str | None, object]]:
        context = dg.build_sensor_context(resources={"lake": LakeResource(root=lake.uri)})
        ticked = sensor(context)
        assert isinstance(ticked, dg.SensorResult)
        return [(r.partition_key, r.asset_selection) for r in ticked.run_requests or []]

    run_all(lake, [DAY1, DAY2])  # the tables, without their pages
    page = [dg.AssetKey("daily_report")]
    assert requests() == [(DAY1, page), (DAY2, page)]
    job = location.resolve_job_def("tier_b_daily")
    assert job.execute_in_process(partition_key=DAY1, asset_selection=page).success
    assert requests() == [(DAY2, page)]


def test_a_tick_fails_a_dead_run_and_requests_no_second_run_of_a_day_in_flight(
    lake: Lake, tmp_path: Path
) -> None:
    """A run killed with its daemon stayed STARTED for good, holding the pool (every later run
    queued behind it), and each tick queued one more run of a day whose data kept arriving."""
    import subprocess

    from trajectory_assets.defs.dead_runs import WORKER_TAG
    from trajectory_assets.lake.wal_owners import this_machine

    killed = subprocess.Popen(["sleep", "60"])
    killed.kill()
    killed.wait()
    dead = f"{socket.gethostname()}:{killed.pid}:1"
    sensor = "tier_b_daily_raw_changed"
    runs = {
        "dead": (DAY1, dg.DagsterRunStatus.STARTED, {WORKER_TAG: f"dead {dead} {this_machine()}"}),
        "waiting": (DAY2, dg.DagsterRunStatus.NOT_STARTED, {}),  # as a queued one
    }
    resources = {"lake": LakeResource(root=lake.uri)}
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        bind(instance, lake.display())
        for run_id, (day, status, tags) in runs.items():
            labels = {"dagster/sensor_name": sensor, "dagster/partition": day, **tags}
            instance.add_run(
                dg.DagsterRun(job_name="tier_b_daily", run_id=run_id, status=status, tags=labels)
            )
        with dg.build_sensor_context(instance=instance, resources=resources) as context:
            result = TABLES.resolve_sensor_def(sensor)(context)
        failed = instance.get_run_by_id("dead")
        assert failed is not None and failed.status == dg.DagsterRunStatus.FAILURE
    assert isinstance(result, dg.SensorResult)
    assert [r.partition_key for r in result.run_requests or []] == [DAY1]  # its run ended
