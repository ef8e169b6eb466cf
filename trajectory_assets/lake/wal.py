"""A receiver's write-ahead log: what `serve` acknowledged and has not yet written as raw events.

    <lake>/_serve/<owner>/_alive                 who writes here, rewritten while it runs
    <lake>/_serve/<owner>/<entry>.json.gz        one request's accepted records (`Entry`)
    <lake>/_serve/<owner>/_released.json         traces written of the entries still kept

The receiver answers 200 only once a request's entry is written (and on disk), and deletes the
entry once everything in it is written to the raw lake. Spans wait in memory for their trace's
root (minutes, for an agent running a long tool) and for the logger's next write, and no
exporter sends again what was answered 200: a receiver killed meanwhile (SIGKILL, out of
memory, its machine lost) would lose them. Its entries are taken in again by the next receiver
on the lake, in order (`wal_owners` says whose owner has ended). What was written already is
written again with the same event ids, which the receiver's loggers drop.

Hidden from every table and listing (the name starts with `_`).
"""

import contextlib
import datetime as dt
import gzip
import json
import logging
import os
import posixpath
import threading
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NotRequired, TypedDict

from trajectory_assets.lake.fs import Lake, write_file_atomic
from trajectory_assets.lake.mentions import Sessions
from trajectory_assets.lake.quarantine import ANY_SESSION, REJECTED
from trajectory_assets.lake.wal_owners import (
    ALIVE,
    CLAIM,
    HEARTBEAT_S,
    Owners,
    alive_document,
    folder_name,
)

log = logging.getLogger(__name__)

WAL = "_serve"
RELEASED = "_released.json"


class Entry(TypedDict):
    """One request's records as JSON, by the app they were received for; or a note of the
    sessions traces were written under (`sessions`: app to trace id to session)."""

    received_at: str  # ISO time, UTC: for whoever reads the folder
    records: dict[str, list[dict[str, Any]]]
    sessions: NotRequired[dict[str, dict[str, str]]]


