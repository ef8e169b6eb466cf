"""A table kept open for the process follows every change of its log: each ask gives exactly the
snapshot a full load gives, and a commit of a day costs that day's files, not a load."""

import shutil
from pathlib import Path

import pytest

from tests.lake.test_delta import drop_a_session
from tests.lakes import DAY1, DAY2, SMALL_BATCHES
from tests.runs import lake_catalog, run_operator, table_opens
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.lake import delta, delta_commit, delta_history, erase_purge, snapshots
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import Sessionize

TABLES = ("sessions", "turns", "errors")


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables loaded from their log since the test began (every table closed first)."""
    snapshots.clear()
    return table_opens(monkeypatch)


def asked(lake: Lake, loads: list[str]) -> list[str]:
    """Ask each table's current snapshot, check it is what a full load gives, and say which
    tables the ask loaded anew."""
    before = len(loads)
    kept = {t: snapshots.current(lake, t) for t in TABLES}
    loaded = loads[before:]
    for table, snapshot in kept.items():
        assert snapshot == delta.snapshot(lake, table), table
    return loaded


def run(lake: Lake, *days: str) -> None:
    run_operator(Sessionize(), lake, list(days), InlineRuntime(), batch_bytes=SMALL_BATCHES)


def test_a_kept_table_follows_commits_restores_and_vacuums_without_loading_again(
    lake: Lake, loads: list[str]
) -> None:
    assert asked(lake, loads) == list(TABLES)  # none yet: asked of the log each time
    run(lake, DAY1)
    assert asked(lake, loads) == list(TABLES)
    run(lake, DAY2)  # a day more
    assert asked(lake, loads) == []
    drop_a_session(lake, DAY1)
    run(lake, DAY1)  # a day replaced
    assert asked(lake, loads) == []
    catalog = lake_catalog(lake)
    delta_commit.restore_day(lake, catalog.get("sessions"), DAY1, {"run_id": "test"})
    assert asked(lake, loads) == []
    assert delta_history.vacuum(lake, "sessions", retention_hours=0).files  # commits, no days
    assert asked(lake, loads) == []


def test_a_log_cut_by_a_purge_or_a_schema_changed_loads_the_table_again(
    lake: Lake, loads: list[str]
) -> None:
    run(lake, DAY1, DAY2)
    drop_a_session(lake, DAY1)
    run(lake, DAY1)
    asked(lake, loads)
    erase_purge.purge_history(lake, lake_catalog(lake), [DAY1])  # the held version's entry is gone
    assert asked(lake, loads) == list(TABLES)
    from deltalake.schema import Field, PrimitiveType

    table = delta.open_table(lake, "errors")
    assert table is not None
    table.alter.add_columns(Field("note", PrimitiveType("string")))
    assert asked(lake, loads) == ["errors"]


def test_a_table_deleted_and_made_anew_is_not_taken_for_the_one_kept(
    lake: Lake, loads: list[str]
) -> None:
    """Made anew up to the same version number: its log entries are other files."""
    run(lake, DAY1)
    held = snapshots.current(lake, "sessions")
    for table in Sessionize.output_names:
        shutil.rmtree(Path(lake.root, table))
    run(lake, DAY2)
    assert asked(lake, loads) == list(TABLES)
    again = snapshots.current(lake, "sessions")
    assert (again.version, again.days()) == (held.version, [DAY2])


def test_tables_beyond_the_file_budget_are_loaded_anew_at_each_ask(
    lake: Lake, loads: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A year of a large lake's files kept in a code location's process would be a gigabyte."""
    run(lake, DAY1, DAY2)
    files = sum(len(delta.snapshot(lake, t).files) for t in TABLES)
    monkeypatch.setattr(snapshots, "KEEP_FILES", files)
    asked(lake, loads)
    assert asked(lake, loads) == []  # all within the budget
    monkeypatch.setattr(snapshots, "KEEP_FILES", files - 1)
    asked(lake, loads)  # the least recently asked goes, each in turn
    assert asked(lake, loads) == list(TABLES)
