"""The command line and the `dagster` CLI, as users script them, in real subprocesses."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from tests.lakes import DAY1, DAY2
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.schema import TABLES

CLI = [sys.executable, "-m", "trajectory_assets.cli"]


def run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DAGSTER_HOME": str(home), **env}
    return subprocess.run(args, capture_output=True, text=True, env=environment, timeout=300)


@pytest.fixture()
def home(tmp_path: Path) -> Path:
    path = tmp_path / "dagster_home"
    path.mkdir()
    return path


@pytest.mark.slow
def test_generate_then_materialize_a_range_is_recorded_in_the_instance(
    tmp_path: Path, home: Path
) -> None:
    lake = tmp_path / "lake"
    generated = run(
        [
            *CLI,
            "generate",
            "--lake",
            str(lake),
            "--start",
            DAY1,
            "--days",
            "2",
            "--sessions-per-day",
            "40",
        ],
        home,
    )
    assert generated.returncode == 0, generated.stderr
    assert "wrote 80 sessions" in generated.stdout

    done = run(
        [
            *CLI,
            "materialize",
            "--lake",
            str(lake),
            "--from",
            DAY1,
            "--to",
            DAY2,
            "--runtime",
            "inline",
        ],
        home,
    )
    assert done.returncode == 0, done.stderr
    assert "succeeded" in done.stdout
    assert "sessions" in done.stdout and "40" in done.stdout
    catalog = Catalog(Lake(str(lake)))
    for table in TABLES:
        assert catalog.days(table) == [DAY1, DAY2]
    queried = run([*CLI, "query", "--lake", str(lake), "SELECT count(*) FROM sessions"], home)
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
    assert (
        run(
            [
                *CLI,
                "generate",
                "--lake",
                str(lake),
                "--start",
                DAY1,
                "--days",
                "1",
                "--sessions-per-day",
                "5",
            ],
            home,
        ).returncode
        == 0
    )
    bad = lake / "raw_events" / f"dt={DAY1}" / "app_id=support-bot" / "session_id=broken"
    bad.mkdir(parents=True)
    (bad / "part-0.parquet").write_bytes(b"not parquet at all")
    failed = run(
        [
            *CLI,
            "materialize",
            "--lake",
            str(lake),
            "--partition",
            DAY1,
            "--runtime",
            "inline",
            "--assets",
            "sessions",
        ],
        home,
    )
    assert failed.returncode == 1
    assert "session_id=broken/part-0.parquet" in failed.stderr
    assert "cannot be read as Parquet" in failed.stderr

    skipped = run(
        [
            *CLI,
            "materialize",
            "--lake",
            str(lake),
            "--partition",
            DAY1,
            "--runtime",
            "inline",
            "--assets",
            "sessions",
            "--on-bad-file",
            "skip",
        ],
        home,
    )
    assert skipped.returncode == 0, skipped.stderr


def test_clear_errors_for_bad_arguments(tmp_path: Path, home: Path) -> None:
    unknown = run(
        [*CLI, "materialize", "--lake", str(tmp_path), "--partition", DAY1, "--assets", "nope"],
        home,
    )
    assert unknown.returncode == 1
    assert "unknown asset 'nope'" in unknown.stderr
    no_home = run(
        [*CLI, "materialize", "--lake", str(tmp_path), "--partition", DAY1], home, DAGSTER_HOME=""
    )
    assert no_home.returncode == 1
    assert "DAGSTER_HOME is not set" in no_home.stderr
    too_early = run(
        [*CLI, "materialize", "--lake", str(tmp_path), "--partition", "2001-01-01"], home
    )
    assert too_early.returncode == 1
    assert "not daily partitions" in too_early.stderr


@pytest.mark.slow
def test_dagster_cli_materializes_a_partition(tmp_path: Path, home: Path) -> None:
    lake = tmp_path / "lake"
    assert (
        run(
            [
                *CLI,
                "generate",
                "--lake",
                str(lake),
                "--start",
                DAY1,
                "--days",
                "1",
                "--sessions-per-day",
                "20",
            ],
            home,
        ).returncode
        == 0
    )
    dagster = str(Path(sys.executable).parent / "dagster")
    done = run(
        [
            dagster,
            "asset",
            "materialize",
            "-m",
            "trajectory_assets.definitions",
            "--select",
            "sessions,turns,errors,rejected_events,decision_steps",
            "--partition",
            DAY1,
        ],
        home,
        TRAJECTORY_ASSETS_LAKE=str(lake),
        TRAJECTORY_ASSETS_RUNTIME="inline",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    catalog = Catalog(Lake(str(lake)))
    assert catalog.manifest("sessions", DAY1)["rows"] == 20  # type: ignore[index]
    assert catalog.days("decision_steps") == [DAY1]


@pytest.mark.slow
@pytest.mark.ray
def test_demo_command_materializes_every_table_for_every_day(tmp_path: Path, home: Path) -> None:
    lake = tmp_path / "demo_lake"
    done = run(
        [
            *CLI,
            "demo",
            "--lake",
            str(lake),
            "--days",
            "3",
            "--sessions-per-day",
            "30",
            "--num-cpus",
            "2",
        ],
        home,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "make ui" in done.stdout
    catalog = Catalog(Lake(str(lake)))
    days = catalog.days("sessions")
    assert len(days) == 3
    for table in TABLES:
        assert catalog.days(table) == days


@pytest.mark.slow
def test_rollback_restores_the_previous_version_of_every_sibling(
    tmp_path: Path, home: Path
) -> None:
    lake = tmp_path / "lake"
    assert (
        run(
            [
                *CLI,
                "generate",
                "--lake",
                str(lake),
                "--start",
                DAY1,
                "--days",
                "1",
                "--sessions-per-day",
                "10",
            ],
            home,
        ).returncode
        == 0
    )
    materialize = [
        *CLI,
        "materialize",
        "--lake",
        str(lake),
        "--partition",
        DAY1,
        "--runtime",
        "inline",
        "--assets",
        "sessions",
    ]
    assert run(materialize, home).returncode == 0
    catalog = Catalog(Lake(str(lake)))
    first = {t: catalog.manifest(t, DAY1)["version"] for t in ("sessions", "turns")}  # type: ignore[index]
    assert run(materialize, home).returncode == 0

    rolled = run([*CLI, "rollback", "turns", "--lake", str(lake), "--partition", DAY1], home)
    assert rolled.returncode == 0, rolled.stderr
    for table in ("sessions", "turns", "errors", "rejected_events"):
        assert f"{table} dt={DAY1}: restored version" in rolled.stdout
    assert {t: catalog.manifest(t, DAY1)["version"] for t in first} == first  # type: ignore[index]

    nothing = run([*CLI, "rollback", "eval_runs", "--lake", str(lake), "--partition", DAY1], home)
    assert nothing.returncode == 1
    assert "no previous version" in nothing.stderr
