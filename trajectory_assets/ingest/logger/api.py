"""The public API of the event logger: `EventLogger` and its per-session helpers, `Session`.

This is the caller's side, the hot path: `log()` builds one `LoggedEvent` and appends it to the
shared buffer under a lock, and never raises. Storage is the flush thread's (`flusher`); which
events are kept is the capture policy's (`capture`). The guarantees are in the package docstring.
"""

import atexit
import datetime as dt
import itertools
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any, Literal, get_args

from trajectory_assets.ingest.common import dumps
from trajectory_assets.ingest.logger.buffer import Buffer, LoggedEvent
from trajectory_assets.ingest.logger.capture import CAPTURE_LEVELS, Capture, CapturePolicy
from trajectory_assets.ingest.logger.flusher import Flusher
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import folder_name_problem

# the name users configure, whichever module of the package logs
log = logging.getLogger("trajectory_assets.ingest.logger")

_ROW_OVERHEAD_BYTES = 160
Outcome = Literal["kept", "eliminated", "scored"]
DECISION_OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def _ts_us(value: Any) -> int:
    aware = value.replace(tzinfo=value.tzinfo or dt.UTC) if isinstance(value, dt.datetime) else None
    us = (aware - _EPOCH) // _US if aware else int(float(value) * 1_000_000)  # or epoch seconds
    if us < 0:  # a day Dagster's daily partitions cannot name (year 1 became the lake's start)
        raise ValueError(f"ts {value!r} is before 1970-01-01")
    return us


class Session:
    """Helpers that fill the columns of each Tier A event type for one session.

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
        arguments: Any = None,
        latency_ms: float | None = None,
        error_type: str | None = None,
        **fields: Any,
    ) -> str | None:
        """`arguments` (any JSON value) go to the payload's `arguments`, which the loop columns
        compare: the same tool with the same arguments again is a repeat."""
        if arguments is not None:
            payload = fields.pop("payload", None)
            extra = payload if isinstance(payload, Mapping) else {}
            fields["payload"] = {**extra, "arguments": arguments}
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
        outcome: Outcome,
        score: float | None = None,
        reason: str | None = None,
        **fields: Any,
    ) -> str | None:
        """`outcome` is one of SPEC's three: another would be counted in no column of
        `decision_steps`, so it is left out as invalid, like any event no table can use."""
        if outcome not in DECISION_OUTCOMES:
            self.logger._invalid(f"decision outcome {outcome!r} is not one of {DECISION_OUTCOMES}")
            return None
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
        if problem := folder_name_problem("app_id", app_id):
            raise ValueError(problem)
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
        self._buffer = Buffer()
        self._flusher = Flusher(
            self.lake,
            app_id,
            self._buffer,
            CapturePolicy(capture, sample_rate),
            flush_interval_s=flush_interval_s,
            retry_initial_s=retry_initial_s,
            retry_max_s=retry_max_s,
            write_threads=write_threads,
            drop_existing=drop_existing,
        )
        self._flusher.start()
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
        that cannot be recorded (an unknown field, no session id or event type) is counted as
        `invalid` in `stats()` and reported through logging; so is one with a value Arrow
        cannot store as its column's type, found when its batch is written (it alone is left
        out).

        `event_id` and `seq` default to this logger's own; a producer whose events have stable
        identities (the OTLP receiver: trace, span and role) passes them, so an event sent
        twice is one event."""
        if unknown:
            self._invalid(f"unknown event field(s) {sorted(unknown)}")
            return None
        if not (session_id and isinstance(session_id, str) and event_type is not None):
            # a key no raw file can hold: it would fail its whole batch's write, or land in a
            # session folder no listing reads
            self._invalid(f"no session id or event type ({session_id!r}, {event_type!r})")
            return None
        if problem := folder_name_problem("session_id", session_id):
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
            buffer = self._buffer
            with buffer.lock:
                if buffer.closed or len(buffer.events) + buffer.held >= self.max_buffered_events:
                    buffer.stats["dropped"] += 1
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

    def _invalid(self, reason: str) -> None:
        try:
            with self._buffer.lock:
                self._buffer.stats["invalid"] += 1
                first = self._buffer.stats["invalid"] == 1
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
        buffer = self._buffer
        with buffer.lock:
            out = dict(buffer.stats)
            out["buffered"] = len(buffer.events)
            out["pending"] = buffer.unwritten
            out["held"] = buffer.held - buffer.unwritten
        out["closed"] = buffer.closed
        return out

    def flush(self, timeout: float | None = 30.0) -> bool:
        """Write what is buffered now, retrying failed writes at once (not after their backoff),
        until everything is written or `timeout` passes. True when nothing is left unwritten.
        Blocks the calling thread (unlike `log()`); never raises."""
        return self._flusher.flush(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Flush everything (retrying failed writes until `timeout`), then stop. Idempotent."""
        with self._buffer.lock:
            if self._buffer.closed:
                return
            self._buffer.closed = True
        self._flusher.stop(self.close_timeout_s if timeout is None else timeout)
        atexit.unregister(self._at_exit)

    def __enter__(self) -> "EventLogger":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _at_exit(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - never let exit fail because of the logger
            log.exception("event logger: close at exit failed")
