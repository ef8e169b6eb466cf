"""`demo`: a sample lake and every table for its days, the first command a user runs."""

from pathlib import Path

import pytest

from tests.cli.helpers import CLI, run
from tests.runs import lake_catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import TABLES


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
    catalog = lake_catalog(Lake(str(lake)))
    days = catalog.days("sessions")
    assert len(days) == 3
    for table in TABLES:
        assert catalog.days(table) == days
