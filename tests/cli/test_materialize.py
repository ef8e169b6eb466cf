"""`materialize` (and the `dagster` CLI on the same definitions), as users script them."""

import datetime as dt
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
import yaml

from tests.cli.defs_sources import DYING
from tests.cli.helpers import CLI, generate, materialize, on_lake, run
from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog
from tests.servers import free_port
from trajectory_assets.cli.instance import INSTANCE_SETTINGS
from trajectory_assets.defs.assets import POOL
from trajectory_assets.defs.config import launchpad_config
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS, TABLES


@pytest.mark.slow
def test_generate_then_materialize_a_range_is_recorded_in_the_instance(
    tmp_path: Path, home: Path
) -> None:
    lake = tmp_path / "lake"
    generated = generate(lake, home, days=2, sessions_per_day=40)
    assert "wrote 80 sessions" in generated.stdout

    done = materialize(lake, home, "--from", DAY1, "--to", DAY2)
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    for step in ("checking", "recording"):  # what a range does after its commits, minutes at
        assert f"  {step} 2 day(s) of " in done.stderr  # a year, is said as it starts
    assert "sessions" in done.stdout and "40" in done.stdout
    catalog = lake_catalog(Lake(str(lake)))
    for table in TABLES:
        assert catalog.days(table) == [DAY1, DAY2]
    queried = on_lake("query", lake, home, "SELECT count(*) FROM sessions")
    assert queried.returncode == 0, queried.stderr
    assert "80" in queried.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert len(instance.get_runs()) == 1
        for day in (DAY1, DAY2):
            key = dg.AssetKey("sessions")
            assert instance.get_materialized_partitions(key) >= {day}


