"""Reading a Claude Code transcript: its usable entries, and the lines of one API response.

Kept apart from the event mapping in `claude_code`: which lines are usable, and which lines
make one response with what usage, is what must be right before any event is made.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trajectory_assets.ingest.common import ANTHROPIC_NESTED_COUNTS, to_int
from trajectory_assets.ingest.importers.transcript_lines import timed_objects

ENTRY_TYPES = frozenset({"user", "assistant", "system", "summary"})
INTERRUPTED = "[Request interrupted by user"
_USAGE = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


@dataclass
class Entry:
    """One usable transcript line."""

    line: int
    raw: dict[str, Any]
    ts: dt.datetime

    @property
    def type(self) -> str:
        return str(self.raw.get("type"))

    @property
    def uuid(self) -> str:
        return str(self.raw.get("uuid") or f"line-{self.line}")

    @property
    def message(self) -> dict[str, Any]:
        message = self.raw.get("message")
        return message if isinstance(message, dict) else {}

    @property
    def blocks(self) -> list[dict[str, Any]]:
        content = self.message.get("content")
        return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []

    @property
    def results_only(self) -> bool:
        """A user entry of tool results alone, no prompt."""
        return bool(self.blocks) and all(b.get("type") == "tool_result" for b in self.blocks)

    @property
    def prompt(self) -> bool:
        """A user entry the user wrote: not Claude Code's own (`isMeta`, a compaction's summary
        of the conversation so far, the marker of an interrupted request)."""
        return not (
            self.raw.get("isMeta")
            or self.raw.get("isCompactSummary")
            or any(str(b.get("text", "")).startswith(INTERRUPTED) for b in self.blocks)
            or str(self.message.get("content", "")).startswith(INTERRUPTED)
        )

    def system_error(self) -> tuple[str | None, str | None]:
        """A `system` error entry's status and message: in its `content` in older versions, in
        `error` (`{"status": 529, "error": {"error": {"message": ...}}}`) in recent ones."""
        error = self.raw.get("error")
        status = error.get("status") if isinstance(error, dict) else None
        message, inner = None, error
        while isinstance(inner, dict) and message is None:
            said = inner.get("message")
            message = said if isinstance(said, str) and said else None
            inner = inner.get("error")
        content = self.raw.get("content")
        text = content if isinstance(content, str) and content else message
        return (None if status in (None, "") else str(status)), text

    @property
    def response_key(self) -> str:
        """The API response an assistant line belongs to: its message id and request id."""
        return f"{self.message.get('id') or self.uuid}/{self.raw.get('requestId') or ''}"


@dataclass
class Response:
    """The lines of one API response."""

    key: str
    entries: list[Entry] = field(default_factory=list)

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return [b for e in self.entries for b in e.blocks]

    def usage(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for entry in self.entries:
            usage = entry.message.get("usage")
            if not isinstance(usage, dict):
                continue
            found = {name: usage.get(name) for name in _USAGE}
            for key, (outer, inner) in ANTHROPIC_NESTED_COUNTS.items():
                part = usage.get(outer)
                found[key] = part.get(inner) if isinstance(part, dict) else None
            for name, raw in found.items():
                value = to_int(raw)
                if value is not None:
                    out[name] = max(out.get(name, 0), value)
        return out


def _usable(raw: dict[str, Any]) -> bool:
    return bool(raw.get("sessionId")) and isinstance(raw.get("message"), dict | None)


def read_entries(path: str | Path) -> list[Entry]:
    """The usable entries of a transcript, first copy of each uuid, in file order."""
    entries: list[Entry] = []
    seen: set[str] = set()
    for number, raw, ts in timed_objects(path, ENTRY_TYPES, _usable):
        if raw.get("type") in ("user", "assistant") and not isinstance(raw.get("message"), dict):
            continue
        entry = Entry(number, raw, ts)
        if entry.uuid in seen:
            continue
        seen.add(entry.uuid)
        entries.append(entry)
    return entries


def retries_given_up(entries: list[Entry], agent_of: Callable[[Entry], str]) -> set[str]:
    """The uuids of `system` errors of retries that all failed: the agent's next assistant
    entry is the synthetic API-error message, not a response (its next call answers another
    prompt, so the errors are the failed request's turn's, not that call's)."""
    given_up: set[str] = set()
    waiting: dict[str, list[str]] = {}
    for entry in entries:
        agent = agent_of(entry)
        if entry.type == "system" and str(entry.raw.get("level")) == "error":
            waiting.setdefault(agent, []).append(entry.uuid)
        elif entry.type == "assistant":
            if entry.raw.get("isApiErrorMessage"):
                given_up.update(waiting.get(agent, []))
            waiting.pop(agent, None)
    return given_up


def content_text(content: Any) -> str:
    """A message's or result's text: a string, or the text of its blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            str(b.get("text") or b.get("content") or "") if isinstance(b, dict) else str(b)
            for b in content
        ]
        return "\n".join(p for p in parts if p)
    return "" if content is None else str(content)
