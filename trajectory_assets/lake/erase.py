"""Forgetting sessions, provably: the storage half of `trajectory-assets forget`.

The command deletes the sessions' raw files, has every affected day of every table rebuilt
(through Dagster, like any materialization), and then calls `purge_history` and `leftovers`
here: older table versions, files never committed and the log entries that described them
are removed, whatever the retention horizon, and the lake is searched for anything that still
holds the sessions. What was forgotten is recorded in `<lake>/_forgotten/`: ids and times,
never content.
"""

import datetime as dt
import json
import posixpath
import re
import uuid
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field

from trajectory_assets.lake import delta, delta_history
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake, write_file_atomic
from trajectory_assets.lake.layout import RAW_TABLE, STAGING
from trajectory_assets.lake.quarantine import rejected_files
from trajectory_assets.lake.raw import RawFile, list_days, list_raw_files
from trajectory_assets.lake.reports import REPORTS

FORGOTTEN = "_forgotten"
KEEP_LOG = "interval 30 days"  # Delta's default log retention, restored after a purge
# an id made of these characters is found as a whole word: `s-1` is not named in `s-12`
WORD = re.compile(r"[\w.:@+-]+")


@dataclass(frozen=True)
class Request:
    """Sessions of one app: named ones, or every session that started before a day."""

    app_id: str
    session_ids: tuple[str, ...] = ()
    before: str | None = None

    def covers(self, day: str, session_id: str) -> bool:
        if self.before is not None:
            return day < self.before
        return session_id in self.session_ids


@dataclass
class Record:
    """One forget, as the lake keeps it: what was asked, what was done, what was verified."""

    app_id: str
    session_ids: list[str]
    before: str | None
    requested_at: str
    raw_files_deleted: int = 0
    days: list[str] = field(default_factory=list)
    tables_purged: list[str] = field(default_factory=list)
    rejected_lines_deleted: int = 0
    dagster_runs_deleted: list[str] = field(default_factory=list)
    finished_at: str | None = None
    leftovers: list[str] = field(default_factory=list)
    verified: bool = False


def raw_files(lake: Lake, request: Request) -> list[RawFile]:
    """The raw files of the requested sessions, on every day."""
    found = []
    for day in list_days(lake):
        if request.before is not None and day >= request.before:
            continue
        if request.before is not None:
            found += list_raw_files(lake, dt=day, app_id=request.app_id)
        else:
            for sid in request.session_ids:
                found += list_raw_files(lake, dt=day, app_id=request.app_id, session_id=sid)
    return found


def delete_raw(lake: Lake, files: Sequence[RawFile]) -> None:
    """Delete the files and their session folders; the day folders stay, so a day left without
    sessions is an existing, empty day (its tables are rebuilt empty, not left stale)."""
    fs = lake.fs
    folders = {posixpath.dirname(lake.path(f.path)) for f in files}
    for folder in sorted(folders):
        if fs.exists(folder):
            fs.rm(folder, recursive=True)


def start(lake: Lake, request: Request) -> tuple[str, Record]:
    """Record the forget before anything is deleted, so an interrupted one is visible."""
    now = dt.datetime.now(dt.UTC)
    name = f"{now.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.json"
    record = Record(request.app_id, list(request.session_ids), request.before, now.isoformat())
    path = lake.path(FORGOTTEN, name)
    save(lake, path, record)
    return path, record


def save(lake: Lake, path: str, record: Record) -> None:
    write_file_atomic(lake, path, json.dumps(asdict(record), indent=2).encode())


def purge_history(lake: Lake, catalog: Catalog, days: Sequence[str]) -> list[str]:
    """Remove what older versions and failed runs left behind, in every table: files no longer
    current (vacuum, horizon zero, files never committed included), the log entries that
    described them, and the affected days' batch receipts. Time travel ends here."""
    purged = []
    for name in catalog.list():
        if name == RAW_TABLE:
            continue
        table = delta.open_table(lake, name)
        if table is None:
            continue
        delta_history.vacuum(lake, name, retention_hours=0, full=True)
        table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
        table.create_checkpoint()
        table.cleanup_metadata()
        table.alter.set_table_properties({"delta.logRetentionDuration": KEEP_LOG})
        purged.append(name)
    fs = lake.fs
    for folder in fs.glob(lake.path(STAGING, "*", "dt=*")):
        if posixpath.basename(folder)[3:] in days:
            fs.rm(folder, recursive=True)
    return purged


def leftovers(lake: Lake, catalog: Catalog, request: Request) -> list[str]:
    """Every place the lake still holds the forgotten sessions: raw files, rows of any table,
    files outside the current versions, and their ids in logs or receipts. Empty: forgotten."""
    found = [f"raw file {f.path}" for f in raw_files(lake, request)]
    for name in catalog.list():
        if name == RAW_TABLE:
            continue
        snapshot = delta.snapshot(lake, name)
        if snapshot.version < 0:
            continue
        spec = catalog.get(name)
        current = {lake.path(name, f.path) for f in snapshot.files}
        stray = [
            p
            for p in lake.fs.find(lake.path(name))
            if p.endswith(".parquet") and f"/{delta_history.LOG}/" not in p
        ]
        found += [f"{name}: file {p} is in no current version" for p in stray if p not in current]
        if {"app_id", "session_id"} <= set(spec.schema.names):
            rows = catalog.read(name, app_id=request.app_id, columns=["dt", "session_id"])
            hits = [
                (d, s)
                for d, s in zip(rows["dt"].to_pylist(), rows["session_id"].to_pylist(), strict=True)
                if request.covers(d, s)
            ]
            found += [f"{name}: row of session {s} (dt={d})" for d, s in hits[:20]]
    for sid in request.session_ids:
        found += [f"{path} mentions session {sid}" for path in _mentions(lake, sid)]
    return found


def sessions_named(text: str, session_ids: Collection[str]) -> list[str]:
    """The sessions a text names: ids of word characters as whole words, others anywhere."""
    words = {s for s in session_ids if WORD.fullmatch(s)}
    odd = [s for s in session_ids if s not in words]
    return sorted(words.intersection(WORD.findall(text))) + [s for s in odd if s in text]


def drop_rejected(lake: Lake, session_ids: Collection[str]) -> int:
    """Remove the lines of rejected input that name the sessions (a file left empty goes
    too); how many lines."""
    dropped = 0
    for path in rejected_files(lake):
        lines = lake.fs.cat_file(path).decode().splitlines()
        kept = [line for line in lines if not sessions_named(line, session_ids)]
        dropped += len(lines) - len(kept)
        if not kept:
            lake.fs.rm(path)
        elif len(kept) < len(lines):
            write_file_atomic(lake, path, ("\n".join(kept) + "\n").encode())
    return dropped


def _mentions(lake: Lake, text: str) -> list[str]:
    """Table logs, batch receipts, report pages and rejected input whose text contains `text`
    (file stats carry session ids, a report lists sessions, a rejected span may name one)."""
    fs = lake.fs
    needle = text.encode()
    paths = [
        *fs.glob(lake.path("*", delta_history.LOG, "*")),
        *fs.glob(lake.path(STAGING, "**", "*.json")),
        *fs.glob(lake.path(REPORTS, "**", "*.html")),
        *rejected_files(lake),
    ]
    return [p for p in paths if fs.isfile(p) and needle in fs.cat_file(p)]
