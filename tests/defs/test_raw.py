"""The raw_events observation gives each day a version; a broken day is named and left out."""

import logging
from pathlib import Path

import pytest

from tests.lakes import DAY1, DAY2, break_day
from trajectory_assets.defs.partitions import daily
from trajectory_assets.defs.raw import raw_versions
from trajectory_assets.errors import RawLayoutError
from trajectory_assets.lake.fs import Lake

PARTITIONS = daily("2026-01-01")


def test_a_broken_day_is_logged_and_left_out_while_the_others_are_observed(
    lake: Lake, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    before = raw_versions(lake, PARTITIONS)
    assert sorted(before) == [DAY1, DAY2]
    link = break_day(lake, DAY1, tmp_path)

    with caplog.at_level(logging.ERROR):
        after = raw_versions(lake, PARTITIONS, logging.getLogger("observation"))
    assert after == {DAY2: before[DAY2]}
    assert f"raw_events dt={DAY1} not observed" in caplog.text
    assert str(link) in caplog.text

    with pytest.raises(RawLayoutError, match="session_id=on-a-gone-disk"):
        raw_versions(lake, PARTITIONS)  # `sync` has no log: the error stops it
