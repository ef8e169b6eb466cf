"""Import files into the raw lake, file by file, reporting each file's outcome.

`paths` may name files and folders (searched recursively). With a format, a folder gives its
files with that format's endings, less those of another known format (`skipped`); with `auto`,
every file of a folder is looked at and its format decided from its content (`detect`): a file
that is no log of a known format is `skipped` with the reason (an eval-set's `logs.json`, a
README), a log that cannot be read is `failed` with the reason, the rest are `imported`.

A file is parsed whole and its rows checked against Tier A validation before anything of it is
written. Its invalid lines and events are kept with the reasons under `_rejected/ingest/`
(`lake/quarantine`) and its valid events written; a file without a valid event is `failed`,
naming the first invalid ones; the other files go on. Writing is idempotent (see
`lake/raw_write`), so importing the same file again adds nothing, and re-running an import that
stopped half-way completes it.

Progress: `planned(paths)` is called once with every file that will be looked at, then
`progress(result)` after each; a command line drives a progress bar with them (`console`).
"""

import datetime as dt
import os
import shlex
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import LeftOut, Row, Unimportable, validate_row
from trajectory_assets.ingest.detect import sniff
from trajectory_assets.ingest.importers import IMPORTERS, otel
from trajectory_assets.ingest.importers.otel_files import TraceFiles
from trajectory_assets.ingest.importers.otel_sessions import TraceTurns, sessions_so_far
from trajectory_assets.ingest.times import place_synthetic_times
from trajectory_assets.lake.fs import Lake, lake_from_env
from trajectory_assets.lake.layout import UNTIMED_DAY
from trajectory_assets.lake.quarantine import keep_rejected
from trajectory_assets.lake.raw_write import WriteSummary, storable, write_rows

AUTO = "auto"
MAX_REASONS = 5
REJECTED_SOURCE = "ingest"  # invalid input is kept under <lake>/_rejected/ingest/
Status = Literal["imported", "skipped", "failed"]
Before = tuple[TraceFiles, set[tuple[str, str, str]]]
"""What a file's import takes from the files imported before it: the OTel files imported
together, and the sessions read whole (app, session, the folder they were read whole within)."""


@dataclass(frozen=True)
class FileResult:
    path: str
    status: Status
    reason: str = ""  # why it was skipped or failed
    format: str | None = None
    app_id: str | None = None
    events: int = 0  # events the file maps to
    sessions: frozenset[tuple[str, str]] = frozenset()  # (app_id, session_id) it wrote to
    written: int = 0  # events newly written (0 on a repeated import)
    skipped: int = 0  # events already in the lake
    changed: tuple[str, ...] = ()  # of those, the ones the lake holds with other content
    changed_sessions: frozenset[tuple[str, str]] = frozenset()  # (app_id, session_id) of those
    files: tuple[str, ...] = ()  # Parquet files written
    size: int = 0  # bytes of the source file
    left_out: tuple[str, ...] = ()  # lines of the source that may have held events, left out
    rejected: tuple[str, ...] = ()  # why each invalid line or event was not imported (kept)

    @property
    def ok(self) -> bool:
        return self.status == "imported"


@dataclass
class IngestReport:
    format: str
    app_id: str | None  # None with `auto` and no app id: each file's format is its app
    files: list[FileResult] = field(default_factory=list)

    @property
    def ok(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "imported"]

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def events_written(self) -> int:
        return sum(f.written for f in self.files)

    @property
    def events_skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def rejected(self) -> list[tuple[str, str]]:
        """(source file, reason) of each invalid line or event, kept under `_rejected/ingest/`
        (also of a file whose write failed after they were kept)."""
        return [(f.path, reason) for f in self.files for reason in f.rejected]

    @property
    def changed(self) -> list[tuple[str, str]]:
        """(source file, event line) of each event the lake already held with other content."""
        return [(f.path, line) for f in self.files for line in f.changed]

    @property
    def changed_sessions(self) -> list[tuple[str, str]]:
        """(app_id, session_id) of the sessions holding those events, sorted."""
        return sorted({s for f in self.files for s in f.changed_sessions})

    @property
    def sessions(self) -> int:
        """Distinct sessions: one split over several files counts once."""
        return len(frozenset().union(*(f.sessions for f in self.files)))

    @property
    def apps(self) -> list[str]:
        return apps_of([f for f in self.files if f.ok or f.sessions])

    @property
    def days(self) -> list[str]:
        found: set[str] = set()
        for f in self.files:
            for path in f.files:
                found.update(p[3:] for p in path.split("/") if p.startswith("dt="))
        return sorted(found)

    def materialize_command(self, lake: str) -> str | None:
        """The command that materializes the days this import wrote."""
        return materialize_command(lake, self.days)


