"""Import files of one format into the raw lake, file by file, reporting each file's outcome.

A file is parsed whole and its rows checked against SPEC.md's validation before anything of it is
written, so a file either lands or is reported with its reason; the other files go on. Writing
is idempotent (see `writer`), so importing the same file again adds nothing, and re-running an
import that stopped half-way completes it.
"""

import datetime as dt
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from trajectory_assets.ingest.common import (
    UnparseableFileError,
    place_synthetic_times,
    validate_row,
)
from trajectory_assets.ingest.importers import IMPORTERS
from trajectory_assets.ingest.writer import write_rows
from trajectory_assets.lake.fs import Lake, lake_from_env

MAX_REASONS = 3


@dataclass(frozen=True)
class FileResult:
    path: str
    ok: bool
    reason: str = ""
    events: int = 0  # events the file maps to
    sessions: int = 0
    written: int = 0  # events newly written (0 on a repeated import)
    skipped: int = 0  # events already in the lake
    files: tuple[str, ...] = ()  # Parquet files written


@dataclass
class IngestReport:
    format: str
    app_id: str
    files: list[FileResult] = field(default_factory=list)

    @property
    def ok(self) -> list[FileResult]:
        return [f for f in self.files if f.ok]

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if not f.ok]

    @property
    def events_written(self) -> int:
        return sum(f.written for f in self.files)

    @property
    def events_skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def sessions(self) -> int:
        return sum(f.sessions for f in self.files)

    @property
    def days(self) -> list[str]:
        found: set[str] = set()
        for f in self.files:
            for path in f.files:
                found.update(p[3:] for p in path.split("/") if p.startswith("dt="))
        return sorted(found)


def expand_paths(paths: Sequence[str | Path], suffixes: Sequence[str]) -> list[str]:
    """Files as given, and the files of the given folders (recursively) with a known ending."""
    endings = tuple(suffixes) + tuple(f"{s}.gz" for s in suffixes)
    out: list[str] = []
    for path in paths:
        text = str(path)
        if os.path.isdir(text):
            for folder, _dirs, names in sorted(os.walk(text)):
                out.extend(
                    os.path.join(folder, n)
                    for n in sorted(names)
                    if n.endswith(endings) and not n.startswith(".")
                )
        else:
            out.append(text)
    return out


def ingest_files(
    lake: Lake | str,
    fmt: str,
    paths: Sequence[str | Path],
    app_id: str | None = None,
    *,
    synthetic_day: dt.date | None = None,
    progress: Callable[[FileResult], None] | None = None,
) -> IngestReport:
    """Import `paths` (files or folders) of format `fmt` into `lake` under `app_id`.

    `app_id` defaults to the format's name; for `jsonl` it only fills rows that have none.
    Formats without timestamps get times counted from 1970-01-01, or from `synthetic_day`.
    """
    if fmt not in IMPORTERS:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(sorted(IMPORTERS))}")
    importer = IMPORTERS[fmt]
    lake = lake_from_env(lake) if isinstance(lake, str) else lake
    app = app_id or fmt
    report = IngestReport(fmt, app)
    for path in expand_paths(paths, importer.suffixes):
        result = _one(lake, fmt, path, app, synthetic_day)
        report.files.append(result)
        if progress is not None:
            progress(result)
    return report


def _one(lake: Lake, fmt: str, path: str, app_id: str, synthetic_day: dt.date | None) -> FileResult:
    try:
        rows = list(IMPORTERS[fmt].parse(path))
    except UnparseableFileError as exc:
        return FileResult(path, False, str(exc))
    except OSError as exc:
        return FileResult(path, False, f"cannot read: {exc.strerror or exc}")
    except Exception as exc:  # a source shape the importer did not expect: report, go on
        return FileResult(path, False, f"cannot parse: {type(exc).__name__}: {exc}")
    if synthetic_day is not None:
        place_synthetic_times(rows, synthetic_day)
    problems: list[str] = []
    for row in rows:
        if fmt != "jsonl" or not row.get("app_id"):  # a jsonl row's own app_id is kept
            row["app_id"] = app_id
        reasons = validate_row(row)
        if reasons:
            problems.append(f"event {row.get('event_id')}: {'; '.join(reasons)}")
    if problems:
        more = f" (and {len(problems) - MAX_REASONS} more)" if len(problems) > MAX_REASONS else ""
        return FileResult(
            path, False, "invalid events: " + " | ".join(problems[:MAX_REASONS]) + more
        )
    try:
        summary = write_rows(lake, rows)
    except Exception as exc:
        return FileResult(path, False, f"write failed: {type(exc).__name__}: {exc}")
    return FileResult(
        path,
        True,
        events=len(rows),
        sessions=len(summary.sessions),
        written=summary.events_written,
        skipped=summary.events_skipped,
        files=tuple(summary.files),
    )
