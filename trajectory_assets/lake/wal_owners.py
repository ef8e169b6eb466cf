"""Whose write-ahead log (`wal`) a receiver may take in: an owner that has ended, never a live one.

A live owner rewrites its folder's `_alive` every HEARTBEAT_S. An owner whose process ran on
this very machine (the same boot and process-id namespace: host names are shared by containers
and by machines alike) has ended when that process no longer runs, or, for this process, once
its receiver stopped. Any other owner has ended once its folder (`_alive` and the names of its
entries) has not changed for STALE_S, as this receiver's own clock measures it from when it
first saw it that way: no two machines' clocks are compared.

A receiver takes an orphan in only while it holds the orphan's `_claim` (receivers starting at
the same moment took the same orphan in twice): locally a lock on the file, which ends with its
process; on an object store, its claim still there CLAIM_SETTLE_S after it wrote it (the last
writer wins), rewritten while it works, and taken for its taker's end as an owner's would be.
"""

import contextlib
import fcntl
import json
import os
import posixpath
import socket
import time
from typing import IO, TypedDict

from trajectory_assets.lake.fs import Lake, write_file_atomic
from trajectory_assets.processes import running_elsewhere, this_process_started

ALIVE = "_alive"
CLAIM = "_claim"
HEARTBEAT_S = 30.0
STALE_S = 180.0
"""An owner elsewhere whose folder has not changed for this long is taken for gone (a live one
rewrites `_alive` every HEARTBEAT_S: the margin is for a store slow to take it)."""
CLAIM_SETTLE_S = 1.0

_OPEN: set[str] = set()  # this process's folders whose receiver has not stopped


class Alive(TypedDict):
    owner: str  # host:pid:start (`processes.this_process_started`)
    machine: str  # boot id and process-id namespace ('' where there are none)
    at: float  # seconds since the epoch, for whoever reads the folder


def folder_name() -> str:
    """A new folder of this process's (it may run several receivers, one after another)."""
    name = this_process_started().replace(":", "-").replace("/", "-")
    return f"{name}-{time.time_ns()}"


def alive_document() -> bytes:
    alive = Alive(owner=this_process_started(), machine=this_machine(), at=time.time())
    return json.dumps(alive).encode()


class Owners:
    """What one receiver has seen of the other owners' folders, to tell which have ended."""

    def __init__(self, lake: Lake, folder: str, stale_s: float = STALE_S) -> None:
        self.lake = lake
        self.folder = folder  # this receiver's own
        self.stale_s = stale_s
        self._seen: dict[str, tuple[bytes, float]] = {}  # folder: (what it showed, since)

    def started(self) -> None:
        _OPEN.add(self.folder)

    def stopped(self) -> None:
        _OPEN.discard(self.folder)

    def forget_others(self, folders: list[str]) -> None:
        """Folders no longer there (taken in, or removed by their owner) are not watched, nor
        their claims."""
        present = set(folders)
        self._seen = {
            f: seen
            for f, seen in self._seen.items()
            if f in present or posixpath.dirname(f) in present
        }

    def gone(self, folder: str) -> bool:
        fs = self.lake.fs
        alive: bytes | None = None
        try:
            names = sorted(posixpath.basename(p) for p in fs.ls(folder, detail=False))
            if ALIVE in names:
                alive = fs.cat_file(posixpath.join(folder, ALIVE))
        except OSError:  # taken in meanwhile, or cannot be read now: nothing can be told
            return False
        here = _here(alive)
        if here == this_process_started():
            return folder not in _OPEN
        if here is not None:
            return here != ""
        # (a folder without `_alive` or entries: a receiver starting in it writes one at once;
        # one killed in its first write, or a taker in its last, left it)
        return self._silent(folder, (alive or b"") + "\n".join(names).encode())

    def claim(self, folder: str) -> "Claim | None":
        """The orphan's claim, when this receiver may take it in now: no other receiver holds
        it, or the one that did has ended as an owner would."""
        path = posixpath.join(folder, CLAIM)
        if self.lake.is_local:  # held as long as this process holds the file open
            try:
                handle = open(path, "ab")  # noqa: SIM115 - closed by Claim.release
            except FileNotFoundError:  # taken in meanwhile
                return None
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return None
            return Claim(self.lake, path, handle, b"")
        fs = self.lake.fs
        with contextlib.suppress(FileNotFoundError):
            held = fs.cat_file(path)
            here = _here(held)
            if here == this_process_started():  # its own, left by a failed take: claimed again
                taker = json.loads(held).get("folder")
                here = "" if taker in _OPEN and taker != self.folder else here
            if here == "" or (here is None and not self._silent(path, held)):
                return None  # another receiver takes it in now
            if fs.cat_file(path) != held:
                return None  # claimed again meanwhile
            fs.rm(path)  # its receiver ended while taking it in
        claim = Claim(self.lake, path, None, self._claim_document())
        claim.refresh(force=True)
        time.sleep(CLAIM_SETTLE_S)  # the last writer wins
        return claim if fs.cat_file(path) == claim.document else None

    def _claim_document(self) -> bytes:
        claimer = {"owner": this_process_started(), "machine": this_machine()}
        return json.dumps({**claimer, "folder": self.folder}).encode()  # `at` by refresh

    def _silent(self, folder: str, shown: bytes) -> bool:
        now = time.monotonic()
        seen = self._seen.get(folder)
        if seen is None or seen[0] != shown:
            self._seen[folder] = (shown, now)
            return False
        return now - seen[1] >= self.stale_s


class Claim:
    """A receiver's hold on an orphan while it takes it in: locally a lock on the claim file
    (gone with the process), on an object store the claim object, rewritten every HEARTBEAT_S
    so that other receivers see its taker alive."""

    def __init__(self, lake: Lake, path: str, handle: IO[bytes] | None, document: bytes) -> None:
        self.lake = lake
        self.path = path
        self.handle = handle
        self.document = document
        self._written = 0.0

    def refresh(self, *, force: bool = False) -> None:
        if self.handle is None and (force or time.monotonic() - self._written >= HEARTBEAT_S):
            claim = json.loads(self.document)
            self.document = json.dumps({**claim, "at": time.time()}).encode()
            write_file_atomic(self.lake, self.path, self.document)
            self._written = time.monotonic()

    def release(self) -> None:
        if self.handle is not None:
            self.handle.close()


def _here(content: bytes | None) -> str | None:
    """For an owner that ran on this machine: '' when its process still runs, its name when
    it has ended, or this process's own name; None for any other (or none that can be read)."""
    try:
        alive = json.loads(content or b"")
        owner, machine = str(alive["owner"]), str(alive["machine"])
    except (ValueError, KeyError, TypeError):
        return None
    if owner.split(":", 1)[0] != socket.gethostname() or machine != this_machine() or not machine:
        return None
    if owner == this_process_started():
        return owner
    return "" if running_elsewhere(owner) is not None else owner


def this_machine() -> str:
    """This boot of this machine and this process-id namespace, where Linux tells them."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as boot:
            return f"{boot.read().strip()} {os.readlink('/proc/self/ns/pid')}"
    except OSError:
        return ""
