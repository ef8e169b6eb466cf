"""A table's history: vacuum ends time travel before its horizon, keeps the log as long as the
files, and costs a listing of the table only when there is something to delete."""

from pathlib import Path

import pyarrow as pa
import pytest
from fsspec.implementations.local import LocalFileSystem

from tests.lake.test_delta import data_files, drop_a_session
from tests.lakes import DAY1, SMALL_BATCHES
from tests.runs import lake_catalog, run_operator
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.errors import LinkedFolderError, NoPreviousVersionError
from trajectory_assets.lake import delta, delta_commit, delta_history
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import Sessionize


def test_vacuum_ends_time_travel_before_the_horizon(lake: Lake) -> None:
    op = Sessionize()
    run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    old = data_files(lake, "sessions")
    drop_a_session(lake, DAY1)
    run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    assert delta_history.vacuum(lake, "sessions", retention_hours=24).files == []  # too young
    young = delta_history.vacuum(lake, "sessions", retention_hours=0.5)  # whole hours, rounded up
    assert (young.files, young.bytes, young.hours) == ([], 0, 1)
    size = sum(Path(f).stat().st_size for f in old)
    deleted = delta_history.vacuum(lake, "sessions", retention_hours=0)
    assert len(deleted.files) == len(old)
    assert deleted.bytes == size > 0
    assert not (old & data_files(lake, "sessions"))
    version = delta.open_table(lake, "sessions").version()  # type: ignore[union-attr]
    full = delta_history.vacuum(lake, "sessions", retention_hours=0, full=True)
    assert full.files == []  # all gone
    assert delta.open_table(lake, "sessions").version() == version  # type: ignore[union-attr]
    with pytest.raises(NoPreviousVersionError, match="was vacuumed"):
        delta_commit.restore_day(lake, lake_catalog(lake).get("sessions"), DAY1, {})
    assert isinstance(lake_catalog(lake).read("sessions"), pa.Table)


def test_a_full_vacuum_refuses_a_link_to_a_folder_outside_the_table(
    lake: Lake, tmp_path: Path
) -> None:
    """delta-rs' full vacuum follows a linked folder and deleted every file of its target (a
    folder outside the lake), while the report of what it deleted named none of them."""
    op = Sessionize()
    run_operator(op, lake, [DAY1], InlineRuntime())
    drop_a_session(lake, DAY1)
    run_operator(op, lake, [DAY1], InlineRuntime())  # a file due
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "sub" / "data.parquet").write_text("a")
    (outside / "notes.txt").write_text("b")
    link = Path(lake.path("sessions", "dt=1999-01-01"))
    link.symlink_to(outside)
    with pytest.raises(LinkedFolderError, match=f"{link} is a symbolic link to a folder"):
        delta_history.vacuum(lake, "sessions", retention_hours=0, full=True)
    assert (outside / "notes.txt").exists() and (outside / "sub" / "data.parquet").exists()
    assert delta_history.vacuum(lake, "sessions", retention_hours=0).files  # not full: no walk
    assert (outside / "notes.txt").exists()
    link.unlink()
    assert delta_history.vacuum(lake, "sessions", retention_hours=0, full=True).files == []


def test_a_horizon_past_deltas_log_retention_keeps_the_log_as_long(lake: Lake) -> None:
    """TRAJECTORY_ASSETS_RETENTION_HOURS says how far back time travel reaches, but Delta drops
    log entries older than 30 days at a checkpoint: 2,000 hours kept files no version could
    name."""
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime())

    def kept() -> str | None:
        table = delta.open_table(lake, "sessions")
        assert table is not None
        return table.metadata().configuration.get("delta.logRetentionDuration")

    delta_history.vacuum(lake, "sessions", retention_hours=168)
    assert kept() is None  # Delta's own 30 days are longer
    delta_history.vacuum(lake, "sessions", retention_hours=2000)
    assert kept() == "interval 84 days"
    version = delta.open_table(lake, "sessions").version()  # type: ignore[union-attr]
    delta_history.vacuum(lake, "sessions", retention_hours=2000)  # set once, not each run
    assert delta.open_table(lake, "sessions").version() == version  # type: ignore[union-attr]


def test_a_vacuum_with_nothing_to_delete_does_not_list_the_table(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every run vacuums its tables: at a year of days, listing a table's folder (some thousand
    files) was 0.1 s of each table's vacuum, found nothing to delete, and on S3 costs requests."""
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    listed: list[str] = []
    real = LocalFileSystem.find

    def find(self: LocalFileSystem, path: str, *args: object, **kwargs: object) -> object:
        listed.append(path)
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(LocalFileSystem, "find", find)
    assert delta_history.vacuum(lake, "sessions", retention_hours=0).files == []
    assert listed == []
