"""Whose write-ahead log (`wal`) a receiver may take in: an owner that has ended, never a live one.

A live owner rewrites its folder's `_alive` every HEARTBEAT_S. An owner whose process ran here
(the same host name and process-id namespace: containers sharing a host name do not share
process ids) has ended when that process no longer runs, or, for this very process, once its
receiver stopped. Any other owner has ended once its `_alive` has not changed for STALE_S, as
this receiver's own clock measures it from when it first saw that content: no two machines'
clocks are compared, and an `_alive` missing or unreadable is watched the same way.
"""

import json
import os
import posixpath
import socket
import time
from typing import TypedDict

from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.processes import running_elsewhere, this_process_started

ALIVE = "_alive"
HEARTBEAT_S = 30.0
STALE_S = 180.0
"""An owner elsewhere whose `_alive` has not changed for this long is taken for gone (a live one
rewrites it every HEARTBEAT_S: the margin is for a store slow to take it)."""

_OPEN: set[str] = set()  # this process's folders whose receiver has not stopped


class Alive(TypedDict):
    owner: str  # host:pid:start (`processes.this_process_started`)
    pid_namespace: str  # `/proc/self/ns/pid`'s link ('' where there is none)
    at: float  # seconds since the epoch, for whoever reads the folder


def alive_document() -> bytes:
    alive = Alive(owner=this_process_started(), pid_namespace=_pid_namespace(), at=time.time())
    return json.dumps(alive).encode()


class Owners:
    """What one receiver has seen of the other owners' `_alive`, to tell which have ended."""

    def __init__(self, lake: Lake, stale_s: float = STALE_S) -> None:
        self.lake = lake
        self.stale_s = stale_s
        self._seen: dict[str, tuple[bytes | None, float]] = {}  # folder: (content, since)

    def folder_name(self) -> str:
        """A new folder of this process's (it may run several receivers, one after another)."""
        name = this_process_started().replace(":", "-").replace("/", "-")
        return f"{name}-{time.time_ns()}"

    def started(self, folder: str) -> None:
        _OPEN.add(folder)

    def stopped(self, folder: str) -> None:
        _OPEN.discard(folder)

    def forget_others(self, folders: list[str]) -> None:
        """Folders no longer there (taken in, or removed by their owner) are not watched."""
        present = set(folders)
        self._seen = {f: seen for f, seen in self._seen.items() if f in present}

    def gone(self, folder: str) -> bool:
        fs = self.lake.fs
        try:
            names = [posixpath.basename(p) for p in fs.ls(folder, detail=False)]
        except FileNotFoundError:  # taken in meanwhile
            return False
        content: bytes | None = None
        try:
            content = fs.cat_file(posixpath.join(folder, ALIVE))
        except FileNotFoundError:
            if not any(name.endswith(".json.gz") for name in names):
                return False  # nothing to take in (or a receiver starting in it)
        except OSError:
            pass
        here = _here(content)
        if here == this_process_started():
            return folder not in _OPEN
        if here is not None:
            return here != ""
        return self._silent(folder, content)

    def _silent(self, folder: str, content: bytes | None) -> bool:
        now = time.monotonic()
        seen = self._seen.get(folder)
        if seen is None or seen[0] != content:
            self._seen[folder] = (content, now)
            return False
        return now - seen[1] >= self.stale_s


def _here(content: bytes | None) -> str | None:
    """For an owner that ran in this host and process-id namespace: '' when its process still
    runs, its name when it has ended, or this process's own name; None for any other."""
    try:
        alive: Alive = json.loads(content or b"")
        owner = str(alive["owner"])
        namespace = str(alive["pid_namespace"])
    except (ValueError, KeyError, TypeError):
        return None
    if owner.split(":", 1)[0] != socket.gethostname() or namespace != _pid_namespace():
        return None
    if owner == this_process_started():
        return owner
    return "" if running_elsewhere(owner) is not None else owner


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
