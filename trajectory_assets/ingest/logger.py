"""An in-process event logger for live agents: `log()` is a list append, storage is a thread's job.

    logger = EventLogger(lake="s3://bucket/lake", app_id="support-bot")
    with logger.session(agent_id="planner") as s:
        s.user_message("hi")
        s.llm_call("gpt-4o", input_tokens=812, output_tokens=64, latency_ms=930.0)
        s.tool_call("search", latency_ms=120.0)
        s.next_turn()
    logger.close()  # also runs at process exit

Guarantees
- The caller never blocks on storage and never sees an exception from the logger: `log()` builds
  one tuple and appends it under a lock; everything else runs on a daemon thread.
- Every event gets its id when it is logged: `<logger id>-<counter>`, the logger id random per
  logger. A flush writes each session's events to a file named by a hash of those ids, so a
  retried flush rewrites the same name (already there: skipped) and nothing is duplicated.
- Files are flushed when the buffer reaches `flush_events` events or about `flush_bytes`, and
  every `flush_interval_s` seconds. A failed write is kept and retried with exponential backoff
  (`retry_initial_s` doubling up to `retry_max_s`); failures are counted in `stats()` and
  reported through `logging`. Nothing is lost while storage is down unless the logger holds more
  than `max_buffered_events` events (new events are then dropped and counted) or `close()` runs
  out of time (the unwritten events are counted as `lost` and logged as an error).
- With `drop_existing=True`, events whose ids are already in their session's folder are not
  written again (a read of that folder per write): for producers that may send the same event
  again across restarts, like the OTLP receiver, which also passes its own stable `event_id`s.
- All events of a session go under the `dt` of the first event this logger saw for it, also
  when a session spans midnight. (Sessions continued by another process or logger are not known
  to this one; it starts from the day of the first event it sees.)

Capture levels
- `full`: every event as logged.
- `sampled`: every error (non-null error_type, or type `error`), the first and the last event of
  each session, every session_start, session_end and eval_result, and a `sample_rate` share of
  the rest, chosen by a hash of the event id (deterministic). The last event is known only when
  the next one arrives, so the most recent event of each session is held back until then, until
  its session_end, or until `close()`.
- `metrics_only`: every event with its metric columns; payload and artifacts are dropped, except
  the structured keys the tables need: session_end `status`, eval_result `benchmark, task_id,
  run_id, passed, score` and decision `step, item_id, outcome, score`.
"""

import atexit
import datetime as dt
import itertools
import json
import logging
import threading
import time
import uuid
import zlib
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

import pyarrow as pa

from trajectory_assets.ingest.writer import write_session
from trajectory_assets.lake.fs import Lake
from trajectory_assets.schema import RAW_EVENTS

log = logging.getLogger(__name__)

Capture = Literal["full", "sampled", "metrics_only"]
CAPTURE_LEVELS: tuple[str, ...] = ("full", "sampled", "metrics_only")

# The tuple a log() call appends: RAW_EVENTS without app_id (constant per logger), ts in µs.
_FIELDS = tuple(n for n in RAW_EVENTS.names if n != "app_id")
_I = {name: i for i, name in enumerate(_FIELDS)}
_ID, _SID, _TS, _TYPE, _ERR, _PAYLOAD, _ART = (
    _I["event_id"],
    _I["session_id"],
    _I["ts"],
    _I["event_type"],
    _I["error_type"],
    _I["payload"],
    _I["artifacts"],
)
_ALWAYS_KEPT = frozenset({"session_start", "session_end", "eval_result", "error"})
_METRIC_PAYLOAD_KEYS = {
    "session_end": ("status",),
    "eval_result": ("benchmark", "task_id", "run_id", "passed", "score"),
    "decision": ("step", "item_id", "outcome", "score"),
}
_ROW_OVERHEAD_BYTES = 160
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)
_MAX_KNOWN_SESSIONS = 200_000


def _ts_us(value: Any) -> int:
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return (aware - _EPOCH) // _US
    return int(float(value) * 1_000_000)  # epoch seconds


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)


@dataclass
class _Batch:
    """One session's events of one flush: written as one file, retried as a unit."""

    day: str
    session_id: str
    table: pa.Table
    attempts: int = 0
    next_try: float = 0.0


