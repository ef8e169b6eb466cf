"""`times_not_in_the_future`: a producer whose clock runs ahead puts events after the check ran."""

import datetime as dt
from pathlib import Path

import dagster as dg

from tests.dagster_assets import assets_of
from tests.lakes import write_session_file
from trajectory_assets.definitions import defs
from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.lake.fs import Lake


def _session(root: Path, day: str, session: str, times: list[dt.datetime]) -> None:
    write_session_file(
        root, day, session, [{"event_id": f"{session}-{i}", "ts": ts} for i, ts in enumerate(times)]
    )


def _check(root: Path, day: str) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.assets("sessions", "turns").upstream(),
        partition_key=day,
        resources={
            "lake": LakeResource(root=Lake(str(root)).uri),
            "compute": ComputeResource(runtime="inline"),
        },
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success  # a warning
    (found,) = [
        e for e in result.get_asset_check_evaluations() if e.check_name == "times_not_in_the_future"
    ]
    return found


def test_a_session_ending_in_the_future_is_a_warning(tmp_path: Path) -> None:
    """Started yesterday by the machine's clock; its producer's clock a day ahead then. (Sessions
    of the past pass: the clean lake of tests/defs/test_checks.py.)"""
    started = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
    day = started.date().isoformat()
    _session(tmp_path, day, "ahead", [started, started + dt.timedelta(days=2)])
    _session(tmp_path, day, "fine", [started, started + dt.timedelta(minutes=5)])
    found = _check(tmp_path, day)
    assert not found.passed and found.severity == dg.AssetCheckSeverity.WARN
    detail = str(found.metadata["detail"].value)
    assert detail.startswith("1 of 2 sessions end more than an hour after this check ran (")
    latest = started + dt.timedelta(days=2)
    assert f"the latest at {latest:%Y-%m-%d %H:%M} UTC: a producer's clock ahead" in detail
