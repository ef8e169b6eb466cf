import os
import pickle
import re
from pathlib import Path

import pytest

from trajectory_assets.cli.main import main
from trajectory_assets.errors import SettingError
from trajectory_assets.ingest import EventLogger
from trajectory_assets.lake.fs import S3_ENDPOINT_URL_ENV, Lake, storage_failure, write_file_atomic


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


def test_a_relative_root_is_the_same_folder_wherever_the_lake_is_unpickled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ray's workers of a cluster started in another folder read a relative root from theirs:
    a run said a data file of the current version was gone, and advised computing it again."""
    monkeypatch.chdir(tmp_path)
    sent = pickle.dumps(Lake("team/lake"))
    monkeypatch.chdir("/")
    assert pickle.loads(sent).root == str(tmp_path / "team" / "lake")


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


@pytest.mark.parametrize(
    ("root", "said"),
    [
        ("s3://lake/tmp/../prod", "holds an empty, '.' or '..' part"),
        ("s3://lake//prod", "holds an empty, '.' or '..' part"),
        ("s3://lake/./prod", "holds an empty, '.' or '..' part"),
        ("s3://my lake/prod", "names the bucket 'my lake', which no S3 store holds"),
        ("s3://lake?x=1/prod", "names the bucket 'lake?x=1', which no S3 store holds"),
    ],
)
def test_an_object_store_root_delta_lake_would_read_elsewhere_is_refused(
    root: str, said: str
) -> None:
    """s3fs wrote `bucket/tmp/../prod/...` as it was, delta-rs read and committed to
    `bucket/prod`: a run's commit landed in another lake's table, and broke it. `//` stranded
    the raw files `generate` had written (every command failed on them with a traceback)."""
    with pytest.raises(SettingError, match=re.escape(f"the lake root {root!r} {said}")):
        Lake(root)
    assert Lake("s3://lake.v2_x-y/a/b/").root == "lake.v2_x-y/a/b"


@pytest.mark.parametrize("endpoint", ["127.0.0.1:9000", "http://127.0.0.1:9000/bucket", "ftp://h"])
def test_an_endpoint_that_is_no_store_address_is_named(
    endpoint: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without its scheme: aiobotocore's traceback, and the logger retried until it closed;
    with the bucket in its path: "no lake at s3://..." for a lake that was there."""
    monkeypatch.setenv(S3_ENDPOINT_URL_ENV, endpoint)
    assert main(["tables", "--lake", "s3://bucket/lake"]) == 1
    assert capsys.readouterr().err == (
        f"error: {S3_ENDPOINT_URL_ENV}={endpoint!r} is not a store's address: give its scheme, "
        "host and port alone, as http://127.0.0.1:9000 (the bucket goes in the lake's s3:// URI)\n"
    )


def test_only_the_storage_failing_is_a_storage_failure() -> None:
    """`serve` answers 503 (send again) for a storage failure: a mistake raised while one was
    handled was one too, and every retry of its request met it again, forever."""
    from botocore.exceptions import EndpointConnectionError, ParamValidationError

    assert storage_failure(EndpointConnectionError(endpoint_url="http://127.0.0.1:9"))
    assert not storage_failure(ParamValidationError(report="Invalid bucket name"))
    try:
        try:
            raise FileNotFoundError("lake/_serve/1.json.gz")
        except FileNotFoundError:
            entries: dict[str, int] = {}
            _ = entries["missing"]  # a mistake in the handler
    except KeyError as mistake:
        assert not storage_failure(mistake)
    try:
        try:
            raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")
        except EndpointConnectionError as exc:
            raise RuntimeError("the entry was not written") from exc
    except RuntimeError as raised_from:
        assert storage_failure(raised_from)
