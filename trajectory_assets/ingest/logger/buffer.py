"""What the callers' threads hand to the flush thread: one `LoggedEvent` per `log()` call, in a
`Buffer` both sides share under one lock.

The caller's side only appends and counts, so `log()` stays a list append; converting to Arrow,
sampling and writing are the flush thread's (see `flusher`).
"""

import threading
from dataclasses import dataclass
from typing import Literal, TypedDict


@dataclass(slots=True)
class LoggedEvent:
    """One logged event in RAW_EVENTS columns, `app_id` aside (one per logger, added when the
    table is built). `ts` is in microseconds since the epoch; `payload` is JSON text already."""

    event_id: str
    session_id: str
    ts: int
    seq: int
    event_type: str
    turn_index: int | None
    agent_id: str | None
    request_id: str | None
    model: str | None
    tool_name: str | None
    ttft_ms: float | None
    latency_ms: float | None
    tool_latency_ms: float | None
    input_tokens: int | None
    output_tokens: int | None
    cache_tokens: int | None
    error_type: str | None
    error_code: str | None
    payload: str | None
    artifacts: list[dict[str, str]] | None


class LoggerCounters(TypedDict):
    """What a logger did since it was made (`EventLogger.stats()` adds what it holds now)."""

    logged: int
    dropped: int  # logged while `max_buffered_events` were held
    invalid: int
    sampled_out: int
    written_events: int
    existing_events: int  # already in their session's folder (re-sent)
    written_files: int
    existing_files: int
    flushes: int
    write_failures: int
    retried_writes: int
    lost: int  # not written when the logger closed (storage down past its deadline)
    last_error: str | None  # of the latest failed write, until a write succeeds


Counter = Literal[
    "logged",
    "dropped",
    "invalid",
    "sampled_out",
    "written_events",
    "existing_events",
    "written_files",
    "existing_files",
    "flushes",
    "write_failures",
    "retried_writes",
    "lost",
]


class Buffer:
    """The state both sides touch, always under `lock`: the events logged since the last flush,
    the counters `stats()` reports, and how many events the flush thread still holds."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.events: list[LoggedEvent] = []
        self.bytes = 0
        self.held = 0  # events the flush thread holds (retries, sampled tails)
        self.unwritten = 0  # of which flushed but not yet written (failed, awaiting retry)
        self.closed = False
        self.unwritable = 0  # events the flush thread took and left unwritten (`WrittenMark`)
        self.dropped_told = -60.0  # when a drop was last logged (monotonic)
        self.stats = LoggerCounters(
            logged=0,
            dropped=0,
            invalid=0,
            sampled_out=0,
            written_events=0,
            existing_events=0,
            written_files=0,
            existing_files=0,
            flushes=0,
            write_failures=0,
            retried_writes=0,
            lost=0,
            last_error=None,
        )

    def take(self) -> list[LoggedEvent]:
        """Everything logged since the last call; the buffer starts again empty. The events
        count as held until the flush thread says what it still holds: a flush under way
        must not make room for as many again (memory went to 1.5x `max_buffered_events`)."""
        with self.lock:
            events, self.events = self.events, []
            self.bytes = 0
            self.held += len(events)
        return events

    def count(self, key: Counter, value: int = 1) -> None:
        """(The flush thread's counts: of them, `invalid` and `lost` are events it took and
        did not write.)"""
        with self.lock:
            self.stats[key] += value
            if key in ("invalid", "lost"):
                self.unwritable += value


@dataclass(frozen=True)
class WrittenMark:
    """A point in a logger's writes: the flush cycle that writes what was logged before it,
    and the events its flush thread had left unwritten until then (an event `log()` dropped
    is no one's to count here: `log()` returned None for it)."""

    cycle: int
    unwritable: int
