"""The public API of the event logger: `EventLogger` (its per-session helpers are `session`'s).

This is the caller's side, the hot path: `log()` builds one `LoggedEvent` and appends it to the
shared buffer under a lock, and never raises. Storage is the flush thread's (`flusher`); which
events are kept is the capture policy's (`capture`). The guarantees are in the package docstring.
"""

import atexit
import datetime as dt
import itertools
import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, SupportsFloat, cast

from trajectory_assets.ingest.common import dumps
from trajectory_assets.ingest.logger import process
from trajectory_assets.ingest.logger.buffer import Buffer, LoggedEvent, LoggerCounters, WrittenMark
from trajectory_assets.ingest.logger.capture import CAPTURE_LEVELS, Capture, CapturePolicy
from trajectory_assets.ingest.logger.flusher import Flusher
from trajectory_assets.ingest.logger.session import Session
from trajectory_assets.ingest.logger.timestamps import ts_us
from trajectory_assets.ingest.logger.turns import SessionTurns
from trajectory_assets.lake.config import a_table_not_a_lake
from trajectory_assets.lake.fs import Lake, lake_from_env
from trajectory_assets.lake.layout import id_problem

# the name users configure, whichever module of the package logs
log = logging.getLogger("trajectory_assets.ingest.logger")

_ROW_OVERHEAD_BYTES = 160
VALUES = re.compile(r"'[^']*'|\"[^\"]*\"|<[^>]*>|0x[0-9a-fA-F]+|\d+")
"""What differs between two problems of one kind: a value, an id, an object, a number."""
MAX_KINDS_TOLD = 100


class LoggerStats(LoggerCounters):
    """`EventLogger.stats()`: its counters, and what it holds in memory now."""

    buffered: int  # logged, not yet flushed
    pending: int  # flushed, its write failed, awaiting a retry
    held: int  # sampled sessions' last events, held until the session ends
    closed: bool


def added_stats(total: LoggerStats | None, more: LoggerStats) -> LoggerStats:
    """`more` counted into `total` (the later error kept): the stats of loggers closed one
    after another, as one."""
    if total is None:
        return more
    summed: dict[str, Any] = dict(total)
    for key, value in more.items():
        if isinstance(value, int) and not isinstance(value, bool):
            summed[key] += value
    summed["last_error"] = more["last_error"] or total["last_error"]
    return cast(LoggerStats, summed)


