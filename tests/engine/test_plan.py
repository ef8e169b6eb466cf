"""Planning: batches, explain output, and a clear error when an upstream day is missing."""

import pytest

from tests.lakes import DAY1
from trajectory_assets.engine.plan import MissingUpstreamError, explain, plan
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import EvalRuns, Sessionize, TurnFeatures


def test_explain_shows_files_batches_operator_and_runtime(lake: Lake) -> None:
    text = explain(plan(Sessionize(), lake, [DAY1], batch_bytes=32 * 1024), "ray")
    assert "operator sessionize v1" in text
    assert "outputs: sessions, turns, errors, rejected_events" in text
    assert "runtime: ray" in text
    assert f"dt={DAY1}: " in text and " input files, " in text
    assert "batches (0 already finished)" in text


def test_a_missing_upstream_day_is_a_clear_error(lake: Lake) -> None:
    with pytest.raises(MissingUpstreamError, match=f"turn_features dt={DAY1} reads turns"):
        plan(TurnFeatures(), lake, [DAY1])
    with pytest.raises(MissingUpstreamError, match="materialize sessions for that day first"):
        plan(EvalRuns(), lake, [DAY1])
