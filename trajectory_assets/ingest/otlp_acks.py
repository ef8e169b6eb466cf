"""What the OTLP receiver answered 200 for and has not yet written: its write-ahead log's entries
(`lake/wal.py`), each kept until every span in it is written as raw events.

An entry is one request's accepted spans of one app, so it may hold spans of several traces.
Each trace holding spans of an entry counts once against it (`hold`) until the trace's events
are handed to its app's logger (`written`), which counts until the logger has written them
(`EventLogger.written_since`); an entry counted by nothing is deleted (`release`). A trace
mapped without its root keeps its entries until its session's end is written, so that a
receiver taking the entries in again can write that end, and the session it was written under
is noted in the log (`note_session`): its root, come later, may name another. A trace with an
event its logger dropped (a full buffer) keeps them until it is mapped again, or for the next
receiver.
"""

import logging
import threading
from collections.abc import Callable
from typing import Any

from trajectory_assets.ingest.logger import EventLogger
from trajectory_assets.ingest.logger.buffer import WrittenMark
from trajectory_assets.ingest.otlp_traces import Parts, Snapshot, Trace
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.wal import (
    WriteAheadLog,
    remove_files,
    remove_taken,
    set_aside,
    unwritten_entries,
)
from trajectory_assets.lake.wal_owners import HEARTBEAT_S, Claim

log = logging.getLogger(__name__)

TraceKey = tuple[str, str]  # (app, trace id)
Add = Callable[[Parts, str], object]
Waiting = Callable[[TraceKey], Trace | None]
Handed = tuple[list[tuple[int, TraceKey]], EventLogger | None, WrittenMark | None]
"""(entry, trace) pairs whose events a logger holds, and its mark when it was given them."""