class EventLogger:
    """Buffers events in memory and writes Tier A files from a background thread."""

    def __init__(
        self,
        lake: str | Lake,
        app_id: str,
        *,
        storage_options: Mapping[str, Any] | None = None,
        capture: Capture = "full",
        sample_rate: float = 0.1,
        flush_events: int = 10_000,
        flush_bytes: int = 8 << 20,
        flush_interval_s: float = 5.0,
        max_buffered_events: int = 1_000_000,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 30.0,
        close_timeout_s: float = 10.0,
        write_threads: int = 4,
        drop_existing: bool = False,
        lookback_days: int = 7,
        flush_on_sigterm: bool = True,
    ) -> None:
        if capture not in CAPTURE_LEVELS:
            raise ValueError(f"capture must be one of {CAPTURE_LEVELS}, not {capture!r}")
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError("sample_rate must be within [0, 1]")
        if not app_id:
            raise ValueError("app_id must be a non-empty string")
        if lookback_days < 0:
            raise ValueError("lookback_days must be 0 or more")
        if problem := id_problem("app_id", app_id):
            raise ValueError(problem)
        if isinstance(lake, Lake):
            self.lake = lake
        elif storage_options is None:  # an s3:// lake: the store the command line reaches
            self.lake = lake_from_env(lake)
        else:
            self.lake = Lake(lake, dict(storage_options))
        if reason := _a_table(self.lake):
            raise ValueError(reason)
        self.app_id = app_id
        self.capture = capture
        self.sample_rate = sample_rate
        self.flush_events = flush_events
        self.flush_bytes = flush_bytes
        self.flush_interval_s = flush_interval_s
        self.max_buffered_events = max_buffered_events
        self.retry_initial_s = retry_initial_s
        self.retry_max_s = retry_max_s
        self.close_timeout_s = close_timeout_s
        self.drop_existing = drop_existing
        self.lookback_days = lookback_days
        self.write_threads = write_threads
        self.turns = SessionTurns()
        self.finalizer: Any = None
        self._start()
        atexit.register(self._at_exit)
        process.watch(self, flush_on_sigterm=flush_on_sigterm)

    def _start(self) -> None:
        self.logger_id = uuid.uuid4().hex[:16]
        self._counter = itertools.count()
        self._buffer = Buffer()
        self._told_invalid: set[str] = set()
        self._flusher = Flusher(
            self.lake,
            self.app_id,
            self._buffer,
            CapturePolicy(self.capture, self.sample_rate),
            flush_interval_s=self.flush_interval_s,
            retry_initial_s=self.retry_initial_s,
            retry_max_s=self.retry_max_s,
            write_threads=self.write_threads,
            drop_existing=self.drop_existing,
            lookback_days=self.lookback_days,
        )
        self._flusher.start()

    def restart_after_fork(self) -> None:
        """In a forked child (`process`): what the parent buffered is the parent's to write;
        the child logs under an id of its own, through a flush thread of its own."""
        if not self._buffer.closed:
            self.turns = self.turns.copy()
            self._start()

    def hold_for_fork(self, wait_s: float) -> bool:
        """Wait for a flush under way to end, and start none until `release_after_fork`: a
        fork then copies no lock a write holds (an import's, pyarrow's, the store client's),
        which would stay held for ever in the child."""
        return self._flusher.busy.acquire(timeout=wait_s)

    def release_after_fork(self) -> None:
        self._flusher.busy.release()

    def closable_now(self, wait_s: float) -> bool:
        """No thread holds the buffer's lock for long (`process`: a signal handler cannot
        flush what the thread it interrupted holds locked)."""
        if not self._buffer.lock.acquire(timeout=wait_s):
            return False
        self._buffer.lock.release()
        return True

    # ------------------------------------------------------------------ caller side (hot path)
    def log(
        self,
        session_id: str,
        event_type: str,
        *,
        ts: dt.datetime | str | SupportsFloat | None = None,
        turn_index: int | None = None,
        agent_id: str | None = None,
        request_id: str | None = None,
        model: str | None = None,
        tool_name: str | None = None,
        ttft_ms: float | None = None,
        latency_ms: float | None = None,
        tool_latency_ms: float | None = None,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_tokens: int | None = None,
        error_type: str | None = None,
        error_code: str | None = None,
        payload: Any = None,
        artifacts: Iterable[Mapping[str, str]] | None = None,
        event_id: str | None = None,
        seq: int | None = None,
        **unknown: Any,
    ) -> str | None:
        """Record one event; returns its id, or None when it was dropped. Never raises: an event
        that cannot be recorded (an unknown field, no session id or event type) is counted as
        `invalid` in `stats()` and reported through logging; so is one with a value Arrow
        cannot store as its column's type, found when its batch is written (it alone is left
        out).

        `event_id` and `seq` default to this logger's own; a producer whose events have stable
        identities (the OTLP receiver: trace, span and role) passes them, so an event sent
        twice is one event."""
        if unknown:
            names = f"unknown event field(s) {', '.join(sorted(unknown))}"
            self._invalid(names, kind=names)  # a kind each: names, not values (`score_v2`)
            return None
        if not (session_id and isinstance(session_id, str) and event_type is not None):
            # a key no raw file can hold: it would fail its whole batch's write, or land in a
            # session folder no listing reads
            self._invalid(f"no session id or event type ({session_id!r}, {event_type!r})")
            return None
        if problem := id_problem("session_id", session_id):
            self._invalid(f"{problem}: {session_id[:60]!r}")
            return None
        try:
            n = next(self._counter)
            event_id = f"{self.logger_id}-{n}" if event_id is None else event_id
            if payload is not None and not isinstance(payload, str):
                payload = dumps(payload)
            # positional, in LoggedEvent's field order: keywords cost more than the append
            event = LoggedEvent(
                event_id,
                session_id,
                time.time_ns() // 1000 if ts is None else ts_us(ts),
                n if seq is None else seq,
                event_type,
                turn_index,
                agent_id,
                request_id,
                model,
                tool_name,
                ttft_ms,
                latency_ms,
                tool_latency_ms,
                input_tokens,
                output_tokens,
                cache_tokens,
                error_type,
                error_code,
                payload,
                None if artifacts is None else [dict(a) for a in artifacts],
            )
            size = _ROW_OVERHEAD_BYTES + (len(payload) if payload else 0)
            buffer = self._buffer
            with buffer.lock:
                if buffer.closed or len(buffer.events) + buffer.held >= self.max_buffered_events:
                    buffer.stats["dropped"] += 1
                    self._tell_dropped(buffer)
                    return None
                buffer.events.append(event)
                buffer.bytes += size
                buffer.stats["logged"] += 1
                full = len(buffer.events) >= self.flush_events or buffer.bytes >= self.flush_bytes
            if full:
                self._flusher.wake.set()
            return event_id
        except Exception as exc:
            self._invalid(f"event not recorded: {type(exc).__name__}: {exc}")
            return None

    def _tell_dropped(self, buffer: Buffer) -> None:
        """At most once a minute (under the buffer's lock): a full buffer drops every event,
        and `stats()` alone is read by no one in an outage."""
        now = time.monotonic()
        if now - buffer.dropped_told < 60.0:
            return
        buffer.dropped_told = now
        if buffer.closed:  # threads still logging while SIGTERM or the program closes it
            log.warning(
                "event logger %s is closed: events logged after close() are dropped (%d so far)",
                self.app_id,
                buffer.stats["dropped"],
            )
            return
        failed = buffer.stats["last_error"]
        log.warning(
            "event logger %s: %d event(s) held in memory (max_buffered_events): new events are "
            "dropped until storage takes them (%d dropped so far; %s)",
            self.app_id,
            self.max_buffered_events,
            buffer.stats["dropped"],
            f"last error: {failed}" if failed else "no write failed: logged faster than written",
        )

    def _invalid(self, reason: str, kind: str | None = None) -> None:
        """Counted, and named once per kind (a caller's bug repeats on every call): named once
        in all, a session refused for its id passed unsaid after a decision's typo."""
        kind = kind or VALUES.sub("…", reason)
        try:
            with self._buffer.lock:
                self._buffer.stats["invalid"] += 1
                new = kind not in self._told_invalid and len(self._told_invalid) < MAX_KINDS_TOLD
                if new:
                    self._told_invalid.add(kind)
            if new:
                log.warning(
                    "event logger %s: %s (further ones of this kind only counted)",
                    self.app_id,
                    reason,
                )
        except Exception:  # pragma: no cover - never raise into the caller
            pass

    def session(
        self,
        session_id: str | None = None,
        *,
        agent_id: str | None = None,
        start: bool = True,
        turn: int | None = None,
    ) -> Session:
        """A session handle (new id when none is given); logs its session_start unless `start`
        is false (a sub-agent's handle of a session open here, or a session resumed). Its first
        turn is the session's next, or `turn` (a resumed session's, where the last one ended)."""
        handle = Session(self, session_id or uuid.uuid4().hex, agent_id, turn)
        if start:
            handle.start()
        return handle

    def stats(self) -> "LoggerStats":
        """Counters since creation, plus what is in memory now (see `LoggerStats`)."""
        buffer = self._buffer
        with buffer.lock:
            return LoggerStats(
                **buffer.stats,
                buffered=len(buffer.events),
                pending=buffer.unwritten,
                held=buffer.held - buffer.unwritten,
                closed=buffer.closed,
            )

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write what is buffered now, retrying failed writes at once (not after their backoff),
        until everything is written or `timeout` passes. True when nothing is left unwritten.
        Blocks the calling thread (unlike `log()`); never raises."""
        return self._flusher.flush(timeout)

    def written_mark(self) -> WrittenMark:
        """Where the writes stand now: `written_since(mark)` says when all that was logged
        before it is written (a receiver that keeps what it took until then; never blocks)."""
        return self._flusher.mark()

    def written_since(self, mark: WrittenMark) -> bool:
        return self._flusher.written_since(mark)

    def close(self, timeout: float | None = None) -> None:
        """Flush everything (retrying failed writes until `timeout`), then stop. Idempotent: a
        close while another thread's is under way waits for its flush (SIGTERM's handler
        defers to a close of its own thread: `process.closing`)."""
        wait = self.close_timeout_s if timeout is None else timeout
        with process.closing():
            with self._buffer.lock:
                closing = self._buffer.closed
                self._buffer.closed = True
            if closing:
                self._flusher.wait_stopped(wait)
                return
            if process.terminating():  # came before the stop: it too hurries
                wait = min(wait, self.close_timeout_s)
            self._flusher.stop(wait)
            atexit.unregister(self._at_exit)
            if self.finalizer is not None:
                self.finalizer.cancel()

    def hurry(self) -> None:
        """A close under way retries failed writes for `close_timeout_s` at most from now."""
        self._flusher.hurry(self.close_timeout_s)

    def __enter__(self) -> "EventLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _at_exit(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - never let exit fail because of the logger
            log.exception("event logger: close at exit failed")


def _a_table(lake: Lake) -> str | None:
    """Why the lake is no lake when it is a Delta table's folder. A store that fails the look
    now is no reason to fail the program's start: the writes retry and say why."""
    try:
        return a_table_not_a_lake(lake)
    except Exception:  # s3fs and botocore raise beyond OSError
        return None