class Session:
    """Helpers that fill the columns of each SPEC.md event type for one session.

    Methods return the event id (None if the event was dropped). `turn_index` defaults to the
    session's current turn, which `next_turn()` advances; session-level events carry no turn.
    """

    def __init__(self, logger: "EventLogger", session_id: str, agent_id: str | None = None):
        self.logger = logger
        self.id = session_id
        self.agent_id = agent_id
        self.turn = 0
        self.ended = False

    def next_turn(self) -> int:
        self.turn += 1
        return self.turn

    def _log(self, event_type: str, turn: bool, **fields: Any) -> str | None:
        if turn and fields.get("turn_index") is None:
            fields["turn_index"] = self.turn
        if fields.get("agent_id") is None:
            fields["agent_id"] = self.agent_id
        return self.logger.log(self.id, event_type, **fields)

    def start(self, payload: Mapping[str, Any] | None = None, **fields: Any) -> str | None:
        return self._log("session_start", False, payload=payload, **fields)

    def user_message(self, text: str | None = None, **fields: Any) -> str | None:
        payload = fields.pop("payload", None) or ({"text": text} if text is not None else None)
        return self._log("user_message", True, payload=payload, **fields)

    def agent_message(self, text: str | None = None, **fields: Any) -> str | None:
        payload = fields.pop("payload", None) or ({"text": text} if text is not None else None)
        return self._log("agent_message", True, payload=payload, **fields)

    def llm_call(
        self,
        model: str | None,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_tokens: int | None = None,
        latency_ms: float | None = None,
        ttft_ms: float | None = None,
        **fields: Any,
    ) -> str | None:
        return self._log(
            "llm_call",
            True,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_tokens=cache_tokens,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            **fields,
        )

    def tool_call(
        self,
        tool_name: str,
        *,
        latency_ms: float | None = None,
        error_type: str | None = None,
        **fields: Any,
    ) -> str | None:
        return self._log(
            "tool_call",
            True,
            tool_name=tool_name,
            tool_latency_ms=latency_ms,
            error_type=error_type,
            **fields,
        )

    def error(self, error_type: str, message: str | None = None, **fields: Any) -> str | None:
        payload = fields.pop("payload", None) or {"message": message}
        return self._log("error", True, error_type=error_type, payload=payload, **fields)

    def decision(
        self,
        step: str,
        item_id: str,
        outcome: Literal["kept", "eliminated", "scored"],
        score: float | None = None,
        reason: str | None = None,
        **fields: Any,
    ) -> str | None:
        payload = {"step": step, "item_id": item_id, "outcome": outcome, "score": score}
        if reason is not None:
            payload["reason"] = reason
        return self._log("decision", True, payload=payload, **fields)

    def eval_result(
        self,
        benchmark: str,
        task_id: str,
        passed: bool,
        score: float | None = None,
        run_id: str | None = None,
        model: str | None = None,
        **fields: Any,
    ) -> str | None:
        payload = {
            "benchmark": benchmark,
            "task_id": task_id,
            "run_id": run_id,
            "passed": passed,
            "score": score,
        }
        return self._log("eval_result", False, payload=payload, model=model, **fields)

    def end(self, status: str = "success", **fields: Any) -> str | None:
        self.ended = True
        extra = fields.pop("payload", None)
        payload = {**extra, "status": status} if isinstance(extra, Mapping) else {"status": status}
        return self._log("session_end", False, payload=payload, **fields)

    def __enter__(self) -> "Session":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.ended:
            return
        if exc is not None:
            self.error(type(exc).__name__, str(exc))
            self.end("failure")
        else:
            self.end("success")


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
    ) -> None:
        if capture not in CAPTURE_LEVELS:
            raise ValueError(f"capture must be one of {CAPTURE_LEVELS}, not {capture!r}")
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError("sample_rate must be within [0, 1]")
        if not app_id:
            raise ValueError("app_id must be a non-empty string")
        self.lake = Lake(lake, dict(storage_options or {})) if isinstance(lake, str) else lake
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
        self.logger_id = uuid.uuid4().hex[:16]

        self._counter = itertools.count()
        self._lock = threading.Lock()
        self._buffer: list[tuple[Any, ...]] = []
        self._buffer_bytes = 0
        self._held_count = 0  # events the flush thread holds (retries, sampled tails)
        self._unwritten = 0  # of which flushed but not yet written (failed, awaiting retry)
        self._close_deadline = float("inf")
        self._closed = False
        self._stopping = False
        self._wake = threading.Event()
        self._cycle = threading.Condition()
        self._cycles = 0
        self._force = False  # flush(): retry failed writes now

        # owned by the flush thread
        self._pending: list[_Batch] = []
        self._days: dict[str, str] = {}
        self._tails: dict[str, tuple[Any, ...] | None] = {}  # sampled: held last event
        self._pool = ThreadPoolExecutor(max(1, write_threads), thread_name_prefix="ta-write")
        self._last_warning = 0.0

        self._stats: dict[str, Any] = {
            "logged": 0,
            "dropped": 0,
            "invalid": 0,
            "sampled_out": 0,
            "written_events": 0,
            "written_files": 0,
            "existing_files": 0,
            "flushes": 0,
            "write_failures": 0,
            "retried_writes": 0,
            "lost": 0,
            "last_error": None,
        }
        self._thread = threading.Thread(target=self._run, name="ta-event-logger", daemon=True)
        self._thread.start()
        atexit.register(self._at_exit)

    # ------------------------------------------------------------------ caller side (hot path)
    def log(
        self,
        session_id: str,
        event_type: str,
        *,
        ts: dt.datetime | float | None = None,
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
        that cannot be recorded (an unknown field, a value of the wrong type) is counted as
        `invalid` in `stats()` and reported through logging.

        `event_id` and `seq` default to this logger's own; a producer whose events have stable
        identities (the OTLP receiver: trace, span and role) passes them, so an event sent
        twice is one event."""
        if unknown:
            self._invalid(f"unknown event field(s) {sorted(unknown)}")
            return None
        try:
            n = next(self._counter)
            event_id = f"{self.logger_id}-{n}" if event_id is None else event_id
            if payload is not None and not isinstance(payload, str):
                payload = _dumps(payload)
            row = (
                event_id,
                session_id,
                time.time_ns() // 1000 if ts is None else _ts_us(ts),
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
            with self._lock:
                if self._closed or len(self._buffer) + self._held_count >= self.max_buffered_events:
                    self._stats["dropped"] += 1
                    return None
                self._buffer.append(row)
                self._buffer_bytes += size
                self._stats["logged"] += 1
                full = (
                    len(self._buffer) >= self.flush_events or self._buffer_bytes >= self.flush_bytes
                )
            if full:
                self._wake.set()
            return event_id
        except Exception as exc:
            self._invalid(f"event not recorded: {type(exc).__name__}: {exc}")
            return None

    def _invalid(self, reason: str) -> None:
        try:
            with self._lock:
                self._stats["invalid"] += 1
                first = self._stats["invalid"] == 1
            if first:  # once: a caller bug repeats on every call
                log.warning("event logger %s: %s (further ones only counted)", self.app_id, reason)
        except Exception:  # pragma: no cover - never raise into the caller
            pass

    def session(
        self, session_id: str | None = None, *, agent_id: str | None = None, start: bool = True
    ) -> Session:
        """A session handle (new id when none is given); logs its session_start."""
        handle = Session(self, session_id or uuid.uuid4().hex, agent_id)
        if start:
            handle.start()
        return handle

    def stats(self) -> dict[str, Any]:
        """Counters since creation, plus what is in memory now: `buffered` (not yet flushed),
        `pending` (flushed, write failed, awaiting retry), `held` (sampled: last events held)."""
        with self._lock:
            out = dict(self._stats)
            out["buffered"] = len(self._buffer)
            out["pending"] = self._unwritten
            out["held"] = self._held_count - self._unwritten
        out["closed"] = self._closed
        return out

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write what is buffered now, retrying failed writes at once (not after their backoff),
        until everything is written or `timeout` passes. True when nothing is left unwritten.
        Blocks the calling thread (unlike `log()`); never raises."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._cycle:
                target = self._cycles + 2  # a whole cycle that started after this point
            self._force = True
            self._wake.set()
            with self._cycle:
                while self._cycles < target and self._thread.is_alive():
                    if deadline is not None and time.monotonic() >= deadline:
                        break
                    self._cycle.wait(0.05)
                    self._wake.set()
            with self._lock:
                if not self._buffer and self._unwritten == 0:
                    return True
            if not self._thread.is_alive():
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(min(self.retry_initial_s, 0.5))

    def close(self, timeout: float | None = None) -> None:
        """Flush everything (retrying failed writes until `timeout`), then stop. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._close_deadline = time.monotonic() + (
            self.close_timeout_s if timeout is None else timeout
        )
        self._stopping = True
        self._wake.set()
        self._thread.join(max(0.0, self._close_deadline - time.monotonic()) + 1.0)
        atexit.unregister(self._at_exit)
        self._pool.shutdown(wait=False)

    def __enter__(self) -> "EventLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _at_exit(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - never let exit fail because of the logger
            log.exception("event logger: close at exit failed")

    # ------------------------------------------------------------------- flush thread
    def _run(self) -> None:
        while True:
            wait = self.flush_interval_s
            if self._pending:
                soonest = min(b.next_try for b in self._pending) - time.monotonic()
                wait = max(0.0, min(wait, soonest))
            self._wake.wait(wait)
            self._wake.clear()
            stopping = self._stopping
            try:
                self._cycle_once(final=stopping)
            except Exception as exc:  # the thread must survive anything
                self._note_error(f"flush cycle failed: {type(exc).__name__}: {exc}")
            with self._cycle:
                self._cycles += 1
                self._cycle.notify_all()
            if stopping:
                if not self._pending or time.monotonic() >= self._close_deadline:
                    break
                time.sleep(min(0.05, self.retry_initial_s))
        lost = sum(b.table.num_rows for b in self._pending)
        if lost:
            with self._lock:
                self._stats["lost"] += lost
            log.error(
                "event logger %s: %d event(s) could not be written before close: %s",
                self.app_id,
                lost,
                self._stats["last_error"],
            )
        self._pending.clear()
        with self._lock:
            self._held_count = self._unwritten = 0

    def _cycle_once(self, final: bool) -> None:
        with self._lock:
            rows, self._buffer = self._buffer, []
            self._buffer_bytes = 0
        if rows or (final and self._tails):
            self._pending.extend(self._batches(rows, final))
            self._stats_add("flushes", 1)
        force, self._force = self._force, False
        now = time.monotonic()
        due = [b for b in self._pending if final or force or b.next_try <= now]
        if due:
            results = self._write_all(due)
            failed = [b for b, ok in zip(due, results, strict=True) if not ok]
            done = {id(b) for b, ok in zip(due, results, strict=True) if ok}
            self._pending = [b for b in self._pending if id(b) not in done]
            now = time.monotonic()
            for b in failed:
                b.attempts += 1
                backoff = min(self.retry_max_s, self.retry_initial_s * 2 ** (b.attempts - 1))
                b.next_try = now + backoff
        unwritten = sum(b.table.num_rows for b in self._pending)
        tails = sum(1 for t in self._tails.values() if t is not None)
        with self._lock:
            self._unwritten = unwritten
            self._held_count = unwritten + tails

    def _write_all(self, batches: list[_Batch]) -> list[bool]:
        if len(batches) > 1:
            try:
                return list(self._pool.map(self._write, batches))
            except RuntimeError:  # at interpreter exit the pool takes no new work
                pass
        return [self._write(b) for b in batches]

    def _write(self, batch: _Batch) -> bool:
        try:
            result = write_session(
                self.lake,
                batch.day,
                self.app_id,
                batch.session_id,
                batch.table,
                drop_existing=self.drop_existing,
            )
        except Exception as exc:
            with self._lock:
                self._stats["write_failures"] += 1
                if batch.attempts:
                    self._stats["retried_writes"] += 1
            self._note_error(f"write of session {batch.session_id} failed: {exc}")
            return False
        with self._lock:
            if batch.attempts:
                self._stats["retried_writes"] += 1
            if result.path is None:
                self._stats["existing_files"] += 1
            else:
                self._stats["written_files"] += 1
            self._stats["written_events"] += batch.table.num_rows
        return True

    def _note_error(self, message: str) -> None:
        with self._lock:
            self._stats["last_error"] = message
        now = time.monotonic()
        if now - self._last_warning >= 30.0:
            self._last_warning = now
            log.warning("event logger %s: %s (will retry)", self.app_id, message)

    def _stats_add(self, key: str, value: int) -> None:
        with self._lock:
            self._stats[key] += value

    # ------------------------------------------------------------------ shaping a flush
    def _batches(self, rows: list[tuple[Any, ...]], final: bool) -> list[_Batch]:
        if self.capture == "sampled":
            rows = self._sample(rows, final)
        elif self.capture == "metrics_only":
            rows = [self._metrics_only(r) for r in rows]
        by_session: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows:
            by_session.setdefault(row[_SID], []).append(row)
        batches = []
        for session_id, session_rows in by_session.items():
            day = self._days.get(session_id)
            if day is None:
                first = min(r[_TS] for r in session_rows)
                day = (_EPOCH + dt.timedelta(microseconds=first)).date().isoformat()
                self._remember_day(session_id, day)
            table = self._table(session_rows)
            if table is not None and table.num_rows:
                batches.append(_Batch(day, str(session_id), table))
            if any(r[_TYPE] == "session_end" for r in session_rows):
                self._days.pop(session_id, None)
        return batches

    def _remember_day(self, session_id: str, day: str) -> None:
        if len(self._days) >= _MAX_KNOWN_SESSIONS:  # forget the oldest sessions first
            for key in list(itertools.islice(self._days, len(self._days) // 10 or 1)):
                del self._days[key]
        self._days[session_id] = day

    def _table(self, rows: list[tuple[Any, ...]]) -> pa.Table | None:
        try:
            return self._build(rows)
        except Exception:
            good = []
            for row in rows:  # find the rows that cannot be stored; keep the rest
                try:
                    self._build([row])
                    good.append(row)
                except Exception:
                    self._stats_add("invalid", 1)
            return self._build(good) if good else None

    def _build(self, rows: list[tuple[Any, ...]]) -> pa.Table:
        columns = list(zip(*rows, strict=True))
        arrays = []
        for field in RAW_EVENTS:
            if field.name == "app_id":
                arrays.append(pa.array([self.app_id] * len(rows), pa.string()))
            else:
                arrays.append(pa.array(columns[_I[field.name]], field.type))
        return pa.Table.from_arrays(arrays, schema=RAW_EVENTS)

    def _metrics_only(self, row: tuple[Any, ...]) -> tuple[Any, ...]:
        keys = _METRIC_PAYLOAD_KEYS.get(row[_TYPE])
        payload = None
        if keys and row[_PAYLOAD]:
            try:
                parsed = json.loads(row[_PAYLOAD])
                if isinstance(parsed, dict):
                    payload = _dumps({k: parsed[k] for k in keys if k in parsed})
            except (TypeError, ValueError):
                payload = None
        out = list(row)
        out[_PAYLOAD] = payload
        out[_ART] = None
        return tuple(out)

    def _keep_sampled(self, row: tuple[Any, ...]) -> bool:
        score = zlib.crc32(row[_ID].encode()) / 0x1_0000_0000
        return score < self.sample_rate

    def _sample(self, rows: list[tuple[Any, ...]], final: bool) -> list[tuple[Any, ...]]:
        kept: list[tuple[Any, ...]] = []
        for row in rows:
            sid = row[_SID]
            if sid not in self._tails:  # first event of the session
                self._tails[sid] = None
                kept.append(row)
                continue
            tail = self._tails[sid]
            if tail is not None:  # the held event is not the last one after all
                if self._keep_sampled(tail):
                    kept.append(tail)
                else:
                    self._stats_add("sampled_out", 1)
                self._tails[sid] = None
            always = row[_TYPE] in _ALWAYS_KEPT or row[_ERR] is not None
            if row[_TYPE] == "session_end":
                kept.append(row)
                del self._tails[sid]
            elif always:
                kept.append(row)
            else:
                self._tails[sid] = row
        if final:
            kept.extend(t for t in self._tails.values() if t is not None)
            self._tails.clear()
        return kept
