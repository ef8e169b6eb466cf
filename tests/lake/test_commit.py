"""The commit protocol on real files: whole-day swaps, versions, rollback, resume."""

import os

import pytest

from tests.lakes import DAY1
from trajectory_assets.engine.job import run_operator
from trajectory_assets.engine.plan import plan
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.commit import STAGING, rollback, versions
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import Sessionize

SMALL = 32 * 1024


def test_rerun_leaves_one_current_version_with_identical_content(lake: Lake) -> None:
    op = Sessionize()
    run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL)
    catalog = Catalog(lake)
    first = catalog.read("sessions", dt=DAY1)
    first_version = catalog.manifest("sessions", DAY1)["version"]  # type: ignore[index]
    run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL)
    second = catalog.read("sessions", dt=DAY1)
    assert second.equals(first)
    assert len(set(second["session_id"].to_pylist())) == second.num_rows
    assert versions(lake, "sessions", DAY1) == [first_version]
    assert not os.path.exists(lake.path(STAGING, op.name, f"dt={DAY1}"))
    on_disk = [
        f for _, _, names in os.walk(lake.path("sessions")) for f in names if f.endswith(".parquet")
    ]
    assert len(on_disk) == len(catalog.files("sessions"))


def test_versions_are_capped_and_rollback_restores_the_previous(lake: Lake) -> None:
    op = Sessionize()
    seen = []
    for _ in range(5):
        run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL, keep_versions=3)
        seen.append(Catalog(lake).manifest("sessions", DAY1)["version"])  # type: ignore[index]
    assert versions(lake, "sessions", DAY1) == seen[1:4]
    restored = rollback(lake, "sessions", DAY1)
    assert restored == seen[3]
    assert Catalog(lake).manifest("sessions", DAY1)["version"] == seen[3]  # type: ignore[index]
    assert seen[4] in versions(lake, "sessions", DAY1)


def test_rollback_without_history_is_a_clear_error(lake: Lake) -> None:
    with pytest.raises(FileNotFoundError, match="no previous version"):
        rollback(lake, "sessions", DAY1)


def test_resumed_run_reuses_finished_batches_and_matches_a_clean_run(
    lake: Lake, tmp_path: object
) -> None:
    op = Sessionize()
    the_plan = plan(op, lake, [DAY1], batch_bytes=SMALL)
    tasks = the_plan.pending
    assert len(tasks) > 3
    InlineRuntime().run(tasks[:2])  # an earlier run that died after two batches
    result = run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL)
    assert result.days[DAY1].reused_batches == 2
    resumed = {t: Catalog(lake).read(t, dt=DAY1) for t in op.outputs}

    run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL)  # clean, from scratch
    for table in op.outputs:
        assert Catalog(lake).read(table, dt=DAY1).equals(resumed[table])


def test_interrupted_commit_is_rolled_forward_by_the_next_run(lake: Lake) -> None:
    """A run that died after deciding to commit (intent written) and swapping only `sessions`
    is completed by the next run: every sibling ends on the same version."""
    from trajectory_assets.engine.job import _final
    from trajectory_assets.lake.commit import _swap_in, finished_batches, write_intent

    op = Sessionize()
    the_plan = plan(op, lake, [DAY1], batch_bytes=SMALL)
    InlineRuntime().run(the_plan.pending)
    attempt = the_plan.days[0].attempt
    intent = write_intent(attempt, op.outputs, {"run_id": "dead"})
    receipts = _final(finished_batches(attempt), op)
    files = [f for r in receipts for f in r.files if f.table == "sessions"]
    manifest = {
        "version": intent["version"],
        "files": [{"path": f.path, "rows": f.rows, "bytes": f.bytes} for f in files],
    }
    _swap_in(attempt, "sessions", manifest, keep=3)
    assert Catalog(lake).manifest("turns", DAY1) is None  # the run died here

    run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL)
    catalog = Catalog(lake)
    for table in op.outputs:  # the interrupted commit was completed for every sibling ...
        assert intent["version"] in versions(lake, table, DAY1), table
    current = {catalog.manifest(t, DAY1)["version"] for t in op.outputs}  # type: ignore[index]
    assert len(current) == 1  # ... and the new run then committed all of them together
