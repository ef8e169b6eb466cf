"""The capture policy: which logged events a flush writes, and with how much of their payload.

- `full`: every event as logged.
- `sampled`: every error (non-null error_type, or type `error`), the first and the last event of
  each session, every session_start, session_end and eval_result, and a `sample_rate` share of
  the rest, chosen by a hash of the event id (deterministic). The last event is known only when
  the next one arrives, so the most recent event of each session is held back until then, until
  its session_end, or until `close()`.
- `metrics_only`: every event with its metric columns; payload and artifacts are dropped, except
  the structured keys the tables need: session_end `status`, eval_result `benchmark, task_id,
  run_id, passed, score`, decision `step, item_id, outcome, score`, and a tool call's
  `arguments` as a digest (md5 of their JSON): no content, but equal calls stay equal for the
  loop columns. Messages (errors' too) are content, and go.

Runs on the flush thread only, so the policy's state (the held events) needs no lock.
"""

import hashlib
import json
import zlib
from typing import Literal

from trajectory_assets.ingest.common import dumps
from trajectory_assets.ingest.logger.buffer import LoggedEvent
from trajectory_assets.schema import CALL_PAYLOAD_COUNTS

Capture = Literal["full", "sampled", "metrics_only"]
CAPTURE_LEVELS: tuple[str, ...] = ("full", "sampled", "metrics_only")

_ALWAYS_KEPT = frozenset({"session_start", "session_end", "eval_result", "error"})
_METRIC_PAYLOAD_KEYS = {
    "session_end": ("status",),
    "eval_result": ("benchmark", "task_id", "run_id", "passed", "score"),
    "decision": ("step", "item_id", "outcome", "score"),
    "llm_call": CALL_PAYLOAD_COUNTS,  # priced
}


def keep_metrics_only(event: LoggedEvent) -> None:
    """Drops the event's payload and artifacts, but the payload keys the tables read. In place:
    the flush thread owns the events it took from the buffer, and copying each one would cost
    more than the rest of the policy."""
    keys = _METRIC_PAYLOAD_KEYS.get(event.event_type)
    payload = None
    if (keys or event.event_type == "tool_call") and event.payload:
        try:
            parsed = json.loads(event.payload)
            if isinstance(parsed, dict) and keys:
                kept = {k: parsed[k] for k in keys if k in parsed}
                # a decision's or eval's payload must stay an object; a call's may go
                payload = dumps(kept) if kept or event.event_type != "llm_call" else None
            elif isinstance(parsed, dict) and parsed.get("arguments") is not None:
                digest = hashlib.md5(dumps(parsed["arguments"]).encode()).hexdigest()
                payload = dumps({"arguments": digest})
        except (TypeError, ValueError):
            payload = None
    event.payload = payload
    event.artifacts = None


class CapturePolicy:
    """Applies one capture level to each flush's events, in the order they were logged."""

    def __init__(self, capture: Capture, sample_rate: float) -> None:
        self.capture = capture
        self.sample_rate = sample_rate
        self._tails: dict[str, LoggedEvent | None] = {}  # sampled: each session's held event

    @property
    def tracking(self) -> bool:
        """Sampled: sessions are known whose last event may still be held (`close()` flushes)."""
        return bool(self._tails)

    @property
    def held(self) -> int:
        """Events held back as possibly the last of their session."""
        return sum(1 for t in self._tails.values() if t is not None)

    def apply(self, events: list[LoggedEvent], final: bool) -> tuple[list[LoggedEvent], int]:
        """The events to write, and how many the sample left out. `final` releases every held
        event (the logger is closing)."""
        if self.capture == "sampled":
            return self._sample(events, final)
        if self.capture == "metrics_only":
            for event in events:
                keep_metrics_only(event)
        return events, 0

    def _keep_sampled(self, event: LoggedEvent) -> bool:
        score = zlib.crc32(event.event_id.encode()) / 0x1_0000_0000
        return score < self.sample_rate

    def _sample(self, events: list[LoggedEvent], final: bool) -> tuple[list[LoggedEvent], int]:
        kept: list[LoggedEvent] = []
        sampled_out = 0
        for event in events:
            sid = event.session_id
            if sid not in self._tails:  # first event of the session
                self._tails[sid] = None
                kept.append(event)
                continue
            tail = self._tails[sid]
            if tail is not None:  # the held event is not the last one after all
                if self._keep_sampled(tail):
                    kept.append(tail)
                else:
                    sampled_out += 1
                self._tails[sid] = None
            always = event.event_type in _ALWAYS_KEPT or event.error_type is not None
            if event.event_type == "session_end":
                kept.append(event)
                del self._tails[sid]
            elif always:
                kept.append(event)
            else:
                self._tails[sid] = event
        if final:
            kept.extend(t for t in self._tails.values() if t is not None)
            self._tails.clear()
        return kept, sampled_out
