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
from collections import Counter
from collections.abc import Callable
from typing import Any

from trajectory_assets.ingest.logger import EventLogger
from trajectory_assets.ingest.logger.buffer import WrittenMark
from trajectory_assets.ingest.otlp_traces import Snapshot, Trace
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.wal import (
    WriteAheadLog,
    entries,
    remove_files,
    remove_taken,
    set_aside,
)
from trajectory_assets.lake.wal_owners import HEARTBEAT_S

log = logging.getLogger(__name__)

Handed = tuple[list[int], EventLogger | None, WrittenMark | None]
"""Entries whose traces' events a logger holds (an entry once per trace), and its mark when it
was given them."""


class Acknowledged:
    """The receiver's write-ahead log and what holds each of its entries."""

    def __init__(self, lake: Lake, traces_lock: threading.Lock) -> None:
        self.wal = WriteAheadLog(lake)
        self._traces_lock = traces_lock  # the receiver's, under which a trace's entries change
        self._lock = threading.Lock()
        self._holders: Counter[int] = Counter()  # entry -> traces and handed records holding it
        self._handed: list[Handed] = []
        self._checked = 0.0  # when orphans were last looked for

    def write(
        self, app: str, records: list[dict[str, Any]], sessions: dict[str, str] | None = None
    ) -> int:
        """Keep a request's accepted spans before the client hears they were taken (or a note
        of the sessions traces were written under)."""
        return self.wal.append(app, records, sessions)

    def hold(self, trace: Trace, entry: int) -> None:
        """The trace has spans of the entry (under the receiver's lock)."""
        if entry not in trace.entries:
            trace.entries.add(entry)
            with self._lock:
                self._holders[entry] += 1

    def note_session(self, app: str, trace_id: str, trace: Trace) -> None:
        """A trace written before its root came: its session goes in the log, so that a
        receiver taking its spans in writes the rest under it too (the root may name another,
        its conversation)."""
        if trace.session is None:
            return
        try:
            entry = self.write(app, [], {trace_id: trace.session})
        except Exception as exc:
            log.warning("OTLP receiver: trace %s: its session is not noted: %s", trace_id, exc)
            return
        with self._traces_lock:
            self.hold(trace, entry)

    def written(self, trace: Trace, snapshot: Snapshot, logger: EventLogger | None) -> None:
        """The trace's events are with its app's logger (or its spans kept as rejected): the
        entries they came in wait for that logger's write; kept while its end is not written,
        or while an event its logger dropped is not."""
        if trace.unended or trace.unlogged:
            return
        with self._traces_lock:
            trace.entries -= snapshot.entries
        self._hand(snapshot.entries, logger)

    def _hand(self, held: frozenset[int], logger: EventLogger | None) -> None:
        """A trace's events from these entries are with `logger` now (None: nothing to write,
        its spans were kept as rejected input); they count until it has written them."""
        if held:
            mark = logger.written_mark() if logger is not None else None
            with self._lock:  # a mapping round hands many traces over at the same mark
                last = self._handed[-1] if self._handed else None
                if last is not None and last[1] is logger and last[2] == mark:
                    last[0].extend(held)
                else:
                    self._handed.append((list(held), logger, mark))

    def release(self) -> None:
        """Delete the entries everything of which is written."""
        with self._lock:
            handed, self._handed = self._handed, []
            still = []
            for held, logger, mark in handed:
                if logger is not None and mark is not None and not logger.written_since(mark):
                    still.append((held, logger, mark))
                    continue
                self._holders.subtract(held)
            self._handed = still + self._handed
            done = sorted(e for e, n in self._holders.items() if n <= 0)
            for entry in done:
                del self._holders[entry]
        self.wal.release(done)

    def waiting(self) -> int:
        """Entries not yet released."""
        with self._lock:
            return len(self._holders)

    def take_over(
        self,
        add: Callable[[str, list[dict[str, Any]], int], object],
        restore: Callable[[str, dict[str, str]], None],
    ) -> int:
        """Take in the entries of receivers on the lake that stopped before writing them; the
        spans taken in. Each orphan's entries in order, each deleted once this receiver's own
        log holds its spans, so that a failure takes in none twice and stops no other orphan."""
        spans = 0
        for folder in self.wal.orphans():
            try:
                spans += self._take(folder, add, restore)
            except Exception as exc:  # the lake down: tried again at the next round
                log.warning("OTLP receiver: cannot take in %s now: %s", folder, exc)
        return spans

    def _take(
        self,
        folder: str,
        add: Callable[[str, list[dict[str, Any]], int], object],
        restore: Callable[[str, dict[str, str]], None],
    ) -> int:
        lake = self.wal.lake
        taken = requests = 0
        for path, entry, size in entries(lake, folder):
            if entry is None:
                kept = set_aside(lake, path)
                log.error(
                    "OTLP receiver: an entry of %s cannot be read; it is kept at %s", folder, kept
                )
                continue
            if entry["records"]:
                add(entry["app_id"], entry["records"], size)  # into this receiver's own log
                taken += len(entry["records"])
                requests += 1
            restore(entry["app_id"], entry.get("sessions", {}))
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

    def take_over_due(self, now: float) -> bool:
        if now - self._checked < HEARTBEAT_S:
            return False
        self._checked = now
        return True

    def close(self) -> int:
        """The receiver stopped: its log goes if everything is written, else it stays for the
        next receiver on the lake; the entries kept."""
        self.release()
        kept = self.waiting()
        self.wal.close(written=kept == 0)
        return kept
