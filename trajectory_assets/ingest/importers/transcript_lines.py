"""What the JSON Lines transcripts of coding agents (Claude Code, Codex) share in reading.

Both write one JSON object a line, each with a `type` and a `timestamp`, appended while the
agent runs, and both are read alike: a line that is not a JSON object of a type the importer
reads is skipped (a file being written may end in a cut line, and the formats have more line
types than an importer needs), and so is a line whose time cannot be read.
"""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trajectory_assets.ingest.common import parse_ts, read_text


def typed_objects(path: str | Path, types: frozenset[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(line number, object)` of each line that is a JSON object whose `type` is in `types`."""
    for number, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(raw, dict) and raw.get("type") in types:
            yield number, raw


def line_time(raw: dict[str, Any]) -> dt.datetime | None:
    """The line's `timestamp` in UTC; None when it has none or it cannot be read."""
    try:
        return parse_ts(raw["timestamp"])
    except (KeyError, ValueError, TypeError):
        return None


def elapsed_ms(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() * 1000