@pytest.mark.slow
def test_failure_exits_non_zero_naming_the_bad_file(tmp_path: Path, home: Path) -> None:
    lake = tmp_path / "lake"
    generate(lake, home, sessions_per_day=5)
    bad = lake / "raw_events" / f"dt={DAY1}" / "app_id=support-bot" / "session_id=broken"
    bad.mkdir(parents=True)
    (bad / "part-0.parquet").write_bytes(b"not parquet at all")
    day_of_sessions = ("--partition", DAY1, "--assets", "sessions")
    failed = materialize(lake, home, *day_of_sessions)
    assert failed.returncode == 1
    assert "session_id=broken/part-0.parquet" in failed.stderr
    assert "cannot be read as Parquet" in failed.stderr

    skipped = materialize(lake, home, *day_of_sessions, "--on-bad-file", "skip")
    assert skipped.returncode == 0, skipped.stderr

    day = lake / "raw_events" / f"dt={DAY1}"
    shutil.move(day, tmp_path / "moved")
    day.symlink_to(tmp_path / "gone")  # a day folder linked to data that is not there
    broken = materialize(lake, home, *day_of_sessions, process=True)  # all of its stderr
    assert broken.returncode == 1
    assert f"{day} is a symbolic link to {tmp_path / 'gone'}, which cannot be" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_clear_errors_for_bad_arguments(tmp_path: Path, home: Path) -> None:
    lake = tmp_path / "lake"
    lake.mkdir()  # a new lake: nothing in it yet
    unknown = materialize(lake, home, "--partition", DAY1, "--assets", "nope", runtime=None)
    assert unknown.returncode == 1
    assert "unknown asset 'nope'" in unknown.stderr
    assert ", turns, daily_report; a table of your own is known with its module: --defs " in (
        unknown.stderr  # every asset it takes, and how to name one's own
    )
    raw = materialize(lake, home, "--partition", DAY1, "--assets", "raw_events", runtime=None)
    assert raw.returncode == 1  # an asset of the UI, "unknown" here
    assert raw.stderr.startswith(
        "error: raw_events is the raw data, which ingest, serve and the event logger write and "
        "no run computes; assets are: "
    )
    assert "a table of your own is known with its module" not in raw.stderr
    empty = materialize(lake, home, "--partition", DAY1, "--assets", " , ", runtime=None)
    assert empty.returncode == 2 and "--assets names no asset" in empty.stderr
    no_home = materialize(lake, home, "--partition", DAY1, runtime=None, DAGSTER_HOME="")
    assert no_home.returncode == 1
    assert "DAGSTER_HOME is not set" in no_home.stderr
    relative = materialize(lake, home, "--partition", DAY1, runtime=None, DAGSTER_HOME="dh")
    assert relative.returncode == 1
    assert "DAGSTER_HOME must be an absolute path, not 'dh'" in relative.stderr
    assert "Traceback" not in relative.stderr
    no_raw = materialize(lake, home, "--partition", "2001-01-01", runtime=None)
    assert no_raw.returncode == 1
    assert "no raw data for 2001-01-01" in no_raw.stderr and "--missing" in no_raw.stderr
    assert "still to come" not in no_raw.stderr
    ahead = materialize(lake, home, "--partition", "2999-01-01", runtime=None)
    assert ahead.returncode == 1
    assert "no raw data for 2999-01-01 in " in ahead.stderr
    assert ": 2999-01-01 is still to come (today is " in ahead.stderr
    (lake / "raw_events" / "dt=2001-01-01").mkdir(parents=True)  # an empty day, but ...
    (lake / "trajectory_assets.json").write_text('{"start_date": "2025-01-01"}')
    too_early = materialize(lake, home, "--partition", "2001-01-01", runtime=None)
    assert too_early.returncode == 1
    assert "before the lake's first partition, 2025-01-01" in too_early.stderr
    # --missing leaves such a day out, with a note, instead of failing every day with it
    (lake / "raw_events" / f"dt={DAY1}").mkdir()  # an empty day: it materializes
    (lake / "raw_events" / "dt=2999-01-01").mkdir()  # a clock far ahead: no partition yet
    (lake / "raw_events" / "dt=1970-01-01").mkdir()  # untimed events: no start date covers it
    missing = materialize(lake, home, "--missing", runtime="inline")
    assert missing.returncode == 0, missing.stderr
    assert "note: leaving out 2001-01-01, before the lake's first partition" in missing.stderr
    assert (
        "note: leaving out 1970-01-01, the day of events without a time (in no partition): "
        "`ingest --synthetic-date DAY`"
    ) in missing.stderr
    assert "note: leaving out 2999-01-01, after the last partition, today (" in missing.stderr
    # not "every day is up to date": 2001 is in no table
    again = materialize(lake, home, "--missing", runtime="inline")
    assert again.returncode == 0 and again.stdout.startswith(
        "nothing to do from the first partition, 2025-01-01, to today; raw data of 2001-01-01 "
        "before it is in no table until the lake's start_date (trajectory_assets.json, or "
        "TRAJECTORY_ASSETS_START_DATE) is moved back"
    ), again.stdout
    for command in ("materialize", "explain"):  # a day of a clock ahead, named: refused
        args = ["sessions"] if command == "explain" else []
        ahead = on_lake(command, lake, home, *args, "--partition", "2999-01-01")
        assert ahead.returncode == 1, command
        assert "2999-01-01 is after the last partition, today (" in ahead.stderr, command
    assert lake_catalog(Lake(str(lake))).days("sessions") == [DAY1]
    (tmp_path / "unmounted").mkdir()  # a cron job's mount point, empty: not a lake up to date
    unmounted = on_lake("materialize", tmp_path / "unmounted", home, "--missing")
    assert unmounted.returncode == 1 and "nothing to do" not in unmounted.stdout
    assert f"this Dagster instance records the lake {lake}, and this run" in unmounted.stderr
    (lake / "raw_events" / "dt=2026-11-1").mkdir()  # data no day lists: not left out unseen
    misnamed = materialize(lake, home, "--missing", "--dry-run", runtime=None)
    assert misnamed.returncode == 0, misnamed.stderr
    assert (
        f"warning: 1 raw folder(s) or file(s) name no day, so their data is in no table: "
        f"{lake / 'raw_events' / 'dt=2026-11-1'}; raw data goes in day folders, `dt=` (lower "
        "case) and the day as YYYY-MM-DD"
    ) in misnamed.stderr


