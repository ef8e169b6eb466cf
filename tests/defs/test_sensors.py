"""Late raw data marks a materialized day for re-materialization; unchanged days are left alone."""

import shutil
from pathlib import Path

import dagster as dg

from tests.lakes import DAY1, DAY2
from tests.runs import run_all
from trajectory_assets.definitions import defs
from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.lake.fs import Lake


def evaluate(lake: Lake) -> list[dg.RunRequest]:
    context = dg.build_sensor_context(resources={"lake": LakeResource(root=lake.uri)})
    sensor = defs.resolve_sensor_def("tier_b_daily_raw_changed")
    result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    return list(result.run_requests or [])


def test_days_whose_raw_data_arrived_or_changed_are_requested(lake: Lake) -> None:
    assert [r.partition_key for r in evaluate(lake)] == [DAY1, DAY2]  # arrived, never built
    run_all(lake, [DAY1, DAY2])
    assert evaluate(lake) == []

    day1 = Path(lake.root, "raw_events", f"dt={DAY1}")
    session = next(p for p in day1.rglob("session_id=*") if p.is_dir())
    late = next(session.glob("*.parquet"))
    shutil.copy(late, session / "late-arrival.parquet")

    requests = evaluate(lake)
    assert [r.partition_key for r in requests] == [DAY1]
    run_all(lake, [DAY1])
    assert evaluate(lake) == []
