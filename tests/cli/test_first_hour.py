"""A new user's first hour: an instance shows one lake's truth, a new instance can be brought up
to date from the lake, scattered history materializes with one command, and an unreadable raw
file is an error that names every bad file and the setting that skips them."""

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli.helpers import generate, materialize, new_dagster_home, on_lake
from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog
from tests.servers import free_port, wait_for_port
from trajectory_assets.lake.fs import Lake

DAY3 = "2026-11-20"


def test_an_instance_refuses_a_run_against_another_lake(tmp_path: Path, home: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    for lake in (first, second):
        generate(lake, home, days=1, sessions_per_day=5)
    sessions = ("--partition", DAY1, "--assets", "sessions")
    assert materialize(first, home, *sessions).returncode == 0
    refused = materialize(second, home, *sessions)
    assert refused.returncode == 1
    assert f"records the lake {first}, and this run writes {second}" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert not (second / "sessions").exists()
    dry = materialize(second, home, *sessions, "--dry-run")  # said it would run
    assert dry.returncode == 1 and "the run would be refused: this Dagster instance" in dry.stderr
    allowed = materialize(second, home, *sessions, "--allow-other-lake")
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    # the UI now shows the second lake's day: sync records the first's again (it said "known")
    synced = on_lake("sync", first, home)
    assert synced.returncode == 0, synced.stderr[-2000:]
    assert "sessions               1 day(s) recorded now,     0 already known" in synced.stdout


def test_a_dry_run_before_the_instance_exists(tmp_path: Path, home: Path) -> None:
    """A DAGSTER_HOME the run would create holds no lake yet (a dry run failed on it with
    Dagster's traceback); a relative one the run refuses, and so does the dry run."""
    lake = tmp_path / "lake"
    generate(lake, home, days=1, sessions_per_day=5)
    later = tmp_path / "not-yet"
    dry = materialize(lake, later, "--partition", DAY1, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-2000:]
    assert "would materialize 1 day(s)" in dry.stdout and not later.exists()
    relative = materialize(lake, Path("relative-home"), "--partition", DAY1, "--dry-run")
    assert relative.returncode == 1 and "Traceback" not in relative.stderr
    assert "DAGSTER_HOME must be an absolute path, not 'relative-home'" in relative.stderr
    (tmp_path / "a-file").touch()  # refused by the run: so by the dry run
    filed = materialize(lake, tmp_path / "a-file", "--partition", DAY1, "--dry-run")
    assert filed.returncode == 1 and "is a file, not a folder" in filed.stderr
    (tmp_path / "empty").mkdir()  # the run writes the project's settings first: no lake yet
    empty = materialize(lake, tmp_path / "empty", "--partition", DAY1, "--dry-run")
    assert empty.returncode == 0 and list((tmp_path / "empty").iterdir()) == []


def test_a_mistake_in_the_price_overrides_is_one_line(tmp_path: Path, home: Path) -> None:
    """A mistaken prices.yaml printed a traceback of 53 lines and stopped the code location
    from loading (the UI, schedule and sensor of every table)."""
    lake = tmp_path / "lake"
    generate(lake, home, days=1, sessions_per_day=5)
    (lake / "prices.yaml").write_text(
        "models:\n  gpt-4o: {input_per_mtok: 2, output_per_mtok: 8}\n"
        "  gpt-4o: {input_per_mtok: 25, output_per_mtok: 80}\n"
    )
    done = materialize(lake, home, "--partition", DAY1)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    said = "prices.yaml: not valid YAML (line 3): the key 'gpt-4o' is given twice\n"
    assert done.stderr == f"error: {said}", done.stderr  # said once, and no run created to fail
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_runs() == []
    unpriced = materialize(lake, home, "--partition", DAY1, "--assets", "decision_steps")
    assert unpriced.returncode == 0, unpriced.stderr  # its operator reads no prices
    (lake / "prices.yaml").write_bytes(b"models:\n  caf\xe9: {input_per_mtok: 1}\n")  # Latin-1
    latin = materialize(lake, home, "--partition", DAY1, "--dry-run")
    assert latin.returncode == 1 and "Traceback" not in latin.stderr
    assert f"{lake / 'prices.yaml'} is not UTF-8 text (byte 13)" in latin.stderr, latin.stderr


def test_a_lake_that_moved_is_made_the_instances_lake_by_sync(tmp_path: Path, home: Path) -> None:
    """Every command refused a lake moved to another folder, with no way forward but a new
    instance (forget's message named a flag it does not have)."""
    first, moved = tmp_path / "first", tmp_path / "moved"
    generate(first, home, days=1, sessions_per_day=5)
    assert materialize(first, home, "--partition", DAY1).returncode == 0
    shutil.move(first, moved)
    refused = on_lake("forget", moved, home, "--app-id", "a", "--session-id", "s", "--yes")
    assert refused.returncode == 1
    assert f"`trajectory-assets sync --lake {moved} --rebind`" in refused.stderr
    rebound = on_lake("sync", moved, home, "--rebind")
    assert rebound.returncode == 0, rebound.stderr[-2000:]
    assert f"the instance's lake is now {moved} (it was {first})" in rebound.stdout
    assert "sessions               1 day(s) recorded now,     0 already known" in rebound.stdout
    assert "daily_report           1 day(s) recorded now,     0 already known" in rebound.stdout
    again = materialize(moved, home, "--partition", DAY1, "--force")
    assert again.returncode == 0, again.stderr[-2000:]


def test_missing_materializes_scattered_days_then_nothing(tmp_path: Path, home: Path) -> None:
    lake = tmp_path / "lake"
    generate(lake, home, days=3, sessions_per_day=5)
    shutil.rmtree(lake / "raw_events" / f"dt={DAY2}")  # history with a gap
    first = materialize(lake, home, "--missing", "--dry-run")  # not "no report page"
    assert f"  {DAY1}: tables not materialized yet\n  {DAY3}: tables" in first.stdout
    assert materialize(lake, home, "--partition", DAY1, "--assets", "sessions").returncode == 0
    partly = materialize(lake, home, "--missing", "--dry-run")  # named, not "no report page"
    assert f"  {DAY1}: tables missing or stale (compact, turn_features, " in partly.stdout
    done = materialize(lake, home, "--missing")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("succeeded") == 2  # one run per stretch of consecutive days
    catalog = lake_catalog(Lake(str(lake)))
    assert catalog.days("sessions") == [DAY1, DAY3]
    again = materialize(lake, home, "--missing")
    assert again.returncode == 0 and "nothing to do" in again.stdout
    late_session = lake / "raw_events" / f"dt={DAY3}" / "app_id=late" / "session_id=x"
    late_session.mkdir(parents=True)
    events = pq.read_table(next((lake / "raw_events" / f"dt={DAY1}").rglob("*.parquet")))
    for key, value in (("app_id", "late"), ("session_id", "x")):  # the keys its folder names
        at = events.schema.get_field_index(key)
        events = events.set_column(at, key, pa.array([value] * events.num_rows, pa.string()))
    pq.write_table(events, late_session / "late.parquet")
    dry = materialize(lake, home, "--missing", "--assets", "sessions", "--dry-run")
    assert dry.returncode == 0
    assert dry.stdout == (
        f"would materialize 1 day(s) in 1 run(s): {DAY3}\n"
        f"  {DAY3}: tables missing or stale (sessionize: its inputs changed since: raw files or "
        "input tables of the day)\n"
        "assets: sessions, turns, errors, rejected_events, llm_calls, tool_calls\n"
        "nothing run (dry run); `explain TABLE` shows a day's plan\n"
    )
    late = materialize(lake, home, "--missing")
    assert late.returncode == 0 and late.stdout.count("succeeded") == 1
    assert f"{DAY3}" in late.stdout and f"for {DAY1}" not in late.stdout
    # a day whose report is missing (failed, or a run of some tables only): the report again
    shutil.rmtree(lake / "reports" / f"dt={DAY1}")
    tables_only = materialize(lake, home, "--missing", "--assets", "sessions")
    assert tables_only.returncode == 0 and "nothing to do" in tables_only.stdout
    report = materialize(lake, home, "--missing")
    assert report.returncode == 0 and report.stdout.count("succeeded") == 1
    assert (lake / "reports" / f"dt={DAY1}" / "report.html").exists()


def test_a_failed_stretch_of_days_does_not_stop_the_others(tmp_path: Path, home: Path) -> None:
    """As a backfill goes on past a failed partition: the later stretch runs, is summarised,
    and the command ends with the failure and status 1."""
    lake = tmp_path / "lake"
    generate(lake, home, days=3, sessions_per_day=5)
    shutil.rmtree(lake / "raw_events" / f"dt={DAY2}")  # two stretches: DAY1, and DAY3
    bad = next((lake / "raw_events" / f"dt={DAY1}").rglob("*.parquet"))
    bad.write_bytes(bad.read_bytes()[:100])
    done = materialize(lake, home, "--missing")
    assert done.returncode == 1
    assert "failed (its error is shown at the end); going on" in done.stdout
    assert done.stdout.count("succeeded") == 1 and f"table              {DAY3}" in done.stdout
    assert "\nerror: run " in f"\n{done.stderr}" and bad.name in done.stderr
    assert "Dependencies for step" not in done.stderr  # Dagster's line of the skipped report
    assert lake_catalog(Lake(str(lake))).days("sessions") == [DAY3]


@pytest.mark.slow
def test_every_bad_file_is_named_with_the_setting_that_skips_them(
    tmp_path: Path, home: Path
) -> None:
    lake = tmp_path / "lake"
    generate(lake, home, days=1, sessions_per_day=20)
    files = sorted((lake / "raw_events" / f"dt={DAY1}").rglob("*.parquet"))
    broken = [files[0], files[-1]]  # in different batches of different apps
    for path in broken:
        path.write_bytes(path.read_bytes()[:100])
    failed = materialize(lake, home, "--partition", DAY1, process=True)  # all of its stderr
    assert failed.returncode == 1
    for path in broken:
        assert path.name in failed.stderr and str(path.parent.name) in failed.stderr
    assert "2 raw file(s) cannot be read" in failed.stderr
    assert "--on-bad-file skip" in failed.stderr and "Traceback" not in failed.stderr
    assert "\x1b[" not in failed.stderr  # no terminal colour codes
    assert "STEP_FAILURE" not in failed.stderr and "dagster._core" not in failed.stderr
    # the setting as the environment gives it, for the command line too
    skipped = materialize(lake, home, "--partition", DAY1, TRAJECTORY_ASSETS_ON_BAD_FILE="skip")
    assert skipped.returncode == 0, skipped.stderr[-2000:]
    assert "skipped 2 unreadable raw file(s)" in skipped.stdout
    for path in broken:
        assert f"{path.parent.name}/{path.name}: cannot be read" in skipped.stdout
    # the day is current for runs that skip bad files, however they are told to
    by_flag = materialize(lake, home, "--missing", "--on-bad-file", "skip")
    by_env = materialize(lake, home, "--missing", TRAJECTORY_ASSETS_ON_BAD_FILE="skip")
    for again in (by_flag, by_env):
        assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout
    # and stale for a run that fails on them, which names them again
    strict = materialize(lake, home, "--missing")
    assert strict.returncode == 1 and "2 raw file(s) cannot be read" in strict.stderr


def test_today_materializes_while_it_fills_up_and_the_report_alone_too(
    tmp_path: Path, home: Path
) -> None:
    lake = tmp_path / "lake"
    today = dt.datetime.now(dt.UTC).date().isoformat()
    size = ("--days", "1", "--sessions-per-day", "5")
    generated = on_lake("generate", lake, home, "--start", today, *size)
    assert generated.returncode == 0 and "some lie in the future" in generated.stderr
    done = materialize(lake, home, "--partition", today)
    assert done.returncode == 0, done.stderr[-2000:]
    report = lake / "reports" / f"dt={today}" / "report.html"
    assert f"daily report: {report}" in done.stdout and report.exists()
    again = materialize(lake, home, "--partition", today, "--assets", "daily_report")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Traceback" not in again.stderr and f"daily report: {report}" in again.stdout


@pytest.mark.slow
def test_sync_shows_a_lake_in_a_new_instance_and_the_ui_sees_it(
    materialized_lake: Path, tmp_path: Path
) -> None:
    lake = shutil.copytree(materialized_lake, tmp_path / "lake")  # two days, every table
    fresh = new_dagster_home(tmp_path / "fresh_home")  # a new (or lost) instance knows nothing
    synced = on_lake("sync", lake, fresh)
    assert synced.returncode == 0, synced.stderr[-2000:]
    assert "raw_events: 2 day(s) observed now" in synced.stdout
    assert "sessions               2 day(s) recorded now" in synced.stdout
    assert "daily_report           2 day(s) recorded now" in synced.stdout
    again = on_lake("sync", lake, fresh)  # records nothing new, raw days included
    assert "raw_events: 0 day(s) observed now" in again.stdout
    assert "sessions               0 day(s) recorded now,     2 already known" in again.stdout
    assert "daily_report           0 day(s) recorded now,     2 already known" in again.stdout
    with dg.DagsterInstance.from_config(str(fresh)) as instance:
        observed = instance.fetch_observations(dg.AssetKey("raw_events"), limit=10).records
        assert sorted(r.partition_key or "" for r in observed) == [DAY1, DAY2]

    port = free_port()
    env = {**os.environ, "DAGSTER_HOME": str(fresh), "TRAJECTORY_ASSETS_LAKE": str(lake)}
    webserver = str(Path(sys.executable).parent / "dagster-webserver")
    server = subprocess.Popen(
        [webserver, "-m", "trajectory_assets.definitions", "-h", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, timeout=120)
        query = """query($key: AssetKeyInput!) { assetNodeOrError(assetKey: $key) {
            ... on AssetNode { partitionStats { numMaterialized numPartitions } } } }"""
        stats = {}
        for table in ("sessions", "turns", "raw_compacted", "daily_report"):
            body = json.dumps({"query": query, "variables": {"key": {"path": [table]}}}).encode()
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/graphql", body, {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=60) as response:
                stats[table] = json.load(response)["data"]["assetNodeOrError"]["partitionStats"]
        assert all(s["numMaterialized"] == 2 for s in stats.values()), stats
    finally:
        server.terminate()
        server.wait(timeout=30)
