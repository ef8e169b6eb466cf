"""The files of one Claude Code session, read together.

Recent versions of Claude Code write each sub-agent's transcript to a file of its own, with the
parent's `sessionId`: `agent-<agentId>.jsonl` beside the session's `<sessionId>.jsonl`, or
`<sessionId>/subagents/*.jsonl` below it. A session's turns are numbered across all its agents
(`turns`), so a file read alone numbered its sub-agent's turns from 0 again, into the turns of
the main conversation. Whichever of a session's files is imported, the importer reads them all,
in one order, and so gives the same events; so too a transcript of the folder that holds a
copy of some of a session's lines (read alone first, they made a session of their own, which
the lake kept).
"""

import functools
import json
import re
import warnings
from pathlib import Path

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import LeftOut
from trajectory_assets.ingest.importers.claude_code_entries import Entry, read_entries


def with_related_files(path: Path, entries: list[Entry]) -> list[Entry]:
    """`entries` (read from `path`) and those of the other files of their sessions, each uuid
    once, files in path order; what the other files hold of other sessions is left out. Lines
    the other files leave out are theirs to report when they are imported."""
    sessions = {str(e.raw["sessionId"]) for e in entries}
    files = session_files(path, sessions)
    if files == [path]:
        return entries
    merged: list[Entry] = []
    seen: set[str] = set()
    for file in files:
        if file == path:
            found = entries
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", LeftOut)
                try:
                    found = read_entries(file)
                except (OSError, UnparseableFileError):  # its own import says so
                    continue
        for entry in found:
            if str(entry.raw["sessionId"]) in sessions and entry.uuid not in seen:
                seen.add(entry.uuid)
                merged.append(entry)
    return merged


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
            found.update(_files_by_session(home).get(session, ()))
            below = home / session / "subagents"
            if below.is_dir():
                found.update(_files_by_session(below).get(session, ()))
    return sorted(found)


def _files_by_session(folder: Path) -> dict[str, tuple[Path, ...]]:
    return _files_by_session_of(str(folder), folder.stat().st_mtime_ns)


SESSION_ID = re.compile(rb'"sessionId"\s*:\s*"((?:[^"\\]|\\.)*)"')


@functools.lru_cache(maxsize=256)
def _files_by_session_of(folder: str, mtime_ns: int) -> dict[str, tuple[Path, ...]]:
    """The folder's transcripts by the sessions they hold entries of, read once per state of the
    folder (a folder of thousands of transcripts is imported file by file): the session's own
    file, its sub-agents' (`agent-*.jsonl`), and any other holding some of its entries (a line
    copied into another file), so the session is read whole whichever file is imported first.
    Lines appended to a file leave the folder's time as it was: a process importing while
    another file gains a session's lines reads that file's older sessions (its own file is
    found by name). 2,000 transcripts of 421 MB: 0.3 s, once per process and folder state."""
    found: dict[str, list[Path]] = {}
    for file in Path(folder).glob("*.jsonl"):
        try:
            data = file.read_bytes()
        except OSError:
            continue
        for session in {m.group(1) for m in SESSION_ID.finditer(data)}:
            try:  # the id as JSON spells it, unescaped
                found.setdefault(json.loads(b'"' + session + b'"'), []).append(file)
            except ValueError:  # no valid JSON string: no entry read_entries would keep
                continue
    return {session: tuple(files) for session, files in found.items()}
