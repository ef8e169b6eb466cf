"""What a Codex rollout's items say in text: a message's text parts, a tool output's text, and
the exit code a shell tool's output states (Codex has written it in several forms)."""

import json
import re
from typing import Any

from trajectory_assets.ingest.common import to_int

_EXIT = re.compile(r"(?:^Exit code:\s*|Process exited with code\s+)(-?\d+)", re.MULTILINE)
_TEXT_PARTS = frozenset({"text", "input_text", "output_text"})


def item_text(content: Any) -> str:
    """The text parts of a message (not its reasoning)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            str(c["text"])
            for c in content
            if isinstance(c, dict) and c.get("text") and c.get("type", "text") in _TEXT_PARTS
        )
    return ""


def output_text(output: Any) -> str:
    if isinstance(output, dict):
        return item_text(output.get("content")) or str(output.get("content") or "")
    return item_text(output)


def exit_code(output: Any) -> int | None:
    """The exit code a shell tool's output states, in any of the forms Codex has written."""
    if isinstance(output, dict) and output.get("success") is False:
        return to_int((output.get("metadata") or {}).get("exit_code")) or 1
    text = output_text(output)
    try:
        parsed = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        parsed = None
    if isinstance(parsed, dict) and isinstance(parsed.get("metadata"), dict):
        return to_int(parsed["metadata"].get("exit_code"))
    match = _EXIT.search(text)
    return int(match.group(1)) if match else None
