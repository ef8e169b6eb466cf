"""Tier B tables as Delta tables on real files: one transaction per table and day, idempotent
reruns, resume, roll-forward of an interrupted multi-asset, restore of one day, time travel, every
engine reading the same rows, and a second writer refused."""

import json
import logging
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.lake.writers import WriterRacingRuntime, commit_at_once
from tests.lakes import DAY1, DAY2, SMALL_BATCHES
from tests.runs import intent_metadata, lake_catalog, plan, run_operator
from trajectory_assets.engine.explain import explain
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.engine.tasks import BatchTask
from trajectory_assets.errors import (
    ConcurrentWriterError,
    NoPreviousVersionError,
    NoSuchVersionError,
)
from trajectory_assets.lake import delta, delta_commit, delta_history
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import STAGING
from trajectory_assets.lake.staging import (
    Attempt,
    BatchReceipt,
    discard,
    empty_file,
    pending_attempts,
    write_intent,
)
from trajectory_assets.operators import OPERATORS, Sessionize


def data_files(lake: Lake, table: str) -> set[str]:
    return {str(p) for p in Path(lake.root, table).rglob("*.parquet")}


def drop_a_session(lake: Lake, day: str) -> None:
    """Raw data changes: one session of the day disappears (a producer's late correction)."""
    folder = next(Path(lake.root, "raw_events", f"dt={day}").glob("app_id=*/session_id=*"))
    shutil.rmtree(folder)