@pytest.mark.slow
def test_dagster_cli_materializes_a_partition(tmp_path: Path, home: Path) -> None:
    lake = tmp_path / "lake"
    generate(lake, home, sessions_per_day=20)
    dagster = str(Path(sys.executable).parent / "dagster")
    done = run(
        [
            dagster,
            "asset",
            "materialize",
            "-m",
            "trajectory_assets.definitions",
            "--select",
            "sessions,decision_steps",
            "--partition",
            DAY1,
        ],
        home,
        TRAJECTORY_ASSETS_LAKE=str(lake),
        TRAJECTORY_ASSETS_RUNTIME="inline",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    catalog = lake_catalog(Lake(str(lake)))
    assert catalog.state("sessions", DAY1).rows == 20  # type: ignore[union-attr]
    assert catalog.days("decision_steps") == [DAY1]
    assert catalog.days("turns") == [DAY1]  # siblings are always committed together
    assert catalog.days("eval_runs") == []  # not selected, not computed


def test_day_options_that_do_not_name_days_are_refused(tmp_path: Path, home: Path) -> None:
    both = materialize(
        tmp_path, home, "--partition", DAY1, "--from", DAY1, "--to", DAY2, runtime=None
    )
    assert "not both" in both.stderr
    half = materialize(tmp_path, home, "--from", DAY1, runtime=None)
    assert "give --partition DAY, or --from DAY and --to DAY" in half.stderr
    backwards = materialize(tmp_path, home, "--from", DAY2, "--to", DAY1, runtime=None)
    assert f"--to {DAY1} is before --from {DAY2}" in backwards.stderr
    with_missing = materialize(tmp_path, home, "--partition", DAY1, "--missing", runtime=None)
    assert "or --missing, not both" in with_missing.stderr
    nothing = materialize(tmp_path, home, runtime=None)
    assert "give --partition DAY, or --from DAY and --to DAY, or --missing" in nothing.stderr
    not_a_day = materialize(tmp_path, home, "--partition", "2026-02-30", runtime=None)
    assert "not a date (YYYY-MM-DD): '2026-02-30'" in not_a_day.stderr
    for failed in (both, half, backwards, with_missing, nothing, not_a_day):
        # usage errors, as click gives a bad value: status 2, the usage line, no traceback
        assert failed.returncode == 2, failed.stderr
        assert failed.stderr.startswith("Usage: trajectory-assets materialize")
        assert "Traceback" not in failed.stderr


def test_a_missing_lake_is_named(tmp_path: Path, home: Path) -> None:
    missing = tmp_path / "no_such_lake"
    done = materialize(missing, home, "--partition", DAY1, runtime=None)
    assert done.returncode == 1
    assert f"error: no lake at {missing}" in done.stderr


def _assert_quiet_success(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, done.stderr[-3000:]
    assert "succeeded" in done.stdout
    noisy = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if "Warning" in line or "WARNING" in line
    ]
    assert noisy == []


@pytest.mark.slow
def test_a_normal_run_prints_no_warnings(tmp_path: Path, home: Path) -> None:
    lake = tmp_path / "lake"
    generate(lake, home)
    command = ["materialize", "--lake", str(lake), "--partition", DAY1, "--runtime", "inline"]
    (home / "dagster.yaml").unlink(missing_ok=True)  # as a new DAGSTER_HOME is
    first = run([*CLI, *command], home)
    _assert_quiet_success(first)
    assert f"note: {home} had no dagster.yaml: wrote the project's instance" in first.stderr
    assert "one step at a time in every pool without a limit of its own" in first.stderr
    assert "Telemetry" not in first.stderr  # Dagster's notice, off with those settings
    assert (home / "dagster.yaml").read_text() == INSTANCE_SETTINGS.read_text()
    # and -v shows what was hidden: Dagster's own warnings (a dry run loads the same code)
    loud = run([*CLI, "-v", *command, "--force", "--dry-run"], home)
    assert loud.returncode == 0, loud.stderr[-3000:]
    assert "Warning" in loud.stderr and "had no dagster.yaml" not in loud.stderr
    assert "sets no limit" not in first.stderr + loud.stderr
    # a team's own instance, whose settings limit no pool: said, with how to set one
    own = tmp_path / "own-home"
    own.mkdir()
    (own / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    unlimited = materialize(lake, own, "--partition", DAY1, "--assets", "sessions")
    assert unlimited.returncode == 0, unlimited.stderr
    assert (
        f"note: this Dagster instance sets no limit for the {POOL} pool, so runs of the lake may "
        f"write at once and forget may delete files under a run: `dagster instance concurrency "
        f"set {POOL} 1` sets one" in unlimited.stderr
    )


@pytest.mark.slow
def test_a_normal_run_on_ray_prints_no_warnings_nor_ray_logs(tmp_path: Path, home: Path) -> None:
    lake = tmp_path / "lake"
    generate(lake, home)
    done = materialize(
        lake, home, "--partition", DAY1, "--num-cpus", "1", runtime="ray", process=True
    )
    _assert_quiet_success(done)
    assert "on the ray runtime" in done.stdout  # not `auto`, which picks in-process here
    assert "Started a local Ray instance" not in done.stderr
    assert "streaming_executor" not in done.stderr  # Ray Data's log of each dataset


@pytest.mark.slow
def test_a_ray_worker_killed_is_one_error_line_naming_the_operator(
    tmp_path: Path, home: Path
) -> None:
    """A worker killed for memory printed three of Ray's tracebacks (86 lines), and the error
    line was Ray's ActorDiedError, naming neither the operator nor the day."""
    lake = tmp_path / "lake"
    generate(lake, home, sessions_per_day=10)
    (tmp_path / "dying_defs.py").write_text(DYING)
    args = ("--defs", "dying_defs", "--assets", "dying", "--partition", DAY1, "--num-cpus", "1")
    done = materialize(lake, home, *args, runtime="ray", process=True, PYTHONPATH=str(tmp_path))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"Ray's batch workers running dying on {DAY1} failed (ActorDiedError: " in done.stderr
    assert len(done.stderr.splitlines()) <= 5, done.stderr


@pytest.mark.slow
def test_a_ray_address_that_cannot_be_reached_is_named(tmp_path: Path, home: Path) -> None:
    lake = tmp_path / "lake"
    generate(lake, home)
    args = ("--partition", DAY1, "--ray-address", "bogus")
    done = materialize(lake, home, *args, runtime="ray", process=True)  # a Ray of its own
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "cannot reach the Ray cluster at 'bogus'" in done.stderr
    assert "TRAJECTORY_ASSETS_RAY_ADDRESS" in done.stderr

    nobody = f"127.0.0.1:{free_port()}"  # ray.init would retry it for minutes
    started = time.monotonic()
    done = materialize(
        lake,
        home,
        "--partition",
        DAY1,
        runtime="ray",
        process=True,
        TRAJECTORY_ASSETS_RAY_ADDRESS=nobody,
    )
    assert time.monotonic() - started < 60
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert f"cannot reach the Ray cluster at '{nobody}'" in done.stderr
    assert f"nothing answers at {nobody}" in done.stderr


def test_a_ray_client_address_is_refused_before_anything_runs(tmp_path: Path, home: Path) -> None:
    client = materialize(tmp_path, home, "--partition", DAY1, "--ray-address", "ray://head:10001")
    assert client.returncode == 2, client.stderr
    assert "Ray Data does not run over Ray Client" in client.stderr
    assert "host:6379" in client.stderr


@pytest.mark.slow
def test_a_data_file_deleted_by_hand_is_named_and_force_repairs_the_day(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    lake = shutil.copytree(materialized_lake, tmp_path / "lake")
    catalog = lake_catalog(Lake(str(lake)))
    rows = catalog.read("sessions", dt=DAY1).num_rows
    (lost,) = catalog.files("sessions", DAY1)[:1]
    (lake / "sessions" / lost.path).unlink()
    fix = f"materialize --lake {lake} --partition {DAY1} --assets sessions --force"
    query = on_lake("query", lake, home, "select count(*) from sessions")
    assert query.returncode == 1 and "Traceback" not in query.stderr
    assert query.stderr.startswith(f"error: sessions dt={DAY1}: a data file of the current ")
    assert lost.path in query.stderr and fix in query.stderr
    args = ("--partition", DAY1, "--assets", "sessions")
    again = materialize(lake, home, *args)  # up to date, as far as the log says
    assert again.returncode == 1 and fix in again.stderr and "Traceback" not in again.stderr
    forced = materialize(lake, home, *args, "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]
    assert lake_catalog(Lake(str(lake))).read("sessions", dt=DAY1).num_rows == rows


def test_a_config_file_sets_what_the_launchpad_sets(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """`--config` reaches the run (a check threshold of zero fails the check), and a key the
    run has no use for, a flag's setting or a value of the wrong type is one error line, which
    a dry run gives too (it said the run would go ahead)."""
    lake = shutil.copytree(materialized_lake, tmp_path / "lake")
    args = ("--partition", DAY1, "--assets", "sessions")

    def with_config(text: str, *more: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / "config.yaml"
        path.write_text(text)
        return materialize(lake, home, *args, *more, "--config", str(path))

    strict = with_config("max_rejected_share: 0.0\nsessionize: {identical_run_threshold: 5}\n")
    assert strict.returncode == 1, strict.stderr[-3000:]
    assert f"check failed (ERROR): rejected_events rejected_share on {DAY1}: " in strict.stderr
    copied = launchpad_config(OPERATORS, "tier_b")  # as the UI shows it, every default in it
    copied["ops"]["tier_b"]["config"]["max_rejected_share"] = 0.0
    pasted = with_config(yaml.safe_dump(copied))
    assert pasted.returncode == 1, pasted.stderr[-3000:]
    assert f"check failed (ERROR): rejected_events rejected_share on {DAY1}: " in pasted.stderr
    wrong = {
        "sessionise: {x: 1}\n": "'sessionise' is neither a setting (batch_bytes, ",
        "on_bad_file: skip\n": "on_bad_file has a flag of its own: use --on-bad-file",
        "sessionize: {identical_run_threshold: many}\n": "sessionize.identical_run_threshold: "
        "Input should be a valid integer",
        "ops: {tier_c: {config: {}}}\n": "ops ['tier_c'] are not assets of this run (",
        "retention_hours: -1\n": "retention_hours: Input should be greater than or equal to 0 "
        "(got -1)",
        "sessionize: {identical_run_threshhold: 5}\n": "sessionize has no parameter(s) "
        "['identical_run_threshhold'] (its parameters: identical_run_threshold, ",
    }
    for text, message in wrong.items():
        done = with_config(text)
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert "materializing" not in done.stdout  # refused before any run starts
        assert done.stderr.startswith(f"error: --config {tmp_path / 'config.yaml'}: ")
        assert message in done.stderr, done.stderr
        dry = with_config(text, "--dry-run")
        assert dry.returncode == 1 and "Traceback" not in dry.stderr
        assert dry.stderr.startswith(
            f"error: the run would be refused: --config {tmp_path / 'config.yaml'}: "
        )
        assert message in dry.stderr, dry.stderr
    assert with_config("sessionize: {identical_run_threshold: 5}\n", "--dry-run").returncode == 0


SESSION_COUNTS = '''
import pyarrow as pa
import trajectory_assets as ta


class SessionCounts(ta.Operator):
    """Events per session, counted as {kind}."""

    name, version, inputs = "session_counts", "{version}", ("sessions",)
    outputs = (
        ta.TableSpec(
            "session_counts",
            pa.schema(
                [
                    ta.column("dt", pa.string(), "Day."),
                    ta.column("app_id", pa.string(), ""),
                    ta.column("session_id", pa.string(), ""),
                    ta.column("n", pa.{kind}(), ""),
                ]
            ),
            partition_by=("app_id",),
            keys=("app_id", "session_id"),
            description="One row per session.",
        ),
    )

    def transform(self, ctx, batch):
        return batch.sql("SELECT dt, app_id, session_id, n_events::{sql} AS n FROM sessions")


operators = [SessionCounts()]
'''


def test_a_new_schema_is_written_across_days_without_raw_data(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command runs each stretch of days as a run of its own: a new type, which needs every
    day of the table written again, is written by one command across a day without raw data
    (each run refused it, as leaving the other stretch's days of the old type); a dry run of
    fewer days says the run would be refused."""
    lake = tmp_path / "lake"
    generate(lake, home, days=3, sessions_per_day=5)
    gap = (dt.date.fromisoformat(DAY1) + dt.timedelta(days=1)).isoformat()
    last = (dt.date.fromisoformat(DAY1) + dt.timedelta(days=2)).isoformat()
    shutil.rmtree(lake / "raw_events" / f"dt={gap}")
    monkeypatch.syspath_prepend(str(tmp_path))
    for module, kind, sql, version in (
        ("counts_v1", "int64", "BIGINT", "1"),
        ("counts_v2", "float64", "DOUBLE", "2"),
    ):
        text = SESSION_COUNTS.replace("{kind}", kind).replace("{sql}", sql)
        (tmp_path / f"{module}.py").write_text(text.replace("{version}", version))
    alone = ("--defs", "counts_v1", "--assets", "session_counts")
    for days in (("--missing",), ("--partition", DAY1, "--dry-run")):  # a traceback, a "would"
        unread = materialize(lake, home, *alone, *days)
        assert unread.returncode == 1, unread.stderr
        assert f"session_counts dt={DAY1} reads sessions dt={DAY1}, which has not been " in (
            unread.stderr
        )
    first = materialize(lake, home, "--missing", "--defs", "counts_v1")
    assert first.returncode == 0, first.stderr
    only = ("--defs", "counts_v2", "--assets", "session_counts")
    partial = materialize(lake, home, *only, "--partition", last, "--dry-run")
    assert partial.returncode == 1
    assert "the run would be refused: session_counts: operator session_counts now declares n: " in (
        partial.stderr
    )
    assert f"days outside this run (1: {DAY1} .. {DAY1})" in partial.stderr
    whole = materialize(lake, home, *only, "--missing", "--dry-run")
    assert whole.returncode == 0, whole.stderr
    assert f"would materialize 2 day(s) in 2 run(s): {DAY1}; {last}" in whole.stdout
    done = materialize(lake, home, *only, "--missing")
    assert done.returncode == 0, done.stderr
    table = pl.read_delta(str(lake / "session_counts"))  # one type on every day
    assert table.schema["n"] == pl.Float64 and sorted(set(table["dt"])) == [DAY1, last]