def materialize_command(lake: str, days: Sequence[str]) -> str | None:
    """`trajectory-assets materialize` over `days`: the day, the range when they are
    consecutive, else every day with raw data still to materialize (`--missing`). 1970-01-01,
    where untimed formats land without --synthetic-date, is left out; None without days."""
    wanted = sorted(d for d in days if d != UNTIMED_DAY)
    if not wanted:
        return None
    first, last = wanted[0], wanted[-1]
    span = (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1
    if first == last:
        choice = f"--partition {first}"
    elif span == len(wanted):
        choice = f"--from {first} --to {last}"
    else:
        choice = "--missing"
    return f"trajectory-assets materialize --lake {shlex.quote(lake)} {choice}"


def expand_paths(
    paths: Sequence[str | Path], suffixes: Sequence[str] | None
) -> list[tuple[str, bool]]:
    """(path, found in a folder) of the files as given, and of the files of the given folders
    (recursively, hidden folders left out); with `suffixes`, only folder files with those
    endings (or their `.gz`)."""
    endings = None if suffixes is None else (*suffixes, *(f"{s}.gz" for s in suffixes))
    out: list[tuple[str, bool]] = []
    for path in paths:
        text = str(path)
        if not os.path.isdir(text):
            out.append((text, False))
            continue
        for folder, dirs, names in os.walk(text):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(names):
                if endings is None or (name.endswith(endings) and not name.startswith(".")):
                    out.append((os.path.join(folder, name), True))
    return out


def apps_of(files: Sequence[FileResult]) -> list[str]:
    """The apps the files' sessions were written under (a JSONL row names its own), else the
    apps they were imported as."""
    written = {app for f in files for app, _ in f.sessions}
    return sorted(written or {f.app_id for f in files if f.app_id})


def ingest_files(
    lake: Lake | str,
    fmt: str,
    paths: Sequence[str | Path],
    app_id: str | None = None,
    *,
    synthetic_day: dt.date | None = None,
    progress: Callable[[FileResult], None] | None = None,
    planned: Callable[[list[str]], None] | None = None,
) -> IngestReport:
    """Import `paths` (files or folders) of format `fmt`, or of each file's own with `auto`.

    `app_id` defaults to the format's name (each file's, with `auto`), for OTel spans to their
    resource's `service.name` (as `serve` names it); for `jsonl` it only fills rows that have
    none. Formats without timestamps get times counted from 1970-01-01, or from
    `synthetic_day`.
    """
    if fmt != AUTO and fmt not in IMPORTERS:
        known = ", ".join([AUTO, *sorted(IMPORTERS)])
        raise ValueError(f"unknown format {fmt!r}; known: {known}")
    lake = lake_from_env(lake) if isinstance(lake, str) else lake
    report = IngestReport(fmt, app_id or (None if fmt == AUTO else fmt))
    files = expand_paths(paths, None if fmt == AUTO else IMPORTERS[fmt].suffixes)
    if planned is not None:
        planned([path for path, _ in files])
    endings = tuple(f"{e}{gz}" for e in otel.SUFFIXES for gz in ("", ".gz"))
    together = TraceFiles([path for path, _ in files if path.endswith(endings)])
    read: set[tuple[str, str, str]] = set()  # sessions read whole (`Importer.whole_within`)
    for path, in_folder in files:
        result = _file(lake, fmt, path, app_id, synthetic_day, in_folder, (together, read))
        report.files.append(result)
        if progress is not None:
            progress(result)
    return report


def file_size(path: str) -> int:
    """A file's size in bytes, 0 when it cannot be read (its import says why)."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _file(
    lake: Lake,
    fmt: str,
    path: str,
    app_id: str | None,
    synthetic_day: dt.date | None,
    in_folder: bool,
    before: Before,
) -> FileResult:
    """A folder's file of another known format than the one asked for is skipped (a folder of
    Claude Code and Codex transcripts, imported as `claude-code`); a file named on its own is
    read as the format asked for."""
    size = file_size(path)
    if not os.path.isfile(path):
        reason = "no such file" if not os.path.exists(path) else "not a regular file"
        return FileResult(path, "failed", reason, size=size)
    if fmt != AUTO and in_folder:
        other = sniff(path).format
        if other not in (None, fmt):
            return FileResult(path, "skipped", f"a {other} file, not {fmt}", size=size)
    if fmt == AUTO:
        found = sniff(path)
        if found.format is None:
            status: Status = "failed" if found.broken else "skipped"
            return FileResult(path, status, found.reason, size=size)
        fmt = found.format
    result = _import(lake, fmt, path, app_id, synthetic_day, before)
    return replace(result, format=fmt, app_id=app_id or fmt, size=size)


def _import(
    lake: Lake,
    fmt: str,
    path: str,
    given: str | None,
    synthetic_day: dt.date | None,
    before: Before,
) -> FileResult:
    """`given`: the app id asked for, else None (the format's, or what the file's rows say).
    Of an importer giving sessions whole, a session an earlier file of its folder gave is not
    written again (its events were counted "already present" on a first import)."""
    app_id = given or fmt
    together, read = before
    within = IMPORTERS[fmt].whole_within
    home = within(path) if within is not None else None
    try:
        rows, left, bad = _parse(lake, fmt, path, given, together)
    except UnparseableFileError as exc:
        return FileResult(path, "failed", str(exc))
    except OSError as exc:
        return FileResult(path, "failed", f"cannot read: {exc.strerror or exc}")
    except Exception as exc:  # a source shape the importer did not expect: report, go on
        return FileResult(path, "failed", f"cannot parse: {type(exc).__name__}: {exc}")
    if synthetic_day is not None:
        place_synthetic_times(rows, synthetic_day)
    good: list[Row] = []
    for row in rows:
        if not row.get("app_id"):  # a jsonl row's own, an OTel trace's service, is kept
            row["app_id"] = app_id
        if home is not None and (row["app_id"], row.get("session_id"), home) in read:
            continue
        reasons = validate_row(row)
        if reasons:
            bad.append(Unimportable(f"event {row.get('event_id')}: {'; '.join(reasons)}", row))
        else:
            good.append(row)
    good, unfit = storable(good)
    bad += [Unimportable(f"event {row.get('event_id')}: {why}", row) for row, why in unfit]
    if bad and not good:  # a file of another shape, or damaged throughout: it fails
        more = f" (and {len(bad) - MAX_REASONS} more)" if len(bad) > MAX_REASONS else ""
        listed = " | ".join(b.reason for b in bad[:MAX_REASONS])
        return FileResult(path, "failed", f"{len(bad)} invalid line(s) or event(s): {listed}{more}")
    summary = WriteSummary()
    kept: list[Unimportable] = []
    status: Status = "imported"
    reason = ""
    try:
        for app, records in _by_app(path, bad, app_id).items():  # kept before the rest is
            keep_rejected(lake, REJECTED_SOURCE, app, records)  # written: none lost unsaid
        kept = bad
        write_rows(lake, good, summary=summary, whole_of=fmt if home is not None else None)
        if home is not None:
            read.update((app, session, home) for app, session in summary.sessions)
    except Exception as exc:  # what was written before it still counts (a full disk)
        where = "" if lake.is_local else f" to {lake.display()}"  # a bucket gone: which
        status, reason = "failed", f"write failed{where}: {type(exc).__name__}: {exc}"
    return FileResult(
        path,
        status,
        reason,
        events=len(rows),
        sessions=frozenset(summary.sessions),
        written=summary.events_written,
        skipped=summary.events_skipped,
        changed=tuple(summary.changed),
        changed_sessions=frozenset(summary.changed_sessions),
        files=tuple(summary.files),
        left_out=left,
        rejected=tuple(b.reason for b in kept),
    )


def _by_app(
    path: str, bad: Sequence[Unimportable], app_id: str
) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Invalid records by the app they name (a jsonl row's own app_id), else the import's:
    `forget` finds a session's kept records by their app."""
    by_app: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for b in bad:
        own = b.record.get("app_id")
        app = own if isinstance(own, str) and own.strip() else app_id
        by_app.setdefault(app, []).append((f"{path}: {b.reason}", b.record))
    return by_app


def _rows(
    lake: Lake, fmt: str, path: str, given: str | None, together: TraceFiles
) -> Iterable[Row]:
    """An OTel conversation's traces in files imported before go on numbering its turns, and
    a trace's spans in the other files imported `together` are its own."""
    if fmt == otel.FORMAT:
        return otel.parse(path, partial(_lake_turns, lake), app_id=given, together=together)
    return IMPORTERS[fmt].parse(path)


def _lake_turns(lake: Lake, app_id: str) -> TraceTurns:
    return TraceTurns(partial(sessions_so_far, lake, app_id))


def _parse(
    lake: Lake, fmt: str, path: str, given: str | None, together: TraceFiles
) -> tuple[list[Row], tuple[str, ...], list[Unimportable]]:
    """The file's rows, what the importer left out (`common.left_out`), and what it found
    invalid (`common.unimportable`)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", LeftOut)
        warnings.simplefilter("always", Unimportable)
        rows = list(_rows(lake, fmt, path, given, together))
    left, bad = [], []
    for warning in caught:
        if isinstance(warning.message, Unimportable):
            bad.append(warning.message)
        elif issubclass(warning.category, LeftOut):
            left.append(str(warning.message))
        else:  # not ours to swallow
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    return rows, tuple(left), bad
