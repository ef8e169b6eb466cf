"""The flush thread: takes the buffer, applies the capture policy, writes one file per session,
and retries failed writes with exponential backoff.

Everything here runs on the one daemon thread (writes fan out to a small pool), so its own
state (pending batches, each session's day) needs no lock; what callers see goes through the
shared `Buffer`. The thread must survive anything: a failing cycle is reported and the next
one runs.
"""

import datetime as dt
import itertools
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from trajectory_assets.ingest.logger.buffer import Buffer, LoggedEvent, WrittenMark
from trajectory_assets.ingest.logger.capture import CapturePolicy
from trajectory_assets.ingest.logger.tables import Batch, storable_table
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw_write import known_session_days, near_days, write_session

log = logging.getLogger("trajectory_assets.ingest.logger")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_MAX_KNOWN_SESSIONS = 200_000
_STUCK_S = 120  # past close's deadline, a flush thread still running is stuck, not writing


class Flusher:
    """Owns the flush thread. `EventLogger` starts it, asks it to `flush()` and `stop()`s it."""

    def __init__(
        self,
        lake: Lake,
        app_id: str,
        buffer: Buffer,
        policy: CapturePolicy,
        *,
        flush_interval_s: float,
        retry_initial_s: float,
        retry_max_s: float,
        write_threads: int,
        drop_existing: bool,
        lookback_days: int,
    ) -> None:
        self.lake = lake
        self.app_id = app_id
        self.buffer = buffer
        self.policy = policy
        self._told_invalid = False
        self.flush_interval_s = flush_interval_s
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.drop_existing = drop_existing
        self.lookback_days = lookback_days

        self.wake = threading.Event()
        self.busy = threading.Lock()  # held by a flush cycle: a fork waits for it (`process`)
        self._cycle = threading.Condition()
        self._cycles = 0
        self._force = False  # flush(): retry failed writes now
        self._stopping = False
        self._close_deadline = float("inf")
        self._pending: list[Batch] = []
        self._days: dict[str, tuple[str, bool]] = {}  # each session's day, and if placed
        self._pool = ThreadPoolExecutor(max(1, write_threads), thread_name_prefix="ta-write")
        self._last_warning: dict[str, float] = {}  # by kind: "error", "changed"
        self._thread = threading.Thread(target=self._run, name="ta-event-logger", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def flush(self, timeout: float | None) -> bool:
        """Waits for a whole cycle that started after this call, retrying failed writes at once,
        until nothing is left unwritten (True) or `timeout` passes (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        buffer = self.buffer
        while True:
            with self._cycle:
                target = self._cycles + 2  # a whole cycle that started after this point
            self._force = True
            self.wake.set()
            with self._cycle:
                while self._cycles < target and self._thread.is_alive():
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    self._cycle.wait(0.05)
                    self.wake.set()
                cycled = self._cycles >= target  # else the events a write under way took
            with buffer.lock:  # are in neither count yet
                if cycled and not buffer.events and buffer.unwritten == 0:
                    return True
            if not self._thread.is_alive():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(min(self.retry_initial_s, 0.5))

    def mark(self) -> WrittenMark:
        """Where the writes stand now (see `written_since`)."""
        with self._cycle:
            target = self._cycles + 2  # a whole cycle that starts after this point
        with self.buffer.lock:
            return WrittenMark(target, self.buffer.unwritable)

    def written_since(self, mark: WrittenMark) -> bool:
        """Everything logged before `mark` is written: a whole cycle has taken it since, no
        write waits for a retry, and the flush thread left no event unwritten meanwhile (whose
        those were is not known, so any counts; a stopped logger's last cycle took all)."""
        with self._cycle:
            cycled = self._cycles >= mark.cycle or not self._thread.is_alive()
        buffer = self.buffer
        with buffer.lock:
            return cycled and buffer.unwritten == 0 and buffer.unwritable == mark.unwritable

    def wait_stopped(self, timeout: float) -> None:
        """Wait for a stop under way to end (its last cycle, its retries until `timeout`)."""
        if self._thread.is_alive():
            self._thread.join(timeout + _STUCK_S)

    def stop(self, timeout: float) -> None:
        """A last cycle that writes everything, retrying failed writes for `timeout` seconds.
        The timeout bounds the retries, not a write under way, which is waited for (each of
        the store's requests has its own timeout): closing before it ended returned while the
        thread still wrote, and a process that then exited lost those events uncounted. A
        thread still running `_STUCK_S` later is stuck (a lock held for ever): what it holds is
        counted lost, and the process can end."""
        self._close_deadline = time.monotonic() + timeout
        self._stopping = True
        self.wake.set()
        self._thread.join(timeout + _STUCK_S)
        self._pool.shutdown(wait=False)
        if self._thread.is_alive():  # stuck: a process must still be able to exit
            with self.buffer.lock:
                lost = len(self.buffer.events) + self.buffer.held
                self.buffer.stats["lost"] += lost
                self.buffer.unwritable += lost
            log.error(
                "event logger %s: the flush thread did not finish %d s after close's deadline; "
                "about %d event(s) not written are lost",
                self.app_id,
                _STUCK_S,
                lost,
            )

    def hurry(self, timeout: float) -> None:
        """A stop under way ends its retries within `timeout` (a SIGTERM during a close given
        longer than the logger's `close_timeout_s`)."""
        if self._stopping:
            self._close_deadline = min(self._close_deadline, time.monotonic() + timeout)
            self.wake.set()

    # ------------------------------------------------------------------- the thread
    def _run(self) -> None:
        took = 0.0  # the last cycle's writing: a flush starts every interval, not after it
        while True:
            wait = max(0.0, self.flush_interval_s - took)
            if self._pending:
                soonest = min(b.next_try for b in self._pending) - time.monotonic()
                wait = max(0.0, min(wait, soonest))
            if self._stopping:  # closing: no backoff past the deadline, where the rest is lost
                wait = min(wait, max(0.0, self._close_deadline - time.monotonic()))
            self.wake.wait(wait)
            self.wake.clear()
            stopping = self._stopping
            started = time.monotonic()
            try:
                with self.busy:
                    sessions = self._cycle_once(final=stopping)
            except Exception as exc:  # the thread must survive anything
                sessions = 0
                self._note_error(f"flush cycle failed: {type(exc).__name__}: {exc}")
            took = time.monotonic() - started
            failing = self.buffer.stats["last_error"] is not None  # said already, otherwise
            if took > self.flush_interval_s and not stopping and not failing:
                self._behind(took, sessions)
            with self._cycle:
                self._cycles += 1
                self._cycle.notify_all()
            if stopping:
                if not self._pending or time.monotonic() >= self._close_deadline:
                    break
                time.sleep(min(0.05, self.retry_initial_s))
        lost = sum(b.table.num_rows for b in self._pending)
        if lost:
            self.buffer.count("lost", lost)
            log.error(
                "event logger %s: %d event(s) could not be written before close: %s",
                self.app_id,
                lost,
                self.buffer.stats["last_error"],
            )
        self._pending.clear()
        with self.buffer.lock:
            self.buffer.held = self.buffer.unwritten = 0

    def _behind(self, took: float, sessions: int) -> None:
        """A flush that took longer than the interval: events wait longer than it to be
        written, so a process killed then loses more than the interval's events."""
        self._warn(
            "behind",
            f"a flush of {sessions} session file(s) took {took:.1f} s, longer than "
            f"flush_interval_s ({self.flush_interval_s:g} s): events wait that long to be "
            f"written (a process killed loses them; {self.buffer.held} wait now). Each "
            "session's events of a flush are one file: fewer, longer sessions, a longer "
            "flush_interval_s or more write_threads write more of them per file",
        )

    def _cycle_once(self, final: bool) -> int:
        """Writes what is due; returns the number of session files it tried."""
        events = self.buffer.take()
        if events or (final and self.policy.tracking):
            self._pending.extend(self._batches(events, final))
            self.buffer.count("flushes")
        force, self._force = self._force, False
        now = time.monotonic()
        due = [b for b in self._pending if final or force or b.next_try <= now]
        if due:
            self._place([b for b in due if not b.placed])
            results = self._write_all(due)
            failed = [b for b, ok in zip(due, results, strict=True) if not ok]
            done = {id(b) for b, ok in zip(due, results, strict=True) if ok}
            for b in due:  # the sessions' folders found by the writes, for their next flushes
                if b.placed and not self._days.get(b.session_id, ("", False))[1]:
                    self._remember_day(b.session_id, (b.day, True))
            self._pending = [b for b in self._pending if id(b) not in done]
            if not self._pending:
                self._recovered()
            now = time.monotonic()
            for b in failed:
                b.attempts += 1
                backoff = min(self.retry_max_s, self.retry_initial_s * 2 ** (b.attempts - 1))
                b.next_try = now + backoff
        unwritten = sum(b.table.num_rows for b in self._pending)
        held = self.policy.held
        with self.buffer.lock:
            self.buffer.unwritten = unwritten
            self.buffer.held = unwritten + held
        return len(due)

    def _write_all(self, batches: list[Batch]) -> list[bool]:
        if len(batches) > 1:
            try:
                return list(self._pool.map(self._write, batches))
            except RuntimeError:  # at interpreter exit the pool takes no new work
                pass
        return [self._write(b) for b in batches]

    def _write(self, batch: Batch) -> bool:
        stats = self.buffer.stats
        try:
            if not batch.placed:
                batch.day = self._session_folder_day(batch)
                batch.placed = True
            result = write_session(
                self.lake,
                batch.day,
                self.app_id,
                batch.session_id,
                batch.table,
                drop_existing=self.drop_existing,
            )
        except Exception as exc:
            with self.buffer.lock:
                stats["write_failures"] += 1
                if batch.attempts:
                    stats["retried_writes"] += 1
            self._note_error(f"write of session {batch.session_id} failed: {exc}")
            return False
        with self.buffer.lock:
            if batch.attempts:
                stats["retried_writes"] += 1
            if result.path is None:
                stats["existing_files"] += 1
            else:
                stats["written_files"] += 1
            stats["written_events"] += result.written
            stats["existing_events"] += batch.table.num_rows - result.written
        if result.changed:
            self._warn(
                "changed",
                f"{len(result.changed)} event(s) were in the lake already with other content; "
                f"the lake keeps its copy (first: {result.changed[0]})",
            )
        return True

    def _place(self, batches: list[Batch]) -> None:
        """Each new session's folder day, found for all of a cycle's sessions at once: a
        restarted producer re-sends a session's events, which are already there, perhaps under
        the day before (a session over midnight). Only with drop_existing, which names such
        producers: a lookup costs a listing per day. Storage down: each write looks again."""
        if not batches:
            return
        near = set().union(*(self._near(b.day) for b in batches))
        try:
            found = known_session_days(
                self.lake, self.app_id, [b.session_id for b in batches], near
            )
        except Exception:  # storage down, as the write will say; shown at debug level
            log.debug("the sessions' folder days could not be looked up", exc_info=True)
            return
        for b in batches:
            if found.get(b.session_id) in self._near(b.day):
                b.day = found[b.session_id]
            b.placed = True

    def _session_folder_day(self, batch: Batch) -> str:
        """The day of the session's folder near the batch's day, else the batch's day."""
        found = known_session_days(
            self.lake, self.app_id, [batch.session_id], self._near(batch.day)
        )
        return found.get(batch.session_id, batch.day)

    def _near(self, day: str) -> set[str]:
        return near_days(day, self.lookback_days)

    def _recovered(self) -> None:
        """Everything is written: a failure noted before is over (a health check reading
        `last_error` stayed red after storage came back)."""
        with self.buffer.lock:
            last, self.buffer.stats["last_error"] = self.buffer.stats["last_error"], None
        if last is not None:
            log.warning("event logger %s: writes succeed again (after: %s)", self.app_id, last)

    def _note_error(self, message: str) -> None:
        with self.buffer.lock:
            self.buffer.stats["last_error"] = message
        self._warn("error", f"{message} (will retry)")

    def _warn(self, kind: str, message: str) -> None:
        """At most one warning of a kind every 30 s: a producer stuck on a problem must not
        flood its logs."""
        now = time.monotonic()
        if now - self._last_warning.get(kind, -30.0) >= 30.0:
            self._last_warning[kind] = now
            log.warning("event logger %s: %s", self.app_id, message)

    # ------------------------------------------------------------------ shaping a flush
    def _batches(self, events: list[LoggedEvent], final: bool) -> list[Batch]:
        events, sampled_out = self.policy.apply(events, final)
        if sampled_out:
            self.buffer.count("sampled_out", sampled_out)
        by_session: dict[str, list[LoggedEvent]] = {}
        for event in events:
            by_session.setdefault(event.session_id, []).append(event)
        batches = []
        for session_id, session_events in by_session.items():
            known = self._days.get(session_id)
            if known is None:
                first = min(e.ts for e in session_events)
                day = (_EPOCH + dt.timedelta(microseconds=first)).date().isoformat()
                known = (day, not self.drop_existing)
                self._remember_day(session_id, known)
            table = self._table(session_events)
            if table is not None and table.num_rows:
                batches.append(Batch(known[0], str(session_id), table, placed=known[1]))
        return batches  # an ended session's day stays known: it may be re-opened

    def _remember_day(self, session_id: str, day: tuple[str, bool]) -> None:
        if len(self._days) >= _MAX_KNOWN_SESSIONS:  # forget the oldest sessions first
            for key in list(itertools.islice(self._days, len(self._days) // 10 or 1)):
                del self._days[key]
        self._days[session_id] = day

    def _table(self, events: list[LoggedEvent]) -> pa.Table | None:
        table, unfit = storable_table(events, self.app_id)
        if unfit:
            self.buffer.count("invalid", len(unfit))
        if unfit and not self._told_invalid:  # once: a caller bug repeats on every call
            self._told_invalid = True
            event, reason = unfit[0]
            log.warning(
                "event logger %s: %s event %s of session %s left out: %s "
                "(further ones only counted)",
                *(self.app_id, event.event_type, event.event_id, event.session_id, reason),
            )
        return table
