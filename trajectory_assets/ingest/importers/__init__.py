"""Importers: one module per source format, each `parse(path) -> Iterable[row]` of raw events.

Rows are dicts keyed by the RAW_EVENTS columns (see `trajectory_assets.ingest.common`); a file
that cannot be read raises `UnparseableFileError` with the reason. A line or record that cannot
be an event is told with a `common.Unimportable` warning and the rest goes on, and lines left
out as no events (a cut last line) with a `common.LeftOut` one: `ingest` collects both. Every
module's docstring says how its format maps onto Tier A events and what it does where the
format is silent.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from trajectory_assets.ingest.common import Row
from trajectory_assets.ingest.importers import (
    claude_code,
    claude_code_files,
    codex,
    inspect,
    jsonl,
    openhands,
    otel,
    swe_agent,
    tau_bench,
)


@dataclass(frozen=True)
class Importer:
    name: str
    parse: Callable[[str | Path], Iterable[Row]]
    suffixes: tuple[str, ...]
    """File endings picked when a folder is given (`.gz` versions of these too)."""
    whole_within: Callable[[str], str] | None = None
    """Where a file's sessions are read whole, whichever of their files it is (the folder it
    returns for the file): Claude Code's (a session's files of a folder are read together),
    not Codex's (a resumed thread's new rollout keeps the thread's id). So an import given
    several files of a session in that folder reads it once, and a user message the lake
    holds that the file no longer gives (user messages are never held back for a later
    import) was read by another release's importer."""


IMPORTERS: dict[str, Importer] = {
    m.FORMAT: Importer(
        m.FORMAT,
        m.parse,
        m.SUFFIXES,
        whole_within=claude_code_files.home if m is claude_code else None,
    )
    for m in (otel, inspect, openhands, swe_agent, tau_bench, jsonl, claude_code, codex)
}

__all__ = ["IMPORTERS", "Importer"]
