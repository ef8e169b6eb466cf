"""A receiver's write-ahead log: what `serve` acknowledged and has not yet written as raw events.

    <lake>/_serve/<owner>/_alive                 who writes here, and when it last said so
    <lake>/_serve/<owner>/<entry>.json.gz        one request's accepted records (`Entry`)

The receiver answers 200 only once a request's entry is written (and on disk), and deletes the
entry once everything in it is written to the raw lake. Spans wait in memory for their trace's
root (minutes, for an agent running a long tool) and for the logger's next write, and no
exporter sends again what was answered 200: a receiver killed meanwhile (SIGKILL, out of
memory, its machine lost) would lose them. Its entries are taken in again by the next receiver
on the lake, in order: an owner whose process ended on this machine, or whose `_alive` was not
rewritten for `STALE_S` (another machine's), has left an orphan. What was written already is
written again with the same event ids, which the receiver's loggers drop.

Hidden from every table and listing (the name starts with `_`).
"""

import datetime as dt
import gzip
import json
import posixpath
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any, TypedDict

from trajectory_assets.lake.fs import Lake, write_file_atomic
from trajectory_assets.lake.mentions import Sessions
from trajectory_assets.lake.processes import running_elsewhere, this_process_started

WAL = "_serve"
ALIVE = "_alive"
HEARTBEAT_S = 30.0
STALE_S = 180.0
"""An owner on another machine that has not said it is alive for this long is taken for gone
(a live one rewrites `_alive` every `HEARTBEAT_S`; the margin is for clocks that differ)."""
_OPEN: set[str] = set()  # this process's folders whose receiver has not stopped


class Entry(TypedDict):
    """One request's records as JSON: the app they were received for, when, and the records."""

    app_id: str
    received_at: str  # ISO time, UTC
    records: list[dict[str, Any]]


class Alive(TypedDict):
    owner: str  # host:pid:start (`processes.this_process_started`)
    at: float  # seconds since the epoch


class WriteAheadLog:
    """This process's folder of the lake's write-ahead log."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.owner = this_process_started()
        name = self.owner.replace(":", "-").replace("/", "-")
        self.folder = lake.path(WAL, f"{name}-{time.time_ns()}")  # two receivers per process
        self._next = 0
        self._lock = threading.Lock()
        self._beat = 0.0
        self.beat()
        _OPEN.add(self.folder)

    def append(self, app_id: str, records: Sequence[dict[str, Any]]) -> int:
        """Write one request's records; the entry's number (entries are numbered in order)."""
        with self._lock:
            number = self._next
            self._next += 1
        entry = Entry(
            app_id=app_id,
            received_at=dt.datetime.now(dt.UTC).isoformat(),
            records=list(records),
        )
        # a lone surrogate as JSON's own escape, as `quarantine.keep_rejected` keeps it
        text = json.dumps(entry, default=str, ensure_ascii=False)
        data = gzip.compress(text.encode("utf-8", "backslashreplace"), compresslevel=1)
        write_file_atomic(self.lake, self._path(number), data)
        return number

    def release(self, numbers: Sequence[int]) -> None:
        """Delete entries whose records are all written."""
        paths = [self._path(n) for n in numbers]
        if paths:
            self.lake.fs.rm(paths)

    def beat(self, *, now: float | None = None) -> None:
        """Say this owner is alive, at most every HEARTBEAT_S."""
        now = time.time() if now is None else now
        if now - self._beat >= HEARTBEAT_S:
            alive = Alive(owner=self.owner, at=now)
            path = posixpath.join(self.folder, ALIVE)
            write_file_atomic(self.lake, path, json.dumps(alive).encode(), durable=False)
            self._beat = now

    def close(self, *, written: bool) -> None:
        """The receiver stops: its folder goes when everything it received is `written`, else
        it stays for the next receiver on the lake (of this process too) to take in."""
        _OPEN.discard(self.folder)
        if written:
            remove_folder(self.lake, self.folder)

    def orphans(self) -> list[str]:
        """Other owners' folders whose owner is gone, oldest entries first within each."""
        fs = self.lake.fs
        root = self.lake.path(WAL)
        if not fs.exists(root):
            return []
        folders = sorted(p.rstrip("/") for p in fs.ls(root, detail=False))
        return [f for f in folders if f != self.folder and _gone(self.lake, f)]

    def _path(self, number: int) -> str:
        return posixpath.join(self.folder, f"{number:012d}.json.gz")


def entries(lake: Lake, folder: str) -> Iterator[tuple[str, Entry, int]]:
    """An owner's entries, in the order it wrote them, with their size as JSON."""
    paths = sorted(p for p in lake.fs.ls(folder, detail=False) if p.endswith(".json.gz"))
    for path in paths:
        text = gzip.decompress(lake.fs.cat_file(path))
        entry: Entry = json.loads(text.decode())
        yield path, entry, len(text)


def all_entries(lake: Lake) -> Iterator[tuple[str, Entry, int]]:
    """Every owner's entries, running or gone (what `forget` must not leave behind)."""
    fs = lake.fs
    root = lake.path(WAL)
    if not fs.exists(root):
        return
    for folder in sorted(p.rstrip("/") for p in fs.ls(root, detail=False)):
        if fs.isdir(folder):
            yield from entries(lake, folder)


def entries_naming(lake: Lake, sessions: Sessions, *, whole_app: bool) -> dict[str, list[str]]:
    """Entries of the app with records that name the sessions (any of the app's, `whole_app`),
    and which: spans a receiver acknowledged and will write."""
    found = {}
    for path, entry, _size in all_entries(lake):
        if entry["app_id"] != sessions.app_id:
            continue
        named = set().union(*(sessions.in_values(r) for r in entry["records"]))
        if named or whole_app:
            found[path] = sorted(named) or ["(any of the app's)"]
    return found


def remove_folder(lake: Lake, folder: str) -> None:
    fs = lake.fs
    if fs.exists(folder):
        fs.rm(folder, recursive=True)
    root = posixpath.dirname(folder)
    if lake.is_local and fs.exists(root) and not fs.ls(root):
        fs.rm(root, recursive=True)


def _gone(lake: Lake, folder: str) -> bool:
    """The folder's owner has ended: a process of this machine that no longer runs (a receiver
    of this one that stopped), or one that has not said it is alive for STALE_S; a folder
    without `_alive` holding entries was left by a receiver stopped before it wrote one (its
    `_alive` comes first)."""
    fs = lake.fs
    if not fs.isdir(folder):
        return False
    try:
        alive: Alive = json.loads(fs.cat_file(posixpath.join(folder, ALIVE)))
    except FileNotFoundError:
        return any(p.endswith(".json.gz") for p in fs.ls(folder, detail=False))
    except (ValueError, OSError):  # unreadable: only its age can tell
        return False
    owner = str(alive.get("owner", ""))
    if owner == this_process_started():
        return folder not in _OPEN
    if owner.split(":", 1)[0] == socket.gethostname():
        return running_elsewhere(owner) is None
    return time.time() - float(alive.get("at", 0.0)) > STALE_S
