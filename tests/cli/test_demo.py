"""`demo`: a sample lake and every table for its days, the first command a user runs."""

from pathlib import Path

import dagster as dg
import pytest

from tests.cli.helpers import on_lake
from tests.runs import lake_catalog
from trajectory_assets.cli import pool
from trajectory_assets.cli.demo import _ui_command
from trajectory_assets.defs.assets import POOL
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import TABLES


@pytest.mark.slow
@pytest.mark.ray
def test_demo_command_materializes_every_table_for_every_day(tmp_path: Path, home: Path) -> None:
    lake = tmp_path / "demo_lake"
    size = ("--days", "3", "--sessions-per-day", "30")
    ray = ("--runtime", "ray", "--num-cpus", "2")  # as `make demo`: on a local Ray
    done = on_lake("demo", lake, home, *size, *ray, process=True)
    assert done.returncode == 0, done.stderr[-3000:]
    ui = f"UI:     TRAJECTORY_ASSETS_LAKE={lake} DAGSTER_HOME={home} dagster dev -w workspace.yaml"
    assert ui in done.stdout  # not `make ui`, which shows the Makefile's lake and instance
    report = next(line for line in done.stdout.splitlines() if line.startswith("report:"))
    assert Path(report.split(maxsplit=1)[1]).exists()
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the UI: raw_events observed
        observed = instance.get_latest_data_version_record(dg.AssetKey("raw_events"))
        assert observed is not None
    catalog = lake_catalog(Lake(str(lake)))
    days = catalog.days("sessions")
    assert len(days) == 3
    for table in TABLES:
        assert catalog.days(table) == days


def test_make_ui_is_named_where_it_shows_the_demo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / ".dagster_home"))
    ui = "dagster dev -m trajectory_assets.definitions -h 127.0.0.1 -p 3000"
    assert _ui_command(Lake("demo/lake")).endswith(ui)  # installed: no Makefile, no workspace
    (tmp_path / "Makefile").write_text("ui:\n")
    (tmp_path / "workspace.yaml").write_text("load_from: []\n")  # a team's own project
    assert _ui_command(Lake("demo/lake")).endswith(ui)
    (tmp_path / "trajectory_assets").mkdir()
    (tmp_path / "trajectory_assets" / "definitions.py").write_text("")  # the checkout
    assert _ui_command(Lake("demo/lake")) == "make ui"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "elsewhere"))
    assert _ui_command(Lake("demo/lake")) == (
        f"TRAJECTORY_ASSETS_LAKE={tmp_path}/demo/lake DAGSTER_HOME={tmp_path}/elsewhere "
        "dagster dev -w workspace.yaml -h 127.0.0.1 -p 3000"
    )


def test_the_demo_needs_its_instance_before_it_writes_anything(tmp_path: Path) -> None:
    """Without DAGSTER_HOME it wrote 35 MB of sample lake, then failed."""
    done = on_lake("demo", tmp_path / "lake", tmp_path, "--days", "1", DAGSTER_HOME="")
    assert done.returncode == 1
    assert "error: DAGSTER_HOME is not set: the demo's runs are recorded" in done.stderr
    assert not (tmp_path / "lake").exists()


def test_regenerate_waits_for_a_run_writing_into_the_lake(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`demo --regenerate` deleted the lake under a run in flight: a traceback (a folder not
    empty), the run failed, and the lake was left half deleted. It now waits for the pool."""
    lake = tmp_path / "lake"
    monkeypatch.setattr("trajectory_assets.cli.demo.run_days", lambda *args, **kwargs: None)
    monkeypatch.setattr("trajectory_assets.cli.demo._observe_raw", lambda *args: None)
    small = ("--days", "1", "--sessions-per-day", "2")
    assert on_lake("demo", lake, home, *small).returncode == 0
    running = "command elsewhere:1"  # a holder of another machine: never freed as gone
    said: list[str] = []
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(POOL)
        assert storage.claim_concurrency_slot(POOL, running, "tier_b").is_claimed

        def the_run_ends_once_demo_waits(text: str) -> None:
            said.append(text)
            assert list(lake.rglob("*.parquet"))  # nothing deleted while the run holds it
            storage.free_concurrency_slots_for_run(running)

        monkeypatch.setattr(pool, "tell", the_run_ends_once_demo_waits)
        done = on_lake("demo", lake, home, *small, "--regenerate")
    assert done.returncode == 0, done.stderr[-2000:]
    assert said[0].startswith(f"waiting for the {POOL} pool: {running} of this instance holds")
    assert list(lake.rglob("*.parquet"))  # regenerated once the run ended


def test_regenerate_refuses_a_lake_holding_data_of_its_own(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lake of the user's imported transcripts, given to `demo`, was refused for its days
    with "run with --regenerate", which then deleted every imported file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    lake = tmp_path / "lake"
    monkeypatch.setattr("trajectory_assets.cli.demo.run_days", lambda *args, **kwargs: None)
    monkeypatch.setattr("trajectory_assets.cli.demo._observe_raw", lambda *args: None)
    small = ("--days", "1", "--sessions-per-day", "2")
    assert on_lake("demo", lake, home, *small).returncode == 0
    day = next((lake / "raw_events").glob("dt=*"))
    (day / ".DS_Store").write_text("")  # no data: nor a write killed midway's temporary file
    (day / ".part-0.parquet.tmp-0123abcd").write_text("")
    assert on_lake("demo", lake, home, *small, "--regenerate").returncode == 0  # a sample's own
    (lake / "prices.yaml").write_text("models: {}\n")  # the user's own file
    priced = on_lake("demo", lake, home, *small, "--regenerate")
    assert priced.returncode == 1 and f"({lake / 'prices.yaml'})" in priced.stderr
    (lake / "prices.yaml").unlink()
    (lake / "notes").mkdir()  # a folder of the user's own, beside the tables
    noted = on_lake("demo", lake, home, *small, "--regenerate")
    assert noted.returncode == 1 and f"({lake / 'notes'})" in noted.stderr
    (lake / "notes").rmdir()
    mine = lake / "raw_events" / "dt=2025-01-01" / "app_id=claude-code" / "session_id=s1"
    mine.mkdir(parents=True)
    mine = mine / "ev-0123456789abcdef.parquet"  # as `ingest` names its files
    pq.write_table(pa.table({"event_id": ["e1"]}), mine)
    done = on_lake("demo", lake, home, *small, "--regenerate")
    assert done.returncode == 1
    assert done.stderr == (
        f"error: {lake} holds data the sample did not write ({mine}): --regenerate deletes the "
        "whole lake, so it makes a sample in a lake of its own only; give the demo another "
        "--lake\n"
    )
    assert Path(mine).exists()
    Path(mine).unlink()
    theirs = mine.with_name("part-0.parquet")  # pyarrow's write_dataset names its files so
    pq.write_table(pa.table({"event_id": ["e1"]}), theirs)
    written = on_lake("demo", lake, home, *small, "--regenerate")
    assert written.returncode == 1 and f"({theirs})" in written.stderr
    assert "a sample lake of a release before 0.5.6 named its files so" in written.stderr
    assert theirs.exists()