class WriteAheadLog:
    """This receiver's folder of the lake's write-ahead log; says it is alive from a thread of
    its own (a long mapping round must not make it look gone)."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self.folder = lake.path(WAL, folder_name())
        self.owners = Owners(lake, self.folder)
        self._next = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.beat()
        self.owners.started()
        self._beats = threading.Thread(target=self._beat_on, name="ta-otlp-alive", daemon=True)
        self._beats.start()

    def append(
        self,
        records: dict[str, list[dict[str, Any]]],
        sessions: dict[str, dict[str, str]] | None = None,
        received_at: str | None = None,
    ) -> int:
        """Write one request's records (or a note of `sessions`); the entry's number (entries
        are numbered in order). `received_at`: when an earlier receiver took them, if one did."""
        with self._lock:
            number = self._next
            self._next += 1
        received_at = received_at or dt.datetime.now(dt.UTC).isoformat()
        entry = Entry(received_at=received_at, records=records)
        if sessions:
            entry["sessions"] = sessions
        # a lone surrogate as JSON's own escape, as `quarantine.keep_rejected` keeps it
        text = json.dumps(entry, default=str, ensure_ascii=False)
        data = gzip.compress(text.encode("utf-8", "backslashreplace"), compresslevel=1)
        write_file_atomic(self.lake, self._path(number), data)
        return number

    def release(self, numbers: Sequence[int]) -> None:
        """Delete entries whose records are all written (one already gone is no error)."""
        remove_files(self.lake, [self._path(n) for n in numbers])

    def write_released(self, released: dict[int, list[tuple[str, str]]]) -> None:
        """The traces of entries still kept that are written (entry number to (app, trace
        id) pairs)."""
        document = {str(number): [list(t) for t in traces] for number, traces in released.items()}
        path = posixpath.join(self.folder, RELEASED)
        write_file_atomic(self.lake, path, json.dumps(document).encode())

    def beat(self) -> None:
        """Say this owner is alive (and its folder's `_alive` is back if it went)."""
        path = posixpath.join(self.folder, ALIVE)
        write_file_atomic(self.lake, path, alive_document(), durable=False)

    def _beat_on(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            try:
                self.beat()
            except Exception as exc:  # the lake down: said again at the next beat
                log.warning("OTLP receiver: cannot say it is alive in %s: %s", self.folder, exc)

    def close(self, *, written: bool) -> None:
        """The receiver stops: its folder goes when everything it received is `written`, else
        it stays for the next receiver on the lake (of this process too) to take in."""
        self._stop.set()
        self._beats.join()
        self.owners.stopped()
        if written:
            fs = self.lake.fs
            if fs.exists(self.folder):
                fs.rm(self.folder, recursive=True)
            remove_empty(self.lake, self.lake.path(WAL))

    def orphans(self) -> list[str]:
        """Other owners' folders whose owner has ended."""
        folders = _folders(self.lake)
        self.owners.forget_others(folders)
        return [f for f in folders if f != self.folder and self.owners.gone(f)]

    def _path(self, number: int) -> str:
        return posixpath.join(self.folder, f"{number:012d}.json.gz")


def entries(lake: Lake, folder: str) -> Iterator[tuple[str, Entry | None, int]]:
    """An owner's entries, in the order it wrote them, with their size as JSON; an entry that
    cannot be read as None (one deleted meanwhile is left out: it was written)."""
    try:
        listed = lake.fs.ls(folder, detail=False)
    except FileNotFoundError:
        return
    for path in sorted(p for p in listed if p.endswith(".json.gz")):
        try:
            data = lake.fs.cat_file(path)  # a store that fails now fails the taking in
        except FileNotFoundError:
            continue
        try:
            text = gzip.decompress(data)
            entry: Entry = json.loads(text.decode())
        except (gzip.BadGzipFile, EOFError, zlib.error, ValueError):
            yield path, None, 0
            continue
        yield path, entry, len(text)


def entry_number(path: str) -> int:
    return int(posixpath.basename(path).split(".", 1)[0])


def released_traces(lake: Lake, folder: str) -> dict[int, set[tuple[str, str]]]:
    """The traces an owner wrote of the entries it kept for others (`write_released`)."""
    try:
        document = json.loads(lake.fs.cat_file(posixpath.join(folder, RELEASED)))
        return {
            int(number): {(str(app), str(trace)) for app, trace in traces}
            for number, traces in document.items()
        }
    except FileNotFoundError:
        return {}
    except (ValueError, AttributeError, TypeError):  # cut short: every trace is taken in
        log.warning("OTLP receiver: %s cannot be read; its entries are taken in whole", folder)
        return {}


@dataclass(frozen=True)
class Unwritten:
    """What an entry holds of the traces its owner has not written (those written are in the
    raw lake: taken in again, late spans without their root, they went under another session):
    records and noted sessions by app."""

    records: dict[str, list[dict[str, Any]]]
    sessions: dict[str, dict[str, str]]
    received_at: str  # ISO time, UTC, of the first receiver's 200


def unwritten_entries(lake: Lake, folder: str) -> Iterator[tuple[str, Unwritten | None, int]]:
    """An owner's entries in order (`entries`), each as what it holds not yet written, with
    that part's share of its size."""
    released = released_traces(lake, folder)
    for path, entry, size in entries(lake, folder):
        if entry is None:
            yield path, None, size
            continue
        written = released.get(entry_number(path), set())
        records = {
            app: [r for r in found if (app, str(r.get("traceId", ""))) not in written]
            for app, found in entry["records"].items()
        }
        sessions = {
            app: {t: s for t, s in noted.items() if (app, t) not in written}
            for app, noted in entry.get("sessions", {}).items()
        }
        total = sum(len(found) for found in entry["records"].values()) or 1
        kept = sum(len(found) for found in records.values())
        received = str(entry.get("received_at", ""))
        yield path, Unwritten(records, sessions, received), size * kept // total


def entries_naming(lake: Lake, sessions: Sessions, *, whole_app: bool) -> dict[str, list[str]]:
    """Entries, of any owner, running or gone, with records of the app that name the sessions
    (any of the app's, `whole_app`), and which: spans a receiver acknowledged and will write."""
    found = {}
    for folder in _folders(lake):
        for path, entry, _size in unwritten_entries(lake, folder):
            records = entry.records.get(sessions.app_id, []) if entry else []
            noted = entry.sessions.get(sessions.app_id, {}) if entry else {}
            if not records and not noted:
                continue
            named = set().union(*(sessions.in_values(r) for r in records))
            named |= sessions.in_values(noted)
            if named or whole_app:
                found[path] = sorted(named) or [ANY_SESSION]
    return found


def set_aside(lake: Lake, path: str) -> str:
    """An entry that cannot be read, moved where rejected input is kept (its bytes as they
    are); where it went."""
    name = posixpath.basename(posixpath.dirname(path)) + "-" + posixpath.basename(path)
    target = lake.path(REJECTED, "serve", name)
    lake.fs.makedirs(posixpath.dirname(target), exist_ok=True)
    lake.fs.mv(path, target)
    return target


def set_aside_files(lake: Lake) -> list[str]:
    """Entries set aside as unreadable: who can tell which sessions they hold?"""
    return sorted(lake.fs.glob(lake.path(REJECTED, "serve", "*")))


def remove_taken(lake: Lake, folder: str) -> None:
    """An orphan's entries are all taken in (each deleted as it was): its `_alive` goes, and
    its folder once empty (never a recursive delete: a live owner wrongly taken for gone keeps
    what it wrote since)."""
    bookkeeping = [RELEASED, CLAIM, ALIVE]
    remove_files(lake, [posixpath.join(folder, name) for name in bookkeeping])
    if lake.is_local:  # a write its owner was killed in left its temporary file
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(folder):
                if name.startswith(".") and ".tmp-" in name:
                    os.remove(os.path.join(folder, name))
    remove_empty(lake, folder)
    remove_empty(lake, posixpath.dirname(folder))


def remove_files(lake: Lake, paths: Sequence[str]) -> None:
    if not paths:
        return
    try:
        lake.fs.rm(list(paths))
    except FileNotFoundError:  # one of them already gone (locally the first stops the rest)
        for path in paths:
            with contextlib.suppress(FileNotFoundError):
                lake.fs.rm(path)


def remove_empty(lake: Lake, folder: str) -> None:
    """A local folder goes once empty, and only then (another receiver may be starting in it);
    an object store has no folders."""
    if lake.is_local:
        with contextlib.suppress(OSError):
            os.rmdir(folder)


def _folders(lake: Lake) -> list[str]:
    """The owners' folders (none when the log's folder is gone, also meanwhile)."""
    try:
        return sorted(p.rstrip("/") for p in lake.fs.ls(lake.path(WAL), detail=False))
    except FileNotFoundError:
        return []
