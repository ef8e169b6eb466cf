import os
from pathlib import Path

import pytest

from trajectory_assets.cli.main import main
from trajectory_assets.errors import SettingError
from trajectory_assets.ingest import EventLogger
from trajectory_assets.lake.fs import Lake, write_file_atomic


@pytest.mark.parametrize("root", ["", "  ", "s3://", "s3:///"])
def test_a_root_that_names_no_folder_is_refused(root: str) -> None:
    """An empty root was the current folder: a logger or a run wrote wherever it was started."""
    with pytest.raises(SettingError, match="names no folder: give a path or s3://bucket/prefix"):
        Lake(root)
    with pytest.raises(SettingError, match="names no folder"):
        EventLogger(lake=root, app_id="app")


def test_roots_that_name_a_folder_are_taken() -> None:
    assert Lake("s3://bucket/").root == "bucket"
    assert Lake("/").root == "/"


def test_the_command_line_names_an_empty_lake_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tables", "--lake", ""]) == 1
    assert capsys.readouterr().err == (
        "error: the lake root '' names no folder: give a path or s3://bucket/prefix\n"
    )


def test_a_root_holding_a_percent_sign_is_refused_before_anything_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`generate` wrote the raw lake, then every run failed with Delta's `File not found: .../
    my lake/...`: delta-rs decodes %20 in a table's path, a file:// URL's too."""
    root = tmp_path / "lake%20x"
    assert main(["generate", "--lake", str(root), "--days", "1", "--sessions-per-day", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: the lake root '{root}' holds a '%', which Delta Lake's reader")
    assert not root.exists()
    for fine in ("sp ace#1 é", "q?x"):  # these work as they are
        assert Lake(str(tmp_path / fine)).root.endswith(fine)


def test_a_write_that_fails_leaves_no_temporary_file(tmp_path: Path) -> None:
    """A full disk failed every retry of the logger's writes: each left its temporary file,
    which kept the space that had run out."""
    target = tmp_path / "raw_events" / "ev-1.parquet"
    (target / "in-the-way").mkdir(parents=True)  # the rename cannot replace a folder
    with pytest.raises(OSError):
        write_file_atomic(Lake(str(tmp_path)), str(target), b"data")
    assert [p.name for p in target.parent.iterdir()] == ["ev-1.parquet"]


def test_a_durable_write_syncs_the_folders_that_name_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write-ahead log entry was fsynced and answered 200, but its folder was not: a power
    loss after the 200 could lose the rename, and a new session's folders with it."""
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(handle: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{handle}"))
        real_fsync(handle)

    monkeypatch.setattr(os, "fsync", fsync)
    (tmp_path / "dt=2026-01-01").mkdir()
    target = tmp_path / "dt=2026-01-01" / "app_id=a" / "session_id=s" / "ev.parquet"
    write_file_atomic(Lake(str(tmp_path)), str(target), b"data")
    assert target.read_bytes() == b"data"
    assert synced[0].startswith(str(target.parent / ".ev.parquet.tmp-"))  # the data first
    assert sorted(synced[1:]) == sorted(  # then each folder gaining a name
        [str(target.parent), str(target.parent.parent), str(tmp_path / "dt=2026-01-01")]
    )
    synced.clear()
    write_file_atomic(Lake(str(tmp_path)), str(target), b"again", durable=False)
    assert synced == []
