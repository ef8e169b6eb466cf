"""The raw_events observation gives each day a version; a broken day is named and left out, and
a run over it fails in one line."""

import logging
from pathlib import Path

import dagster as dg
import pytest

from tests.dagster_assets import assets_of
from tests.lakes import DAY1, DAY2, break_day
from trajectory_assets.definitions import defs
from trajectory_assets.defs.partitions import daily
from trajectory_assets.defs.raw import raw_versions
from trajectory_assets.defs.resources import ComputeResource, LakeResource
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


def test_a_run_over_a_day_the_listing_cannot_place_fails_in_one_line(
    lake: Lake, tmp_path: Path
) -> None:
    """What the UI shows of a run the schedule launched over such a day: the error's line, as
    the command line shows it, not a traceback through Dagster's and the engine's frames."""
    link = break_day(lake, DAY1, tmp_path)
    result = dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.assets("sessions"),
        partition_key=DAY1,
        resources={
            "lake": LakeResource(root=lake.uri),
            "compute": ComputeResource(runtime="inline"),
        },
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None and error.cls_name == "Failure" and error.cause is None
    assert str(link) in error.message
