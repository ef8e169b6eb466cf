"""The files of one Claude Code session, read together.

Recent versions of Claude Code write each sub-agent's transcript to a file of its own, with the
parent's `sessionId`: `agent-<agentId>.jsonl` beside the session's `<sessionId>.jsonl`, or
`<sessionId>/subagents/*.jsonl` below it. A session's turns are numbered across all its agents
(`turns`), so a file read alone numbered its sub-agent's turns from 0 again, into the turns of
the main conversation. Whichever of a session's files is imported, the importer reads them all,
in one order, and so gives the same events.
"""

import functools
import json
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
            main = home / f"{session}.jsonl"
            if main.is_file():
                found.add(main)
            found.update(_agent_files(home, "agent-*.jsonl").get(session, ()))
            below = home / session / "subagents"
            if below.is_dir():
                found.update(_agent_files(below, "*.jsonl").get(session, ()))
    return sorted(found)


def _agent_files(folder: Path, pattern: str) -> dict[str, tuple[Path, ...]]:
    return _agent_files_of(str(folder), pattern, folder.stat().st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _agent_files_of(folder: str, pattern: str, mtime_ns: int) -> dict[str, tuple[Path, ...]]:
    """Sub-agent files by session, read once per state of the folder (a folder of thousands of
    transcripts is imported file by file)."""
    found: dict[str, list[Path]] = {}
    for file in Path(folder).glob(pattern):
        session = _first_session(file)
        if session is not None:
            found.setdefault(session, []).append(file)
    return {session: tuple(files) for session, files in found.items()}


def _first_session(path: Path) -> str | None:
    """The `sessionId` of the file's first lines (a sub-agent's file holds one session)."""
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for _, line in zip(range(20), lines, strict=False):
                try:
                    raw = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(raw, dict) and raw.get("sessionId"):
                    return str(raw["sessionId"])
    except OSError:
        return None
    return None
