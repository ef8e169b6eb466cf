"""Whose write-ahead log a receiver takes in: an owner that has ended, never a live one; and
the entries come back in order, one unreadable set aside."""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.wal import WriteAheadLog, entries, remove_taken
from trajectory_assets.lake.wal_owners import HEARTBEAT_S, this_machine
from trajectory_assets.processes import this_process_started


def _folder(lake: Path, name: str, alive: dict[str, object] | bytes | None) -> str:
    folder = lake / "_serve" / name
    folder.mkdir(parents=True)
    if isinstance(alive, dict):
        (folder / "_alive").write_text(json.dumps(alive))
    elif alive is not None:
        (folder / "_alive").write_bytes(alive)
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
    here = {"machine": this_machine(), "at": time.time()}
    host = socket.gethostname()
    ended = _folder(tmp_path, "ended", {**here, "owner": f"{host}:{_ended_pid()}:1"})
    live = f"{host}:{os.getppid()}:{_start_of(os.getppid())}"
    _folder(tmp_path, "running-here", {**here, "owner": live})
    elsewhere = _folder(tmp_path, "elsewhere", {**here, "owner": "elsewhere:1:1"})
    # a host name shared by another machine, or containers whose process ids are not: its pid
    # means nothing here
    other_ns = _folder(tmp_path, "other-ns", {**here, "owner": live, "machine": "x"})
    unreadable = _folder(tmp_path, "unreadable", b"")
    unnamed = _folder(tmp_path, "stopped-before-its-alive", None)
    (tmp_path / "_serve" / "starting").mkdir()  # no `_alive` yet, and no entry: watched
    mine = WriteAheadLog(lake)
    mine.owners.stale_s = 0.2
    other = WriteAheadLog(lake)  # another receiver of this process, running
    assert mine.orphans() == [ended]  # the others first seen now
    Path(elsewhere, "_alive").write_text(json.dumps({**here, "owner": "elsewhere:1:1", "at": 1}))
    time.sleep(0.3)
    starting = str(tmp_path / "_serve" / "starting")  # nothing came in it: left by a kill
    silent = sorted([other_ns, unreadable, unnamed, starting])
    assert sorted(mine.orphans()) == sorted([ended, *silent])  # elsewhere said it is alive
    time.sleep(0.3)
    assert sorted(mine.orphans()) == sorted([ended, elsewhere, *silent])
    other.close(written=False)  # stopped, its entries kept: the next receiver takes them in
    assert other.folder in mine.orphans()
    mine.close(written=True)
    assert not Path(mine.folder).exists()


def test_a_live_receiver_says_so_and_brings_its_alive_back(tmp_path: Path) -> None:
    log = WriteAheadLog(Lake(str(tmp_path)))
    alive = Path(log.folder, "_alive")
    assert json.loads(alive.read_text())["owner"] == this_process_started()
    alive.unlink()  # (a receiver wrongly taking it for gone)
    log.beat()  # what its thread does every HEARTBEAT_S
    assert alive.exists() and HEARTBEAT_S <= 30
    log.close(written=True)


def test_entries_come_back_in_order_and_an_unreadable_one_as_such(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    log = WriteAheadLog(lake)
    numbers = [log.append({"a": [{"spanId": str(i), "name": "\ud800 cut"}]}) for i in range(12)]
    log.release(numbers[:2])
    log.release(numbers[:3])  # one already gone is no error
    Path(log.folder, f"{numbers[5]:012d}.json.gz").write_bytes(b"\x1f\x8b cut short")
    read = [e["records"]["a"][0] if e else None for _p, e, _s in entries(lake, log.folder)]
    assert [r and r["spanId"] for r in read] == ["3", "4", None, *(str(i) for i in range(6, 12))]
    assert read[0] == {"spanId": "3", "name": "\ud800 cut"}
    log.close(written=False)
    taken = Path(log.folder)
    for path in taken.glob("*.json.gz"):
        path.unlink()
    remove_taken(lake, str(taken))  # its entries each deleted as they were taken in
    assert not Path(tmp_path, "_serve").exists()


def _start_of(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def test_one_receiver_at_a_time_takes_an_orphan_in(tmp_path: Path) -> None:
    """Two starting together took the same orphan in twice (its traces split between them);
    a taker killed while at it holds it no more."""
    lake = Lake(str(tmp_path))
    orphan = WriteAheadLog(lake)
    orphan.append({"a": [{"spanId": "1"}]})
    orphan.close(written=False)
    first, second = WriteAheadLog(lake), WriteAheadLog(lake)
    held = first.owners.claim(orphan.folder)
    assert held is not None and second.owners.claim(orphan.folder) is None
    held.release()  # done with it (or stopped)
    again = second.owners.claim(orphan.folder)
    assert again is not None
    again.release()
    holding = subprocess.Popen([sys.executable, "-c", HOLD, orphan.folder], stdout=subprocess.PIPE)
    assert holding.stdout is not None and holding.stdout.readline() == b"held\n"
    assert first.owners.claim(orphan.folder) is None
    holding.kill()
    holding.wait()
    taken = first.owners.claim(orphan.folder)
    assert taken is not None
    taken.release()
    first.close(written=True)
    second.close(written=True)


HOLD = """
import fcntl, os, sys, time
handle = open(os.path.join(sys.argv[1], "_claim"), "ab")
fcntl.flock(handle, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_an_alive_that_cannot_be_read_now_tells_nothing(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    odd = Path(_folder(tmp_path, "odd", None))
    (odd / "_alive").mkdir()  # reading it fails, as a store failing its GETs does
    mine = WriteAheadLog(lake)
    mine.owners.stale_s = 0.0
    assert mine.orphans() == [] and mine.orphans() == []
    mine.close(written=True)


def test_a_taken_orphan_goes_with_the_temporary_file_its_killed_owner_left(
    tmp_path: Path,
) -> None:
    folder = Path(_folder(tmp_path, "killed", {"owner": "x:1:1", "machine": "", "at": 0}))
    (folder / "000000000000.json.gz").unlink()
    (folder / ".000000000001.json.gz.tmp-0123").write_bytes(b"half")
    (folder / "_claim").write_text("{}")
    remove_taken(Lake(str(tmp_path)), str(folder))
    assert not Path(tmp_path, "_serve").exists()


def test_forget_is_not_refused_a_session_an_entry_kept_for_another_has_written(
    tmp_path: Path,
) -> None:
    from trajectory_assets.lake.mentions import Sessions
    from trajectory_assets.lake.wal import entries_naming

    lake = Lake(str(tmp_path))
    log = WriteAheadLog(lake)
    done = {"traceId": "1" * 32, "attributes": {"gen_ai.conversation.id": "done-1"}}
    waiting = {"traceId": "2" * 32, "attributes": {"gen_ai.conversation.id": "waits-2"}}
    number = log.append({"a": [done, waiting]})
    log.write_released({number: [("a", "1" * 32)]})
    named = entries_naming(lake, Sessions("a", frozenset({"done-1", "waits-2"})), whole_app=False)
    assert list(named.values()) == [["waits-2"]]
    log.close(written=True)