class Acknowledged:
    """The receiver's write-ahead log and which traces of each entry are not yet written.

    An entry of traces some of which are written stays for the others; the written ones are
    listed in the log (`WriteAheadLog.write_released`), so that a receiver taking the entry in
    leaves their spans out: taken in without their root, long written, they were written again
    under another session."""

    def __init__(self, lake: Lake, traces_lock: threading.Lock, add: Add, waiting: Waiting) -> None:
        self.wal = WriteAheadLog(lake)
        self._traces_lock = traces_lock  # the receiver's, under which a trace's entries change
        self._add = add  # the receiver's, taking in spans left behind by another one
        self._waiting = waiting  # the receiver's trace of a key, if one waits to be mapped
        self._lock = threading.Lock()
        self._unwritten: dict[int, set[TraceKey]] = {}  # entry: its traces not yet written
        self._written: dict[int, set[TraceKey]] = {}  # and those written, while it stays
        self._handed: list[Handed] = []
        self._done: set[int] = set()  # entries all of whose traces are written, to delete
        self._released: dict[int, list[TraceKey]] = {}  # as the log says it now
        self._checked = 0.0  # when orphans were last looked for

    def write(
        self,
        records: dict[str, list[dict[str, Any]]],
        sessions: dict[str, dict[str, str]],
        received_at: str | None = None,
    ) -> int:
        """Keep a request's accepted spans (by app) before the client hears they were taken,
        with the sessions those of its traces already written went to (a late span, taken in
        without its root, goes to its trace's session), and when a receiver took them first
        (taken in from another's log); the entry."""
        return self.wal.append(records, sessions, received_at)

    def restore(self, app: str, sessions: dict[str, str]) -> None:
        """The sessions a receiver stopped before their traces ended wrote them under (their
        spans taken in before the note, which follows them in its log)."""
        for trace_id, session in sessions.items():
            with self._traces_lock:
                trace = self._waiting((app, trace_id))
                if trace is not None and trace.session is None:
                    trace.session = session
            if trace is None:
                continue
            if trace.session != session:  # its root came here first
                log.warning(
                    "OTLP receiver: trace %s is in sessions %s and %s: it was written under "
                    "the first before a receiver stopped",
                    *(trace_id, session, trace.session),
                )
            self.note_session(app, trace_id, trace)

    def hold(self, trace: Trace, key: TraceKey, entry: int) -> None:
        """The trace has spans of the entry (under the receiver's lock)."""
        if entry not in trace.entries:
            trace.entries.add(entry)
            with self._lock:
                self._unwritten.setdefault(entry, set()).add(key)

    def note_session(self, app: str, trace_id: str, trace: Trace, *, again: bool = False) -> None:
        """A trace written before its root came: its session goes in the log, so that a
        receiver taking its spans in writes the rest under it too (the root may name another,
        its conversation)."""
        if trace.session is None or (trace.noted and not again):
            return
        try:
            entry = self.wal.append({}, {app: {trace_id: trace.session}})
        except Exception as exc:
            log.warning("OTLP receiver: trace %s: its session is not noted: %s", trace_id, exc)
            return
        with self._traces_lock:
            self.hold(trace, (app, trace_id), entry)
            trace.noted = True

    def written(
        self, trace: Trace, key: TraceKey, snapshot: Snapshot, logger: EventLogger | None
    ) -> None:
        """The trace's events are with its app's logger (or its spans kept as rejected): the
        entries they came in wait for that logger's write; kept while its end is not written,
        or while an event its logger dropped is not."""
        if trace.unended or trace.unlogged or not snapshot.entries:
            return
        with self._traces_lock:
            trace.entries -= snapshot.entries
        pairs = [(entry, key) for entry in snapshot.entries]
        mark = logger.written_mark() if logger is not None else None
        with self._lock:  # a mapping round hands many traces over at the same mark
            last = self._handed[-1] if self._handed else None
            if last is not None and last[1] is logger and last[2] == mark:
                last[0].extend(pairs)
            else:
                self._handed.append((pairs, logger, mark))

    def release(self) -> None:
        """Delete the entries all of whose traces are written; list the written traces of
        those that stay (first: a receiver killed in between takes in no written one)."""
        with self._lock:
            handed, self._handed = self._handed, []
            still = []
            for pairs, logger, mark in handed:
                if logger is not None and mark is not None and not logger.written_since(mark):
                    still.append((pairs, logger, mark))
                    continue
                for entry, key in pairs:
                    self._unwritten.get(entry, set()).discard(key)
                    self._written.setdefault(entry, set()).add(key)
            self._handed = still + self._handed
            for entry in [e for e, traces in self._unwritten.items() if not traces]:
                del self._unwritten[entry]
                self._done.add(entry)
            # an entry to delete stays listed until it is gone: a kill in between must not
            # take its written traces in
            released = {e: sorted(t) for e, t in self._written.items()}
            done = sorted(self._done)
        if released != self._released:
            self.wal.write_released(released)
            self._released = released
        self.wal.release(done)  # (a failure leaves them for the next round)
        with self._lock:
            self._done.difference_update(done)
            for entry in done:
                self._written.pop(entry, None)

    def keep_up(self, now: float, *, take_over: bool = False) -> int:
        """Release the written entries; now and then (at the start at once), take in other
        receivers' left behind; the spans taken in."""
        try:
            self.release()
            if take_over or self._take_over_due(now):
                return self.take_over()
        except Exception as exc:  # the lake down: tried again at the next round
            log.warning("OTLP receiver: the write-ahead log: %s: %s", type(exc).__name__, exc)
        return 0

    def waiting(self) -> int:
        """Entries not yet released."""
        with self._lock:
            return len(self._unwritten) + len(self._done)

    def take_over(self) -> int:
        """Take in the entries of receivers on the lake that stopped before writing them; the
        spans taken in. Each orphan's entries in order, each deleted once this receiver's own
        log holds its spans, so that a failure takes in none twice and stops no other orphan."""
        spans = 0
        for folder in self.wal.orphans():
            claim = None
            try:
                claim = self.wal.owners.claim(folder)  # none: another receiver takes it in
                if claim is not None:
                    spans += self._take(folder, claim)
            except Exception as exc:  # the lake down: tried again at the next round
                log.warning("OTLP receiver: cannot take in %s now: %s", folder, exc)
            finally:
                if claim is not None:
                    claim.release()
        return spans

    def _take(self, folder: str, claim: Claim) -> int:
        lake = self.wal.lake
        taken = requests = 0
        for path, entry, size in unwritten_entries(lake, folder):
            claim.refresh()
            if entry is None:
                kept = set_aside(lake, path)
                log.error("OTLP receiver: an entry of %s cannot be read; kept at %s", folder, kept)
                continue
            count = sum(len(records) for records in entry.records.values()) or 1
            parts = [  # each app's records with their share of the entry's bytes
                (app, records, size * len(records) // count)
                for app, records in entry.records.items()
            ]
            if any(records for _app, records, _size in parts):
                self._add(parts, entry.received_at)  # into this receiver's own log
                taken += sum(len(records) for _app, records, _size in parts)
                requests += 1
            for app, noted in entry.sessions.items():
                self.restore(app, noted)
            remove_files(lake, [path])
        remove_taken(lake, folder)
        log.warning(
            "OTLP receiver: took in %d span(s) of %d request(s) that a receiver stopped before "
            "writing them had acknowledged (%s)",
            taken,
            requests,
            folder,
        )
        return taken

    def _take_over_due(self, now: float) -> bool:
        if now - self._checked < HEARTBEAT_S:
            return False
        self._checked = now
        return True

    def close(self) -> None:
        """The receiver stopped: its log goes if everything is written, else it stays for the
        next receiver on the lake."""
        self.release()
        kept = self.waiting()
        self.wal.close(written=kept == 0)
        if kept:
            log.warning(
                "OTLP receiver: %d request(s) acknowledged are not all written (a trace waiting "
                "for its root span, or a write that failed); they stay in %s for the next "
                "receiver on the lake to write",
                kept,
                self.wal.folder,
            )
