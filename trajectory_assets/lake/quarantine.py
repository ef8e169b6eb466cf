"""What the lake keeps of input it could not take, with the reason: spans the OTLP receiver
rejected (a client cannot send them again, so refusing them must not lose them), and the lines
and events of imported files that cannot be events (`ingest`: the rest of the file imports).

    <lake>/_rejected/<source>/dt=<day received, UTC>/<time>-<id>.jsonl

One JSON object per line (`Rejected`), one file per service's spans in a request that had any
rejected (written before the client is answered) or per imported file that had any; hidden from
every table and listing (the name starts with `_`), readable with any JSON Lines reader. `forget`
removes the lines that name a forgotten session.
"""

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from typing import Any, TypedDict

from trajectory_assets.lake.fs import Lake, write_file_atomic
from trajectory_assets.lake.mentions import Sessions

REJECTED = "_rejected"


class Rejected(TypedDict):
    received_at: str  # ISO time, UTC
    source: str  # what received it, e.g. "otlp"
    app_id: str  # the app it was sent for
    reason: str
    record: dict[str, Any]  # as received


def keep_rejected(
    lake: Lake, source: str, app_id: str, rejected: Sequence[tuple[str, dict[str, Any]]]
) -> str:
    """Write (reason, record) pairs in one new file; its path."""
    now = dt.datetime.now(dt.UTC)
    name = f"{now:%H%M%S}-{uuid.uuid4().hex[:12]}.jsonl"
    path = lake.path(REJECTED, source, f"dt={now.date().isoformat()}", name)
    lines = [
        json.dumps(
            Rejected(
                received_at=now.isoformat(),
                source=source,
                app_id=app_id,
                reason=reason,
                record=record,
            ),
            default=str,
            ensure_ascii=False,
        )
        for reason, record in rejected
    ]
    # a lone surrogate (half of a UTF-16 pair: text cut mid-emoji) as JSON's own escape,
    # `\ud800`, which UTF-8 cannot encode and a JSON reader gives back as it was received
    write_file_atomic(lake, path, ("\n".join(lines) + "\n").encode("utf-8", "backslashreplace"))
    return path


def rejected_files(lake: Lake) -> list[str]:
    return [p for p in lake.fs.glob(lake.path(REJECTED, "**", "*.jsonl")) if lake.fs.isfile(p)]


def drop_rejected(lake: Lake, sessions: Sessions, *, whole_app: bool = False) -> int:
    """Remove the lines of the app's rejected input that name the sessions, or every line of
    the app's (`whole_app`; a file left empty goes too); how many lines."""
    dropped = 0
    for path in rejected_naming(lake, sessions, whole_app=whole_app):
        kept = bytearray()
        with lake.fs.open(path, "rb") as lines:  # by `\n` alone: a JSON text holds U+2028 raw
            for line in lines:
                if _names(line.decode(), sessions, whole_app):
                    dropped += 1
                elif line.strip():
                    kept += line if line.endswith(b"\n") else line + b"\n"
        if kept:
            write_file_atomic(lake, path, bytes(kept))
        else:
            lake.fs.rm(path)
    return dropped


def rejected_naming(
    lake: Lake, sessions: Sessions, *, whole_app: bool = False
) -> dict[str, list[str]]:
    """Files of the app's rejected input with lines that name the sessions, and which; each
    file read a line at a time (a receiver's rejected input may run to gigabytes)."""
    found = {}
    for path in rejected_files(lake):
        with lake.fs.open(path, "rb") as lines:
            named = sorted(
                {s for line in lines for s in _names(line.decode(), sessions, whole_app)}
            )
        if named:
            found[path] = named
    return found


ANY_SESSION = "(any of the app's)"
"""What a line of the app's names when the whole app is forgotten, sessions named or not."""


def _names(line: str, sessions: Sessions, whole_app: bool = False) -> set[str]:
    """The sessions a line of rejected input names, if it is the app's: a value that is the id,
    or a raw path (with `whole_app`, any line of the app's: ANY_SESSION); or, in a source line
    that could not be read (`{"line": text}`), whose app nobody can tell, the id as a word."""
    doc = json.loads(line) if line.strip() else {}
    if not isinstance(doc, dict):
        return set()
    record = doc.get("record")
    if isinstance(record, dict) and set(record) == {"line"}:
        return sessions.in_words(str(record["line"]))
    if doc.get("app_id") != sessions.app_id:
        return set()
    return sessions.in_values(record) | ({ANY_SESSION} if whole_app else set())
