"""The group itself: help, exit statuses, the `python -m` entry, and quiet by default."""

import logging
import os
import subprocess
import sys
import tomllib
import warnings
from pathlib import Path
from typing import Any

import pytest

import trajectory_assets as ta
from tests.cli.helpers import CLI
from tests.servers import silent_server
from trajectory_assets.cli import main
from trajectory_assets.cli.quiet import QUIET_ENV, quiet
from trajectory_assets.lake import fs

COMMANDS = [
    "demo",
    "explain",
    "forget",
    "generate",
    "ingest",
    "materialize",
    "query",
    "report",
    "rollback",
    "serve",
    "sync",
    "tables",
    "vacuum",
]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"trajectory-assets, version {ta.__version__}\n"
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "-v, --verbose" in out
    for command in COMMANDS:
        assert f"  {command} " in out
    for command in COMMANDS:
        assert main([command, "-h"]) == 0
        assert capsys.readouterr().out.startswith(f"Usage: trajectory-assets {command}")


def test_bad_usage_exits_2_with_click_usage(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["no-such-command"])
    assert exit_.value.code == 2
    assert "No such command 'no-such-command'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["generate", "--lake", "x", "--days", "0"])
    assert "0 is not in the range x>=1" in capsys.readouterr().err


@pytest.mark.slow
def test_python_dash_m_and_the_script_entry_point(tmp_path: Path) -> None:
    done = subprocess.run([*CLI, "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "Usage: trajectory-assets" in done.stdout
    failed = subprocess.run(
        [*CLI, "tables", "--lake", str(tmp_path / "none")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert failed.returncode == 1
    assert failed.stderr == f"error: no lake at {tmp_path / 'none'}\n"
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"]["trajectory-assets"] == "trajectory_assets.cli.main:run"


def test_generate_refuses_an_app_named_twice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["generate", "--lake", str(tmp_path / "lake"), "--apps", "a,b,a"]) == 1
    assert "--apps needs distinct app ids" in capsys.readouterr().err
    assert not (tmp_path / "lake").exists()


def test_generate_writes_new_days_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A second sample in the same days kept the first one's files its options did not
    overwrite: 315 sessions on a day of 300, sessions mixing two samples."""
    lake = tmp_path / "lake"
    sample = ["generate", "--lake", str(lake), "--sessions-per-day", "3", "--days", "2"]
    assert main([*sample, "--start", "2026-11-18", "--files-per-session", "2"]) == 0
    before = sorted(p.relative_to(lake) for p in lake.rglob("*.parquet"))
    capsys.readouterr()
    assert main([*sample, "--start", "2026-11-19", "--seed", "8"]) == 1
    assert capsys.readouterr().err == (
        f"error: {lake / 'raw_events'} already holds raw data for 2026-11-19: generate writes "
        "new days only, since a second sample would mix with the first; give other days "
        "(--start, --days) or another lake\n"
    )
    assert sorted(p.relative_to(lake) for p in lake.rglob("*.parquet")) == before
    assert main([*sample, "--start", "2026-11-20"]) == 0  # the days after: added


def test_quiet_hides_library_warnings_and_logs_and_restores_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in QUIET_ENV:
        monkeypatch.delenv(name, raising=False)
    dagster = logging.getLogger("dagster")
    monkeypatch.setattr(dagster, "level", logging.NOTSET)
    with quiet(verbose=False):
        assert os.environ["RAY_DATA_LOG_LEVEL"] == "CRITICAL"
        assert not dagster.isEnabledFor(logging.WARNING)
        assert not logging.getLogger("ray.data").isEnabledFor(logging.ERROR)  # the command says
        with warnings.catch_warnings(record=True) as seen:
            warnings.warn("a beta API", UserWarning, stacklevel=1)
        assert seen == []
    assert not set(QUIET_ENV) & set(os.environ)
    assert dagster.level == logging.NOTSET
    with quiet(verbose=True):
        assert "RAY_DATA_LOG_LEVEL" not in os.environ
        assert dagster.isEnabledFor(logging.WARNING)


def test_an_explicit_ray_setting_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAY_DATA_LOG_LEVEL", "DEBUG")
    with quiet(verbose=False):
        assert os.environ["RAY_DATA_LOG_LEVEL"] == "DEBUG"
    assert os.environ["RAY_DATA_LOG_LEVEL"] == "DEBUG"


@pytest.mark.slow
def test_no_import_circle() -> None:
    """The ingest command is a module of the package: nothing reaches into `__main__`."""
    source = (Path(__file__).parents[2] / "trajectory_assets/cli/ingest.py").read_text()
    assert "__main__" not in source
    assert not (Path(__file__).parents[2] / "trajectory_assets/ingest/cli.py").exists()
    done = subprocess.run(
        [sys.executable, "-c", "import trajectory_assets.cli.ingest"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_a_broken_link_in_the_raw_lake_is_an_error_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = tmp_path / "lake" / "raw_events"
    raw.mkdir(parents=True)
    (raw / "dt=2026-01-01").symlink_to(tmp_path / "gone")
    lake = str(tmp_path / "lake")
    code = main(["forget", "--lake", lake, "--app-id", "a", "--session-id", "s", "--yes"])
    assert code == 1
    err = capsys.readouterr().err
    assert err.startswith("error: raw data at ") and "is a symbolic link to" in err
    assert str(tmp_path / "gone") in err and "Traceback" not in err


def test_storage_that_refuses_the_lake_is_one_line_naming_the_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "mine")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    monkeypatch.setenv("TRAJECTORY_ASSETS_S3_ENDPOINT_URL", "http://127.0.0.1:9")
    assert main(["tables", "--lake", "s3://bucket/lake"]) == 1
    err = capsys.readouterr().err
    assert err == (
        "error: the lake's store cannot be used with these settings: Partial credentials found "
        "in env, missing: AWS_SECRET_ACCESS_KEY (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
        "the lake's s3:// URI and, for an S3-compatible store, "
        "TRAJECTORY_ASSETS_S3_ENDPOINT_URL)\n"
    )


def test_a_store_that_stops_answering_fails_after_a_few_attempts_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """s3fs retries each call 5 times around botocore's own 5 attempts: 25 read timeouts of
    15 s, a hung store held `tables` for 7 minutes. Timeouts are cut short here; the number of
    attempts is what the lake's settings bound."""
    monkeypatch.setattr(
        "trajectory_assets.lake.fs.S3_CLIENT_CONFIG",
        {**fs.S3_CLIENT_CONFIG, "connect_timeout": 0.2, "read_timeout": 0.2},
    )
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "mine")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    with silent_server() as server:
        monkeypatch.setenv("TRAJECTORY_ASSETS_S3_ENDPOINT_URL", server.endpoint_url)
        assert main(["tables", "--lake", "s3://bucket/lake"]) == 1
    assert server.connections == 6  # 3 of botocore's standard retries, twice
    err = capsys.readouterr().err
    assert err.startswith(
        "error: the lake's store failed or does not answer: Read timeout on endpoint"
    )
    assert err.endswith(
        "(is the store up, and is TRAJECTORY_ASSETS_S3_ENDPOINT_URL its address? Once it works, "
        "run the same command again: it finishes what this run left)\n"
    )


def test_ctrl_c_outside_a_run_is_one_line_and_status_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ctrl+C while a command lists or plans (no Dagster run to report it): click's `Aborted!`
    and exit 1 would say nothing of what happened."""

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("trajectory_assets.cli.tables.open_lake", interrupted)
    assert main(["tables", "--lake", "anywhere"]) == 130
    assert capsys.readouterr().err.strip() == "error: interrupted"  # after the ^C line


def test_a_bad_setting_is_one_line_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An environment variable or the lake's own settings file, wrong: one line, status 1."""
    lake = tmp_path / "lake"
    (lake / "raw_events").mkdir(parents=True)
    monkeypatch.setenv("TRAJECTORY_ASSETS_RETENTION_HOURS", "abc")
    assert main(["vacuum", "--lake", str(lake)]) == 1
    assert capsys.readouterr().err == (
        "error: TRAJECTORY_ASSETS_RETENTION_HOURS='abc': not a number\n"
    )
    monkeypatch.delenv("TRAJECTORY_ASSETS_RETENTION_HOURS")
    monkeypatch.setenv("TRAJECTORY_ASSETS_BATCH_BYTES", "-1")  # a dry run says what a run does
    assert main(["materialize", "--lake", str(lake), "--missing", "--dry-run"]) == 1
    assert capsys.readouterr().err == (
        "error: TRAJECTORY_ASSETS_BATCH_BYTES='-1': takes a whole number of 0 or more\n"
    )
    monkeypatch.delenv("TRAJECTORY_ASSETS_BATCH_BYTES")
    (lake / "trajectory_assets.json").write_text('{"start_dat": "2026-11-19"}')
    assert main(["tables", "--lake", str(lake)]) == 1
    assert capsys.readouterr().err == (
        f"error: {lake / 'trajectory_assets.json'}: unknown key(s) start_dat; the keys are "
        "start_date, defs, params, lake_id\n"
    )
    monkeypatch.setenv("DAGSTER_HOME", str(lake / "trajectory_assets.json"))
    assert main(["sync", "--lake", str(lake)]) == 1
    assert "is a file, not a folder for the Dagster instance" in capsys.readouterr().err

    (lake / "trajectory_assets.json").unlink()
    home = tmp_path / "home"
    (home / "history" / "runs.db").mkdir(parents=True)  # SQLite cannot open it: an outage
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(["sync", "--lake", str(lake)]) == 1
    assert capsys.readouterr().err.splitlines(keepends=True)[-1] == (
        f"error: the Dagster instance's database cannot be used (DAGSTER_HOME={home}): "
        "(sqlite3.OperationalError) unable to open database file. Once it works again, run the "
        "command again: a run it cut short is marked failed, and `sync` records the days it "
        "committed\n"
    )


def test_the_production_instance_without_its_driver_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """deploy/dagster.yaml's storage is dagster-postgres, the `postgres` extra: without it
    every command that opens the instance printed Dagster's 61-line traceback."""
    import shutil
    import sys

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(Path(__file__).parents[2] / "deploy" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setitem(sys.modules, "dagster_postgres", None)  # as if it were not installed
    (tmp_path / "lake" / "raw_events").mkdir(parents=True)
    assert main(["sync", "--lake", str(tmp_path / "lake")]) == 1
    said = capsys.readouterr().err.splitlines()[-1]
    assert said.startswith(f"error: the Dagster instance's settings (DAGSTER_HOME={home}) store")
    assert said.endswith(": pip install 'trajectory-assets[postgres]'")


def test_a_lake_the_file_system_refuses_to_write_is_one_line(
    materialized_lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reader with read-only access who runs vacuum (or rollback): Delta Lake's Rust core
    raises an OSError of its own, as here, word for word (a read-only bind mount), which
    printed a traceback in terminal colours."""
    from deltalake import DeltaTable

    log = materialized_lake / "errors" / "_delta_log" / "00000000000000000001.json#1"
    refused = OSError(
        "Generic LocalFileSystem error\n"
        f"          \x1b[31m↳\x1b[0m Unable to open file {log}\n"
        "           \x1b[31m↳\x1b[0m Read-only file system (os error 30)\n"
    )

    def vacuum(*args: object, **kwargs: object) -> list[str]:
        raise refused

    monkeypatch.setattr(DeltaTable, "vacuum", vacuum)
    assert main(["vacuum", "--lake", str(materialized_lake), "--retention-hours", "0"]) == 1
    assert capsys.readouterr().err == (
        "error: the file system refused: Generic LocalFileSystem error: Unable to open file "
        f"{log}: Read-only file system (os error 30)\n"
    )


def test_a_full_disk_or_too_many_open_files_is_one_line_saying_what_to_do(
    materialized_lake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """vacuum on a full disk (Delta Lake writes a commit before it deletes), generate, forget:
    each printed a traceback ending in `No space left on device`."""
    import errno

    import pyarrow.parquet as pq
    from deltalake import DeltaTable

    full = OSError(
        "Generic LocalFileSystem error\n"
        "          \x1b[31m↳\x1b[0m Unable to copy data to file\n"
        "           \x1b[31m↳\x1b[0m No space left on device (os error 28)\n"
    )

    def vacuum(*args: object, **kwargs: object) -> list[str]:
        raise full

    monkeypatch.setattr(DeltaTable, "vacuum", vacuum)
    assert main(["vacuum", "--lake", str(materialized_lake), "--retention-hours", "0"]) == 1
    assert capsys.readouterr().err == (
        "error: no space left on the device (Generic LocalFileSystem error: Unable to copy data "
        "to file: No space left on device (os error 28)): free some, then run the same command "
        "again (it finishes what a run, a rollback or a forget left unfinished; vacuum too "
        "needs a little space, for the commit it writes before it deletes)\n"
    )

    real, written = pq.write_table, []

    def write_table(*args: Any, **kwargs: Any) -> None:
        written.append(1)
        if len(written) > 5:  # some sessions written: the day is there, half done
            raise OSError(errno.EMFILE, "Too many open files", "part-0.parquet")
        real(*args, **kwargs)

    with monkeypatch.context() as patched:
        patched.setattr(pq, "write_table", write_table)
        assert main(["generate", "--lake", str(tmp_path / "lake"), "--days", "1"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: too many open files ([Errno 24] Too many open files: ")
    assert err.endswith("raise the limit (`ulimit -n`), then run the command again\n")
    assert not list((tmp_path / "lake").rglob("dt=*"))  # half a sample refused the next

    def read_only(*args: object, **kwargs: object) -> None:  # a read-only bind mount
        raise OSError(errno.EROFS, "Read-only file system", "part-0.parquet")

    with monkeypatch.context() as patched:
        patched.setattr(pq, "write_table", read_only)
        assert main(["generate", "--lake", str(tmp_path / "other"), "--days", "1"]) == 1
    assert capsys.readouterr().err.endswith(
        "error: the file system refused: [Errno 30] Read-only file system: 'part-0.parquet'\n"
    )
    assert main(["generate", "--lake", str(tmp_path / "lake"), "--days", "1"]) == 0


def test_a_read_only_dagster_instance_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A reader with a read-only copy of DAGSTER_HOME was told the database "cannot be used"
    and to try again once it works: an outage, not a permission. SQLite's error, as SQLAlchemy
    raises it (root writes any file, so the test cannot make SQLite refuse one)."""
    import sqlite3

    import sqlalchemy.exc

    refused = sqlalchemy.exc.OperationalError(
        "INSERT INTO runs", {}, sqlite3.OperationalError("attempt to write a readonly database")
    )

    def sync(*args: object, **kwargs: object) -> None:
        raise refused

    monkeypatch.setattr("trajectory_assets.defs.sync.sync", sync)
    lake, home = tmp_path / "lake", tmp_path / "home"
    (lake / "raw_events").mkdir(parents=True)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    assert main(["sync", "--lake", str(lake)]) == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"error: the Dagster instance's database is read-only here (DAGSTER_HOME={home}): "
        "(sqlite3.OperationalError) attempt to write a readonly database. A command that runs "
        "or records needs write access to it; query, tables, explain and report need no instance"
    )


@pytest.mark.parametrize(
    ("code", "status", "said"),
    [
        ("InvalidAccessKeyId", 403, "the lake's store refused this access: "),
        ("403", 403, "the lake's store refused this access: "),
        ("NoSuchBucket", 404, "the lake's bucket does not exist: "),
        ("InvalidArgument", 400, "the lake's store cannot be used with these settings: "),
        ("SlowDown", 503, "the lake's store failed or does not answer: "),
        ("InternalError", 500, "the lake's store failed or does not answer: "),
    ],
)
def test_a_store_refusing_the_credentials_or_missing_the_bucket_says_which(
    code: str,
    status: int,
    said: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A wrong key said `permission denied: Forbidden` (s3fs' PermissionError, before the
    botocore error it was raised from), a missing bucket that the credentials were wrong, and a
    store's own failure (5xx) that the credentials were to check."""
    from botocore.exceptions import ClientError
    from s3fs.errors import translate_boto_error

    def refused(*args: object, **kwargs: object) -> None:
        metadata = {"HTTPStatusCode": status}
        response = {"Error": {"Code": code, "Message": "Forbidden"}, "ResponseMetadata": metadata}
        error = ClientError(response, "HeadObject")
        raise translate_boto_error(error)

    monkeypatch.setattr("trajectory_assets.cli.tables.open_lake", refused)
    assert main(["tables", "--lake", "s3://bucket/lake"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {said}An error occurred ({code}) when calling the HeadObject")
    assert err.count("\n") == 1
