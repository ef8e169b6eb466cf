"""What the JSON Lines transcripts of coding agents (Claude Code, Codex) share in reading.

Both write one JSON object a line, each with a `type` and a `timestamp`, appended while the
agent runs, and both are read alike: a JSON line of a type the importer does not read is skipped
(the formats have more line types than an importer needs), and so is a line whose time cannot be
read. A line that is not JSON is skipped only at the end, where a file being written may end in a
cut line; elsewhere it fails the file, naming the line, since skipping it would lose its events
without a word.
"""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import json_lines, parse_ts, read_text


def typed_objects(path: str | Path, types: frozenset[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(line number, object)` of each line that is a JSON object whose `type` is in `types`."""
    lines = json_lines(read_text(path))
    last = max((n for n, line in enumerate(lines, start=1) if line.strip()), default=0)
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == last:
                continue  # the cut end of a file still being written
            raise UnparseableFileError(
                f"line {number} is not JSON ({exc.msg} at column {exc.colno}), and it is not the "
                "last line: the transcript is damaged inside, and its events would be lost"
            ) from None
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
