"""`forget` and rolling windows: a later day whose window reads the forgotten sessions' day holds
rows made from them too, and a day keeps the parameters it was computed with."""

import json
import shutil
from pathlib import Path

import dagster as dg
import pyarrow.compute as pc
import pytest

from tests.cli.helpers import materialize, on_lake
from tests.lakes import DAY1, DAY2
from tests.operators.builders import run_two_phase
from tests.runs import lake_catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import ModelComparisons
from trajectory_assets.operators.session_tables import SESSIONS

KEYS = [("benchmark", "ascending"), ("model_a", "ascending"), ("model_b", "ascending")]


@pytest.mark.slow
def test_forget_computes_again_a_later_day_whose_window_reads_the_sessions_day(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """DAY2's model_comparisons, committed with a two-day window (a run's config), pools DAY1's
    attempts: forgetting a session of DAY1 computes DAY2 again, with its two-day window (a
    forget changes nothing else: it used the code location's one-day window), and deletes the
    run that showed the pooled rows."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    window = tmp_path / "window.yaml"
    window.write_text("model_comparisons: {window_days: 2}\n")
    args = ("--partition", DAY2, "--assets", "model_comparisons", "--config", str(window))
    ran = materialize(root, home, *args)
    assert ran.returncode == 0, ran.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (showing,) = instance.get_run_records(limit=1)
    graded = lake_catalog(lake).read("sessions", dt=DAY1)
    graded = graded.filter(pc.is_valid(graded["eval_benchmark"]))
    app, victim = graded["app_id"][0].as_py(), graded["session_id"][0].as_py()

    forgotten = ("--app-id", app, "--session-id", victim, "--yes", "--runtime", "inline")
    done = on_lake("forget", root, home, *forgotten)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "rebuilt 2 day(s)" in done.stdout
    assert f"{DAY2}: with the parameters committed then: model_comparisons window_days=2" in (
        done.stdout
    )
    catalog = lake_catalog(lake)
    both = catalog.read("sessions", dt_from=DAY1, dt_to=DAY2).cast(SESSIONS)
    assert victim not in both["session_id"].to_pylist()
    again = catalog.read("model_comparisons", dt=DAY2).sort_by(KEYS)
    pooled = run_two_phase(ModelComparisons(window_days=2), "sessions", both, day=DAY2)
    assert again == pooled.cast(again.schema).sort_by(KEYS)  # DAY1 without the session
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(showing.dagster_run.run_id) is None
    (record,) = [json.loads(p.read_text()) for p in Path(root, "_forgotten").glob("*.json")]
    assert record["days"] == [DAY1] and record["verified"] is True  # the sessions' day
