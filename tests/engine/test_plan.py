"""Planning: batches, explain output, and a clear error when an upstream day is missing."""

import pytest

from tests.lakes import DAY1, DAY2
from trajectory_assets.engine.operator import Operator
from trajectory_assets.engine.plan import MissingUpstreamError, explain, plan
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import DecisionSteps, EvalRuns, Sessionize, TurnFeatures


def test_explain_shows_files_batches_operator_and_runtime(lake: Lake) -> None:
    text = explain(plan(Sessionize(), lake, [DAY1], batch_bytes=32 * 1024), "ray")
    assert f"operator sessionize v{Sessionize.version}" in text
    assert "outputs: sessions, turns, errors, rejected_events" in text
    assert "runtime: ray" in text
    assert f"dt={DAY1}: " in text and " input files, " in text
    assert "batches (0 already finished)" in text


def test_a_missing_upstream_day_is_a_clear_error(lake: Lake) -> None:
    with pytest.raises(MissingUpstreamError, match=f"turn_features dt={DAY1} reads turns"):
        plan(TurnFeatures(), lake, [DAY1])
    with pytest.raises(MissingUpstreamError, match="materialize sessions for that day first"):
        plan(EvalRuns(), lake, [DAY1])


@pytest.mark.parametrize("op", [TurnFeatures(), DecisionSteps()], ids=lambda op: op.name)
def test_reading_only_the_declared_raw_columns_changes_nothing(lake: Lake, op: Operator) -> None:
    """An operator that declares `raw_columns` gets only those; its output must be the same as
    with every column, or it is reading a column it did not declare."""
    from trajectory_assets.engine.batch import Batch
    from trajectory_assets.engine.job import run_operator
    from trajectory_assets.engine.operator import OpContext, normalise
    from trajectory_assets.engine.runtimes.inline import InlineRuntime
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.raw import list_raw_files, read_events

    run_operator(Sessionize(), lake, [DAY1], InlineRuntime())
    files = list_raw_files(lake, dt=DAY1)
    full, _ = read_events(lake, files)
    narrow, _ = read_events(lake, files, columns=op.raw_columns)
    assert narrow.num_columns < full.num_columns
    turns = Catalog(lake).read("turns", dt=DAY1)
    ctx = OpContext(DAY1, "b")
    outputs = [
        normalise(op, op.transform(ctx, Batch({"events": events, "turns": turns})))
        for events in (full, narrow)
    ]
    assert outputs[0] == outputs[1]


def test_a_long_range_is_planned_in_windows_of_raw_files(lake: Lake) -> None:
    """The driver holds one window's file list at a time, not the whole range's."""
    from trajectory_assets.engine.plan import plan_windows
    from trajectory_assets.lake.raw import list_raw_files
    from trajectory_assets.operators import Compact

    days = [DAY1, DAY2]
    per_day = [len(list_raw_files(lake, dt=d)) for d in days]
    assert [len(p.days) for p in plan_windows(Compact(), lake, days)] == [2]
    windows = list(plan_windows(Compact(), lake, days, window_raw_files=min(per_day)))
    assert [[d.day for d in w.days] for w in windows] == [[DAY1], [DAY2]]
    held = [sum(len(t.raw_files) for d in w.days for t in d.tasks) for w in windows]
    assert held == per_day
    assert [d.day for d in plan(Compact(), lake, days).days] == days
    assert plan(Compact(), lake, []).days == ()