def test_each_table_is_a_delta_table_with_one_commit_per_day(lake: Lake) -> None:
    from deltalake import DeltaTable

    op = Sessionize(identical_run_threshold=5)
    result = run_operator(op, lake, [DAY1, DAY2], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    for table in Sessionize.output_names:
        history = DeltaTable(lake.path(table)).history()
        *writes, create = history  # newest first: the empty table, then one commit per day
        assert create["operation"] == "CREATE TABLE" and len(writes) == 2, table
        assert {h["dt"] for h in writes} == {DAY1, DAY2}
        assert all(h["operator"] == "sessionize" and h["attempt"] for h in writes)
        # how the numbers were made, readable from the lake alone (an auditor's question)
        assert all(json.loads(h["operator_params"]) == op.params for h in writes)
        assert all(json.loads(h["operator_described"]) == op.describe() for h in writes)
        assert [result.days[d].tables[table].version for d in (DAY1, DAY2)] == [1, 2]
    assert DeltaTable(lake.path("sessions")).metadata().partition_columns == ["dt", "app_id"]


def test_rerun_of_the_same_inputs_adds_no_version_and_no_files(lake: Lake) -> None:
    op = Sessionize()
    run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    catalog = lake_catalog(lake)
    first = catalog.read("sessions", dt=DAY1)
    files = {t: data_files(lake, t) for t in op.output_names}
    versions = {t: catalog.snapshot(t).version for t in op.output_names}

    again = run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    assert again.days[DAY1].up_to_date
    assert again.days[DAY1].rows("sessions") == first.num_rows
    catalog.refresh()
    assert catalog.read("sessions", dt=DAY1).equals(first)
    assert {t: catalog.snapshot(t).version for t in op.output_names} == versions
    assert {t: data_files(lake, t) for t in op.output_names} == files
    assert not Path(lake.root, STAGING, op.name, f"dt={DAY1}").exists()


def test_changed_raw_data_commits_a_new_version_and_rollback_restores_the_day(lake: Lake) -> None:
    op = Sessionize()
    run_operator(op, lake, [DAY1, DAY2], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    catalog = lake_catalog(lake)
    before = {d: catalog.read("sessions", dt=d) for d in (DAY1, DAY2)}
    with pytest.raises(NoPreviousVersionError, match=f"sessions dt={DAY1} has no previous"):
        delta_commit.restore_day(lake, catalog.get("sessions"), DAY1, {})

    drop_a_session(lake, DAY1)
    result = run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    assert result.days[DAY1].rows("sessions") == before[DAY1].num_rows - 1
    assert result.days[DAY1].tables["sessions"].version == 3

    restored = delta_commit.restore_day(lake, catalog.get("sessions"), DAY1, {"run_id": "test"})
    assert (restored.as_of, restored.version, restored.rows) == (2, 4, before[DAY1].num_rows)
    catalog.refresh()
    assert catalog.read("sessions", dt=DAY1).equals(before[DAY1])
    assert catalog.read("sessions", dt=DAY2).equals(before[DAY2])  # other days untouched
    again = delta_commit.restore_day(lake, catalog.get("sessions"), DAY1, {})  # undoes the restore
    assert again.rows == before[DAY1].num_rows - 1


def test_time_travel_returns_the_rows_of_an_earlier_version(lake: Lake) -> None:
    op = Sessionize()
    run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    catalog = lake_catalog(lake)
    first = catalog.read("sessions", dt=DAY1)
    committed_at = delta.open_table(lake, "sessions").history(1)[0]["timestamp"]  # type: ignore[union-attr]
    time.sleep(0.05)
    drop_a_session(lake, DAY1)
    run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    catalog.refresh()
    assert catalog.read("sessions", dt=DAY1).num_rows == first.num_rows - 1
    assert catalog.read("sessions", dt=DAY1, version=1).equals(first)
    import datetime as dt

    moment = dt.datetime.fromtimestamp(committed_at / 1000 + 0.01, dt.UTC)
    assert catalog.read("sessions", dt=DAY1, as_of=moment).equals(first)
    with pytest.raises(NoSuchVersionError, match="sessions did not exist yet at 2020-01-01"):
        catalog.read("sessions", as_of=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    with pytest.raises(NoSuchVersionError, match="sessions has no version 99: the versions kept"):
        delta_history.version_as_of(lake, "sessions", 99)


def test_polars_duckdb_and_pyarrow_read_the_same_rows_as_the_catalog(lake: Lake) -> None:
    import duckdb
    import polars as pl
    from deltalake import DeltaTable

    run_operator(Sessionize(), lake, [DAY1, DAY2], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    expected = (
        lake_catalog(lake)
        .read("turns")
        .sort_by([("session_id", "ascending"), ("turn_index", "ascending")])
    )
    order = "ORDER BY session_id, turn_index"
    con = duckdb.connect()
    con.register("turns", DeltaTable(lake.path("turns")).to_pyarrow_dataset())
    from_duckdb = con.sql(f"SELECT {', '.join(expected.column_names)} FROM turns {order}")
    from_polars = pl.scan_delta(lake.path("turns")).sort(["session_id", "turn_index"]).collect()
    for rows in (from_duckdb.to_arrow_table(), from_polars.to_arrow()):
        assert rows.select(expected.column_names).cast(expected.schema).equals(expected)


def test_a_day_read_file_by_file_has_the_same_rows_and_a_head_is_the_days_first_rows(
    lake: Lake,
) -> None:
    run_operator(Sessionize(), lake, [DAY1, DAY2], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    catalog = lake_catalog(lake)
    ordered = catalog.read("llm_calls", dt=DAY2)
    unordered = catalog.day_rows("llm_calls", DAY2, ordered.column_names)
    order = [(k, "ascending") for k in ("dt", *catalog.get("llm_calls").keys)]
    assert unordered.num_rows == ordered.num_rows > 0
    assert unordered.sort_by(order).equals(ordered)
    head = catalog.head("llm_calls", DAY2, 3)
    assert head.num_rows == 3 and head.schema == ordered.schema
    assert set(head["dt"].to_pylist()) == {DAY2}
    keys = set(zip(*(ordered[k].to_pylist() for k in ("session_id", "event_id")), strict=True))
    assert (
        set(zip(head["session_id"].to_pylist(), head["event_id"].to_pylist(), strict=True)) <= keys
    )


def test_resumed_run_reuses_finished_batches_and_matches_a_clean_run(
    lake: Lake, tmp_path: Path
) -> None:
    op = Sessionize()
    clean = Lake(str(tmp_path / "clean"))
    shutil.copytree(Path(lake.root, "raw_events"), Path(clean.root, "raw_events"))
    run_operator(op, clean, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)

    (day,) = plan(op, lake, [DAY1], batch_bytes=SMALL_BATCHES)
    tasks = day.tasks
    assert len(tasks) > 3
    InlineRuntime().run(tasks[:2])  # an earlier run that died after two batches
    result = run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    assert result.days[DAY1].reused_batches == 2
    for table in op.output_names:
        assert (
            lake_catalog(lake).read(table, dt=DAY1).equals(lake_catalog(clean).read(table, dt=DAY1))
        )


def _decided_to_commit(op: Sessionize, lake: Lake) -> tuple[Attempt, list[BatchReceipt]]:
    """A run of DAY1 that finished its batches and wrote its commit intent, then died."""
    (day,) = plan(op, lake, [DAY1], batch_bytes=SMALL_BATCHES)
    receipts = InlineRuntime().run(day.tasks)
    attempt = day.attempt(op)
    batches = [r.batch_id for r in receipts]
    write_intent(attempt, op.output_names, batches, intent_metadata(op, "dead"))
    return attempt, receipts


def test_interrupted_commit_is_rolled_forward_by_the_next_run(lake: Lake) -> None:
    """A run that died after deciding to commit (intent written) and committing only
    `sessions` is completed by the next run: every sibling ends on that attempt's files."""
    op = Sessionize()
    attempt, receipts = _decided_to_commit(op, lake)
    files = [f for r in receipts for f in r.tables("sessions")]
    catalog = lake_catalog(lake)
    delta_commit.commit_day(lake, catalog.get("sessions"), DAY1, files, {}, since_version=None)
    assert lake_catalog(lake).state("turns", DAY1) is None  # the run died here
    assert pending_attempts(lake, op.name, DAY1) == [attempt]

    result = run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    catalog = lake_catalog(lake)
    for table in op.output_names:
        assert catalog.state(table, DAY1).attempt == attempt.key, table  # type: ignore[union-attr]
    assert result.days[DAY1].up_to_date  # the completed attempt is the current one
    assert pending_attempts(lake, op.name, DAY1) == []


@pytest.mark.parametrize("committed", [True, False])
def test_an_intent_left_without_its_receipts_does_not_block_the_day(
    lake: Lake, committed: bool, caplog: pytest.LogCaptureFixture
) -> None:
    """A run terminated while it cleaned up after its commit left `_commit.json` without the
    receipts it lists: every later run of the day, `--force` too, failed with a bare KeyError."""
    op = Sessionize()
    (day,) = plan(op, lake, [DAY1], batch_bytes=SMALL_BATCHES)
    if committed:
        run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    attempt = day.attempt(op)
    assert day.tasks
    write_intent(
        attempt, op.output_names, [t.batch_id for t in day.tasks], intent_metadata(op, "gone")
    )
    assert pending_attempts(lake, op.name, DAY1) == [attempt]
    plan_text = explain(Registry.build([op], OPERATORS), [op], lake, [DAY1], "inline")
    assert "first drops the commit an interrupted run decided on" in plan_text
    caplog.set_level(logging.INFO)
    result = run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    said = "dropped the interrupted commit"
    assert said in caplog.text and "completing" not in caplog.text
    assert ("every table of the day committed by it" in caplog.text) is committed
    assert ("not committed by it: computed anew" in caplog.text) is not committed
    assert result.days[DAY1].up_to_date is committed  # computed anew where it was not committed
    assert pending_attempts(lake, op.name, DAY1) == []
    assert lake_catalog(lake).state("turns", DAY1).attempt == attempt.key  # type: ignore[union-attr]


def test_explain_says_an_interrupted_commit_whose_files_are_gone_is_dropped(lake: Lake) -> None:
    """It said the next run would complete the commit, which drops it and computes the day."""
    op = Sessionize()
    _, receipts = _decided_to_commit(op, lake)
    registry = Registry.build([op], OPERATORS)
    assert "first completes the commit" in explain(registry, [op], lake, [DAY1], "inline")
    staged = receipts[0].tables("turns")[0]
    Path(lake.root, "turns", staged.path).unlink()  # a vacuum outside the instance
    assert "some of whose files are gone (a vacuum)" in explain(
        registry, [op], lake, [DAY1], "inline"
    )


def test_discarding_an_attempt_removes_its_intent_first(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Removing a folder is no atomic step: an interrupt after the receipts went and before
    the intent did left an intent no run could complete."""
    op = Sessionize()
    attempt, _ = _decided_to_commit(op, lake)

    rm = type(lake.fs).rm

    def interrupted(fs: object, path: str, recursive: bool = False, **kw: object) -> None:
        if recursive:
            raise KeyboardInterrupt  # Terminate, as the folder's removal starts
        rm(fs, path, recursive, **kw)

    monkeypatch.setattr(type(lake.fs), "rm", interrupted)
    with pytest.raises(KeyboardInterrupt):
        discard(attempt)
    monkeypatch.undo()
    assert pending_attempts(lake, op.name, DAY1) == []


def test_a_rollback_meanwhile_is_named_as_the_other_writer(lake: Lake) -> None:
    """It read "run unknown": a rollback's commit carries no run; and "only one
    materialization may run at a time", where running again would undo the rollback."""
    run_operator(Sessionize(), lake, [DAY1])
    spec = lake_catalog(lake).get("sessions")
    table = delta.open_table(lake, "sessions")
    assert table is not None
    planned = table.version()
    rollback = {"action": "rollback", delta_history.ROLLBACK_ID: "r1"}
    files = [empty_file(Attempt(lake, "r", DAY1, "a" * 16), spec)]
    delta_commit.commit_day(lake, spec, DAY1, files, rollback, since_version=None)
    mine = [empty_file(Attempt(lake, "m", DAY1, "b" * 16), spec)]
    with pytest.raises(ConcurrentWriterError, match=r"writer [(]a rollback r1, table ") as e:
        delta_commit.commit_day(lake, spec, DAY1, mine, {}, since_version=planned)
    assert str(e.value).endswith(
        "this run's result was not committed. The restored day stands; materializing it again "
        "(a run of a new version or changed inputs, --force, the sensor) would undo the rollback."
    )


def test_a_second_writer_of_the_same_day_is_refused(lake: Lake) -> None:
    op = Sessionize()
    with pytest.raises(ConcurrentWriterError, match=r"sessions dt=.* [(]run the-other"):
        run_operator(op, lake, [DAY1], WriterRacingRuntime(lake, DAY1), batch_bytes=SMALL_BATCHES)
    assert pending_attempts(lake, op.name, DAY1) == []  # nothing left to roll forward
    catalog = lake_catalog(lake)
    assert {
        delta_history.commits(lake, t).__next__().metadata["run_id"] for t in op.output_names
    } == {"the-other"}
    assert catalog.read("sessions", dt=DAY1).num_rows == 120


class TurnsRacingRuntime(InlineRuntime):
    """Runs its batches, then another writer commits the day of `turns` alone: a table the
    operator commits after `sessions`."""

    def __init__(self, lake: Lake) -> None:
        super().__init__()
        self.lake = lake

    def run(self, tasks: Sequence[BatchTask]) -> list[BatchReceipt]:
        receipts = super().run(tasks)
        spec = lake_catalog(self.lake).get("turns")
        other = [empty_file(Attempt(self.lake, "other", DAY1, "f" * 16), spec)]
        delta_commit.commit_day(
            self.lake, spec, DAY1, other, {"run_id": "the-other"}, since_version=None
        )
        return receipts


def test_a_run_that_lost_the_race_on_one_table_commits_none(lake: Lake) -> None:
    op = Sessionize()
    with pytest.raises(ConcurrentWriterError, match=r"turns dt=.* [(]run the-other"):
        run_operator(op, lake, [DAY1], TurnsRacingRuntime(lake), batch_bytes=SMALL_BATCHES)
    assert lake_catalog(lake).state("sessions", DAY1) is None  # sessions comes first: not either


def test_writers_of_different_days_both_commit(lake: Lake) -> None:
    op = Sessionize()
    run_operator(op, lake, [DAY1], WriterRacingRuntime(lake, DAY2), batch_bytes=SMALL_BATCHES)
    catalog = lake_catalog(lake)
    assert catalog.days("sessions") == [DAY1, DAY2]
    assert catalog.read("sessions").num_rows == 240


def test_simultaneous_commits_of_different_days_all_land(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    days = [f"2026-11-{d:02d}" for d in range(1, 7)]
    outcomes = commit_at_once(lake, days)
    assert all(isinstance(o, int) for o in outcomes), outcomes
    assert len(set(outcomes)) == 6  # six commits, each at its own version
    assert lake_catalog(lake).days("sessions") == days


def test_simultaneous_commits_of_one_day_leave_one_writer(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    outcomes = commit_at_once(lake, [DAY1] * 4)
    assert sum(isinstance(o, int) for o in outcomes) == 1, outcomes
    refused = [o for o in outcomes if isinstance(o, ConcurrentWriterError)]
    assert len(refused) == 3, outcomes
    assert len(lake_catalog(lake).files("sessions", DAY1)) == 1


def test_a_log_file_purged_while_the_table_opens_is_read_again(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`forget` rewrites a table's history while readers open its current version: a reader
    that listed the log before the purge read a file gone after it, and was told the table
    was broken (1 read in 200 in a trial). The next listing is whole."""
    import deltalake

    run_operator(Sessionize(), lake, [DAY1])
    gone = f"{lake.display('sessions')}/_delta_log/00000000000000000007.json"
    tries: list[int] = []

    class Racing(deltalake.DeltaTable):
        def __init__(self, *args: object, **kwargs: object) -> None:
            tries.append(1)
            if len(tries) < 3:  # what delta-rs raises, word for word
                raise deltalake.exceptions.DeltaError(f"Kernel error: File not found: {gone}")
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(deltalake, "DeltaTable", Racing)
    assert lake_catalog(lake).read("sessions", dt=DAY1).num_rows > 0
    assert len(tries) == 3


def test_a_day_its_table_held_empty_is_restored_empty(tmp_path: Path) -> None:
    """A day without errors: a rollback of sessions (which restores its siblings with it) was
    refused, errors "has no previous version", though it had one: the day, empty."""
    from tests.lakes import write_lake
    from tests.operators.builders import event

    lake = write_lake(tmp_path, [[event("session_start"), event("agent_message", 5)]])
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime())
    assert lake_catalog(lake).state("errors", DAY1).rows == 0  # type: ignore[union-attr]
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime(), force=True)  # errors unchanged
    catalog = lake_catalog(lake)
    target, _ = delta_commit.previous_state(lake, catalog.get("sessions"), DAY1)
    errors = delta_commit.sibling_version(lake, "sessions", "errors", DAY1, target)
    restored = delta_commit.restore_day(lake, catalog.get("errors"), DAY1, {}, as_of=errors)
    assert (restored.version, restored.rows) == (None, 0)  # as it was: nothing to change


def test_a_snapshot_gives_each_day_its_files_in_path_order() -> None:
    """Asked of every day and operator of a lake a year old, from one index of the files."""

    def file(path: str, day: str) -> delta.DataFile:
        return delta.DataFile(path, 1, 1, (("dt", day), ("app_id", "a")))

    files = (file("dt=2/b", "2"), file("dt=1/b", "1"), file("dt=2/a", "2"))
    snapshot = delta.Snapshot("t", 3, files)
    assert snapshot.days() == ["1", "2"]
    assert [f.path for f in snapshot.day_files("2")] == ["dt=2/a", "dt=2/b"]
    assert snapshot.day_files("3") == [] and snapshot.state("3") is None
    snapshot.day_files("2").clear()  # a caller's list of its own
    state = snapshot.state("2")
    assert state is not None and len(state.files) == 2
