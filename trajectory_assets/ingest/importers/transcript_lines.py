"""What the JSON Lines transcripts of coding agents (Claude Code, Codex) share in reading.

Both write one JSON object a line, each with a `type` and a `timestamp`, appended while the
agent runs, and both are read alike: a JSON line of a type the importer does not read is skipped
(the formats have more line types than an importer needs). Lines that may have held events are
left out with a note `ingest` shows (`common.left_out`): a line of a type read whose time cannot
be read, a JSON line that is no object with a type, and a cut last line (a file being written
may end in one). A line that is not JSON elsewhere fails the file, naming the line.
"""

import datetime as dt
import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import (
    CUT_LAST_LINE,
    LeftOut,
    Row,
    json_lines,
    left_out,
    read_text,
)
from trajectory_assets.ingest.times import parse_ts


def timed_objects(
    path: str | Path, types: frozenset[str], usable: Callable[[dict[str, Any]], bool]
) -> Iterator[tuple[int, dict[str, Any], dt.datetime]]:
    """`(line number, object, time)` of each usable object of `types` (`typed_objects`)."""
    untimed: list[int] = []
    for number, raw in typed_objects(path, types):
        if not usable(raw):
            continue
        ts = line_time(raw)
        if ts is None:
            untimed.append(number)
            continue
        yield number, raw, ts
    if untimed:
        left_out(f"{len(untimed)} entry line(s) without a readable timestamp", untimed)


def typed_objects(path: str | Path, types: frozenset[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """`(line number, object)` of each line that is a JSON object whose `type` is in `types`."""
    lines = json_lines(read_text(path))
    last = max((n for n, line in enumerate(lines, start=1) if line.strip()), default=0)
    shapeless: list[int] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            if number == last:
                left_out(CUT_LAST_LINE, [number])
                continue
            raise UnparseableFileError(
                f"line {number} is not JSON ({exc.msg}: column {exc.colno}), and it is not the "
                "last line: the transcript is damaged inside, and its events would be lost"
            ) from None
        if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
            shapeless.append(number)
        elif raw["type"] in types:
            yield number, raw
    if shapeless:
        left_out(f"{len(shapeless)} JSON line(s) that are no object with a type", shapeless)


def line_time(raw: dict[str, Any]) -> dt.datetime | None:
    """The line's `timestamp` in UTC; None when it has none or it cannot be read."""
    try:
        return parse_ts(raw["timestamp"])
    except (KeyError, ValueError, TypeError):
        return None


def elapsed_ms(start: dt.datetime, end: dt.datetime) -> float:
    return (end - start).total_seconds() * 1000


LIVE_S = 3600.0
"""A transcript written to within this long is live: its agent may still be answering or
running a tool. The lake keeps the first copy of an event, so an event imported unfinished (a
tool call before its result, a response still streaming or before its token count) would stay
so; those are left for a later import, which finds them whole. A session that ended unfinished
(the agent killed) gives them once it has been quiet this long."""


def held_back(session: str, last: dt.datetime, unfinished: list[Row]) -> set[str]:
    """The event ids of `unfinished` to leave for a later import: all of them while the
    transcript is live (`LIVE_S`), with a note, else none."""
    if not unfinished or (dt.datetime.now(dt.UTC) - last).total_seconds() >= LIVE_S:
        return set()
    warnings.warn(
        f"session {session}: {len(unfinished)} unfinished event(s) of a session written to "
        "within the hour (a tool call without its result, a response still being written), "
        "left for a later import, which takes them whole",
        LeftOut,
        stacklevel=2,
    )
    return {str(row["event_id"]) for row in unfinished}
