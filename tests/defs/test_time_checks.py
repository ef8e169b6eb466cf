"""`times_not_in_the_future`: a producer whose clock runs ahead puts events after the check ran;
`runs_within_their_day`: an eval run past midnight is a partial row on two days."""

import datetime as dt
from pathlib import Path

import dagster as dg

from tests.dagster_assets import assets_of, materialize_range
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


def test_an_eval_run_past_midnight_is_a_warning_on_both_days(tmp_path: Path) -> None:
    """Attempts of one run filed under two days (the run went past midnight, UTC) are a row on
    each day, each with half the attempts: nothing said so."""
    import json

    from tests.lakes import DAY1, DAY2

    late = dt.datetime.fromisoformat(f"{DAY1}T23:50:00+00:00")

    def attempt(day: str, session: str, run_id: str | None, at: dt.datetime) -> None:
        payload = {"benchmark": "b", "task_id": session, "run_id": run_id, "passed": True}
        result = {"event_type": "eval_result", "model": "m", "payload": json.dumps(payload)}
        _session(tmp_path, day, session, [at])
        write_session_file(
            tmp_path, day, session, [{"event_id": f"{session}-r", "ts": at, **result}], "r.parquet"
        )

    attempt(DAY1, "a1", "r1", late)
    attempt(DAY1, "a2", "whole", late)
    attempt(DAY2, "a3", "r1", late + dt.timedelta(minutes=20))
    attempt(DAY1, "n1", None, late)  # results without a run id: on any day, no run of their own
    attempt(DAY2, "n2", None, late + dt.timedelta(hours=12))
    result = materialize_range(defs, ["eval_runs"], Lake(str(tmp_path)), DAY1, DAY2)
    assert result.success  # a warning
    found = {
        e.partition: e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "runs_within_their_day"
    }
    assert not found[DAY1].passed and found[DAY1].severity == dg.AssetCheckSeverity.WARN
    assert found[DAY1].metadata["detail"].value == (
        f"1 of 2 eval runs have attempts on {DAY2} as well (b/m/r1): each day's row counts that "
        "day's attempts; pool the run's attempts from `sessions` of those days for its whole "
        "numbers"
    )
    assert not found[DAY2].passed
