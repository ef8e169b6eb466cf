"""Whose write-ahead log a receiver takes in: an owner that has ended, never a live one."""

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.wal import STALE_S, WriteAheadLog, entries


def _folder(lake: Path, name: str, owner: str, at: float, entry: bool = True) -> str:
    folder = lake / "_serve" / name
    folder.mkdir(parents=True)
    (folder / "_alive").write_text(json.dumps({"owner": owner, "at": at}))
    if entry:
        (folder / "000000000000.json.gz").write_bytes(b"")
    return str(folder)


def _ended_pid() -> int:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(done.stdout)


def test_an_owner_that_ended_or_went_silent_left_an_orphan(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    host, now = socket.gethostname(), time.time()
    ended = _folder(tmp_path, "ended", f"{host}:{_ended_pid()}:1", now)
    silent = _folder(tmp_path, "silent", "elsewhere:1:1", now - STALE_S - 1)
    _folder(tmp_path, "another-machine", "elsewhere:1:1", now - 5)
    _folder(tmp_path, "running-here", f"{host}:1:{_start_of(1)}", now - STALE_S - 1)
    unnamed = tmp_path / "_serve" / "stopped-before-its-alive"
    unnamed.mkdir()
    (unnamed / "000000000000.json.gz").write_bytes(b"")
    (tmp_path / "_serve" / "starting").mkdir()  # no `_alive` yet, and no entry
    mine = WriteAheadLog(lake)
    other = WriteAheadLog(lake)  # another receiver of this process, running
    assert sorted(mine.orphans()) == sorted([ended, silent, str(unnamed)])
    other.close(written=False)  # stopped, its entries kept: the next receiver takes them in
    assert other.folder in mine.orphans()
    mine.close(written=True)
    assert not Path(mine.folder).exists()


def test_entries_come_back_in_the_order_they_were_written(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    log = WriteAheadLog(lake)
    numbers = [log.append("a", [{"spanId": str(i), "name": "\ud800 cut"}]) for i in range(12)]
    log.release(numbers[:2])
    read = [entry["records"][0]["spanId"] for _path, entry, _size in entries(lake, log.folder)]
    assert read == [str(i) for i in range(2, 12)]
    log.close(written=True)
    assert not Path(tmp_path, "_serve").exists()


def _start_of(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
