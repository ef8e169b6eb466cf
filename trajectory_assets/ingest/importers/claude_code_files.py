"""The files of one Claude Code session, read together.

Recent versions of Claude Code write each sub-agent's transcript to a file of its own, with the
parent's `sessionId`: `agent-<agentId>.jsonl` beside the session's `<sessionId>.jsonl`, or
`<sessionId>/subagents/*.jsonl` below it. A session's turns are numbered across all its agents
(`turns`), so a file read alone numbered its sub-agent's turns from 0 again, into the turns of
the main conversation. Whichever of a session's files is imported, the importer reads them all,
in one order, and so gives the same events; so too a transcript of the folder that holds a
copy of some of a session's lines (read alone first, they made a session of their own, which
the lake kept).

A session resumed (`claude --resume`, `--continue`) is written to a new file under a new
`sessionId`, and several versions copy the conversation so far into it first: the same entries
(`uuid`, `message.id`, `requestId`, time) under the new id. Read as they are, the resumed
session counted every earlier call and its tokens again. An entry held by several sessions of a
folder is the oldest one's: by its first entry's time, then its last's (a copy of the whole
conversation starts with it), then its id; the copies of a session's file no longer beside it
(pruned, moved) stay the resumed session's.
"""

import datetime as dt
import functools
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import LeftOut
from trajectory_assets.ingest.importers.claude_code_entries import Entry, read_entries


def with_related_files(path: Path, entries: list[Entry]) -> list[Entry]:
    """`entries` (read from `path`) and those of the other files of their sessions, each uuid
    once, files in path order, less a resumed session's copies (`_less_copies`); what the other
    files hold of other sessions is left out. Lines the other files leave out are theirs to
    report when they are imported."""
    sessions = {str(e.raw["sessionId"]) for e in entries}
    files = session_files(path, sessions)
    if files == [path]:
        return _less_copies(path, entries, sessions, files)
    merged: list[Entry] = []
    seen: set[str] = set()
    for file in files:
        for entry in entries if file == path else _quietly_read(file):
            if str(entry.raw["sessionId"]) in sessions and entry.uuid not in seen:
                seen.add(entry.uuid)
                merged.append(entry)
    return _less_copies(path, merged, sessions, files)


def _quietly_read(file: Path) -> list[Entry]:
    """Another file's entries: what it leaves out, or why it cannot be read, its own import
    says."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", LeftOut)
        try:
            return read_entries(file)
        except (OSError, UnparseableFileError):
            return []


def _less_copies(
    path: Path, entries: list[Entry], sessions: set[str], files: list[Path]
) -> list[Entry]:
    """`entries` less those an older session of the folder holds too (a resumed session's
    copies of the conversation it goes on)."""
    shared = _index(Path(home(path))).shared  # a sub-agent's file's session: its home's
    others = sorted({f for e in entries for f in shared.get(e.uuid, ()) if f not in files})
    holders: dict[str, set[str]] = {}  # uuid → the other sessions holding it
    times: dict[str, list[dt.datetime]] = {}  # session → the times of its entries read
    for file in others:
        for entry in _quietly_read(file):
            session = str(entry.raw["sessionId"])
            if session not in sessions:
                holders.setdefault(entry.uuid, set()).add(session)
                times.setdefault(session, []).append(entry.ts)
    if not holders:
        return entries
    for entry in entries:
        times.setdefault(str(entry.raw["sessionId"]), []).append(entry.ts)

    def rank(session: str) -> tuple[dt.datetime, dt.datetime, str]:
        return min(times[session]), max(times[session]), session

    return [
        e
        for e in entries
        if not any(rank(o) < rank(str(e.raw["sessionId"])) for o in holders.get(e.uuid, ()))
    ]


def home(path: str | Path) -> str:
    """The folder a transcript's session files are found in: its own, or the one of the
    session's folder for a sub-agent's file in `<session>/subagents/`."""
    folder = Path(path).parent
    return str(folder.parent.parent if folder.name == "subagents" else folder)


def session_files(path: Path, sessions: set[str]) -> list[Path]:
    """The files of these sessions around `path` (itself included), sorted: the same list
    whichever of them is given."""
    folder = path.parent
    homes = [folder, folder.parent.parent] if folder.name == "subagents" else [folder]
    found = {path}
    for home in homes:
        for session in sessions:
            main = home / f"{session}.jsonl"  # its own file, as it is now (a number id too)
            if main.is_file():
                found.add(main)
            found.update(_index(home).by_session.get(session, ()))
            below = home / session / "subagents"
            if below.is_dir():
                found.update(_index(below).by_session.get(session, ()))
    return sorted(found)


@dataclass(frozen=True)
class FolderIndex:
    by_session: dict[str, tuple[Path, ...]]
    """The files holding entries of each session."""
    shared: dict[str, tuple[Path, ...]]
    """The files holding each entry uuid that is in more than one file."""


def _index(folder: Path) -> FolderIndex:
    return _index_of(str(folder), folder.stat().st_mtime_ns)


SESSION_ID = re.compile(rb'"sessionId"\s*:\s*"([^"\\]*(?:\\.[^"\\]*)*)"')  # escapes too
UUID = re.compile(rb'"uuid"\s*:\s*"([^"\\]+)"')


@functools.lru_cache(maxsize=256)
def _index_of(folder: str, mtime_ns: int) -> FolderIndex:
    """The folder's transcripts by the sessions they hold entries of, read once per state of the
    folder (a folder of thousands of transcripts is imported file by file): the session's own
    file, its sub-agents' (`agent-*.jsonl`), and any other holding some of its entries (a line
    copied into another file), so the session is read whole whichever file is imported first;
    and the entries in several files (a resumed session's copies). Lines appended to a file
    leave the folder's time as it was: a process importing while another file gains a session's
    lines reads that file's older sessions (its own file is found by name). 240 MB of 500,000
    entries: 2.3 s, once per process and folder state (mostly the two expressions' search)."""
    found: dict[str, list[Path]] = {}
    uuids: dict[Path, set[bytes]] = {}
    seen: set[bytes] = set()
    twice: set[bytes] = set()
    for file in Path(folder).glob("*.jsonl"):
        try:
            data = file.read_bytes()
        except OSError:
            continue
        for session in set(SESSION_ID.findall(data)):
            try:  # the id as JSON spells it, unescaped
                found.setdefault(json.loads(b'"' + session + b'"'), []).append(file)
            except ValueError:  # no valid JSON string: no entry read_entries would keep
                continue
        uuids[file] = set(UUID.findall(data))
        twice |= uuids[file] & seen  # set operations: a uuid at a time took seconds
        seen |= uuids[file]
    shared: dict[bytes, list[Path]] = {}
    for file, held in uuids.items():
        for uuid in held & twice:
            shared.setdefault(uuid, []).append(file)
    return FolderIndex(
        {session: tuple(files) for session, files in found.items()},
        {uuid.decode(errors="replace"): tuple(files) for uuid, files in shared.items()},
    )
