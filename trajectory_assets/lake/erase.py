"""Forgetting sessions, provably: the storage half of `trajectory-assets forget`.

The command deletes the sessions' raw files, has every affected day of every table rebuilt
(through Dagster, like any materialization), and then calls `erase_purge.purge_history`, which
removes older table versions, files never committed and the log entries that described them,
whatever the retention horizon, and `leftovers` here, which searches the lake for anything that
still holds the sessions. What was forgotten is recorded in `<lake>/_forgotten/`: ids and times,
never content.
"""

import contextlib
import datetime as dt
import json
import posixpath
import uuid
from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from trajectory_assets.lake import delta_history, delta_read, snapshots
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake, write_file_atomic
from trajectory_assets.lake.layout import RAW_TABLE, REPORTS, STAGING
from trajectory_assets.lake.mentions import Sessions
from trajectory_assets.lake.quarantine import rejected_naming
from trajectory_assets.lake.raw import RawFile, list_days, list_raw_files
from trajectory_assets.lake.wal import entries_naming, set_aside_files

FORGOTTEN = "_forgotten"
UNFINISHED = "unfinished"  # <lake>/_forgotten/unfinished/<record's name>: a forget to finish
SESSION_ROW = ("dt", "session_id")  # what a table's rows tell of the sessions they hold
REJECTED_EVENTS = "rejected_events"  # raw rows the tables left out, with their files


EVERY_DAY = "9999-12-31"  # after every day a lake can hold: `--all-sessions` as `--before`


@dataclass(frozen=True)
class Request:
    """Sessions of one app: named ones, and every session that started before a day (one that
    has raw data, or rows, on an earlier day), on every day it has."""

    app_id: str
    session_ids: tuple[str, ...] = ()
    before: str | None = None

    @property
    def whole_app(self) -> bool:
        """`--all-sessions`: the app's rejected input goes whole, sessions named or not (a
        span without the conversation's id names none)."""
        return self.before == EVERY_DAY

    def sessions(self, found: Collection[str] = ()) -> Sessions:
        """The named sessions and `found` ones, to search text with."""
        return Sessions(self.app_id, frozenset({*self.session_ids, *found}))


@dataclass
class Record:
    """One forget, as the lake keeps it: what was asked, what was done, what was verified."""

    app_id: str
    session_ids: list[str]
    before: str | None
    requested_at: str
    sessions: list[str] = field(default_factory=list)  # those found: a --before's, by name
    raw_files_deleted: int = 0
    raw_rows_deleted: int = 0  # rows of the sessions in other sessions' raw files
    days: list[str] = field(default_factory=list)
    tables_purged: list[str] = field(default_factory=list)
    rejected_lines_deleted: int = 0
    dagster_runs_deleted: list[str] = field(default_factory=list)
    finished_at: str | None = None
    leftovers: list[str] = field(default_factory=list)
    verified: bool = False


def raw_files(lake: Lake, request: Request) -> list[RawFile]:
    """The raw files of the requested sessions, on every day: a session that started before
    `before` and ran past midnight has files on later days too."""
    days = list_days(lake)
    if request.before is None:
        return [
            f
            for day in days
            for f in list_raw_files(
                lake, dt=day, app_id=request.app_id, session_ids=request.session_ids
            )
        ]
    listed = {day: list_raw_files(lake, dt=day, app_id=request.app_id) for day in days}
    started = {
        f.session_id
        for day in days
        if day < request.before
        for f in listed[day]
        if f.session_id or request.whole_app  # "": a folder of a null session, of no session
    }
    wanted = started | set(request.session_ids)
    return [f for day in days for f in listed[day] if f.session_id in wanted]


def misfiled_files(catalog: Catalog, request: Request, skip: Collection[str] = ()) -> list[str]:
    """Raw files of other sessions or apps that hold rows of the requested sessions (a
    producer's mistake; `rejected_events` keeps such rows with their file and their own ids),
    but not the files of `skip`."""
    if REJECTED_EVENTS not in catalog.list():
        return []
    rows = catalog.read(REJECTED_EVENTS, columns=("source_file", "row")).to_pylist()
    found = set()
    for row in rows:
        with contextlib.suppress(json.JSONDecodeError, TypeError, AttributeError):
            own = json.loads(row["row"])
            if own.get("app_id") == request.app_id and own.get("session_id") in request.session_ids:
                found.add(str(row["source_file"]))
    return sorted(found - set(skip))


def held_in_tables(catalog: Catalog, request: Request) -> dict[str, set[str]]:
    """The requested sessions some table still holds, with their days, found in the tables
    keyed by session: what a forget must still rebuild when the raw files are already gone (an
    earlier forget whose rebuild failed, or files deleted by hand)."""
    held: dict[str, set[str]] = {}
    for name in catalog.list():
        for day, session in _rows_of(catalog, name, request):
            held.setdefault(session, set()).add(day)
    return held


def held_elsewhere(lake: Lake, catalog: Catalog, request: Request) -> dict[str, list[str]]:
    """The requested sessions held by Delta tables of the lake that no loaded operator writes
    (those of a code location the command was not given), by table: forget cannot rebuild
    them, so it must not start."""
    held = {}
    for name in unloaded_tables(lake, catalog):
        sessions = sorted({session for _, session in _unloaded_rows_of(lake, name, request)})
        if sessions:
            held[name] = sessions
    return held


def unloaded_days(lake: Lake, catalog: Catalog, days: Collection[str]) -> dict[str, list[str]]:
    """Of `days`, those each Delta table that no loaded operator writes has rows on: a table
    without session ids (an aggregate of the day's sessions, say) is not `held_elsewhere`, yet
    may still count the forgotten sessions until it is computed again."""
    wanted = set(days)
    held = {
        name: sorted(wanted & set(snapshots.current(lake, name).days()))
        for name in unloaded_tables(lake, catalog)
    }
    return {name: on for name, on in held.items() if on}


def unloaded_tables(lake: Lake, catalog: Catalog) -> list[str]:
    """Delta tables at the lake's root that the catalog does not know."""
    known = set(catalog.list())
    names = [posixpath.basename(p.rstrip("/")) for p in lake.fs.ls(lake.root, detail=False)]
    return sorted(
        n
        for n in names
        if n not in known
        and not n.startswith(("_", "."))
        and lake.fs.exists(lake.path(n, delta_history.LOG))
    )


def _rows_of(catalog: Catalog, name: str, request: Request) -> list[tuple[str, str]]:
    """(day, session) of the table's rows of the requested sessions; none for raw_events and
    for tables not keyed by session."""
    if name == RAW_TABLE or not {"app_id", "session_id"} <= set(catalog.get(name).schema.names):
        return []
    rows = catalog.session_rows(
        name, request.app_id, request.session_ids, SESSION_ROW, before=request.before
    )
    return _sessions_in(rows, request)


def _unloaded_rows_of(lake: Lake, name: str, request: Request) -> list[tuple[str, str]]:
    """`_rows_of` for a table known only by its Delta log (any table with the columns)."""
    data = delta_read.dataset(lake, name)
    if data is None or not {"app_id", *SESSION_ROW} <= set(data.schema.names):
        return []
    rows = data.to_table(columns=list(SESSION_ROW), filter=ds.field("app_id") == request.app_id)
    return _sessions_in(rows, request)


def _sessions_in(rows: pa.Table, request: Request) -> list[tuple[str, str]]:
    """(day, session) of the rows of the requested sessions; a row of a null or empty session
    id (a rejected row, kept in raw_compacted) is of none."""
    pairs = [
        (str(day), str(session))
        for day, session in zip(rows["dt"].to_pylist(), rows["session_id"].to_pylist(), strict=True)
        if session
    ]
    wanted = set(request.session_ids)
    if request.before is not None:
        wanted |= {session for day, session in pairs if day < request.before}
    return [(day, session) for day, session in pairs if session in wanted]


def start(lake: Lake, request: Request) -> tuple[str, Record]:
    """Record the forget before anything is deleted, so an interrupted one is visible."""
    now = dt.datetime.now(dt.UTC)
    # microseconds: records are ordered by name, and two of one second were in random order
    name = f"{now.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}.json"
    record = Record(request.app_id, list(request.session_ids), request.before, now.isoformat())
    path = lake.path(FORGOTTEN, name)
    save(lake, path, record)
    return path, record


def last_record(lake: Lake, request: Request) -> tuple[str, Record] | None:
    """The latest record of the same request: one not verified is finished by running the
    forget again, though the sessions may be in no raw file and, once rebuilt, no table; one
    verified makes a request sent again a success, not an error."""
    asked = (request.app_id, sorted(request.session_ids), request.before)
    for path, record in _records(lake):
        if (record.app_id, sorted(record.session_ids), record.before) == asked:
            return path, record
    return None


def verified_records(lake: Lake, request: Request) -> list[str]:
    """The verified forgets that took every session of the request, newest first: the same
    request sent again, in another order or in part, is done (a `--before` request: only the
    same one). Empty when some session was never forgotten, or the latest forget of one is
    unfinished (`unfinished_record`)."""
    if request.before is not None or not request.session_ids:
        last = last_record(lake, request)
        return [last[0]] if last is not None and last[1].verified else []
    wanted, found = set(request.session_ids), []
    for path, record, took in _forgets_naming(lake, request):
        if not record.verified:
            return []
        found.append(path)
        wanted -= took
    return found if not wanted else []


def unfinished_record(lake: Lake, request: Request) -> str | None:
    """The latest forget of one of the request's sessions, when it is unfinished."""
    for path, record, _ in _forgets_naming(lake, request):
        if not record.verified:
            return path
    return None


def _forgets_naming(lake: Lake, request: Request) -> Iterator[tuple[str, Record, set[str]]]:
    """The app's forgets, newest first, each with the sessions of the request it took first."""
    wanted = set(request.session_ids)
    for path, record in _records(lake):
        took = wanted & {*record.session_ids, *record.sessions}
        if record.app_id == request.app_id and took:
            yield path, record, took
            wanted -= took


def _records(lake: Lake) -> list[tuple[str, Record]]:
    """The lake's forget records, newest first (one of another version is left out)."""
    paths = sorted(lake.fs.glob(lake.path(FORGOTTEN, "*.json")), reverse=True)
    return [(path, record) for path in paths if (record := _record(lake, path)) is not None]


def _record(lake: Lake, path: str) -> Record | None:
    """A forget's record; None for one of another version, or gone."""
    known = {f.name for f in fields(Record)}
    try:
        doc = json.loads(lake.fs.cat_file(path))
        return Record(**{k: v for k, v in doc.items() if k in known})
    except (FileNotFoundError, ValueError, TypeError):
        return None


def save(lake: Lake, path: str, record: Record) -> None:
    """The record, and the mark of an unfinished forget until it is verified: a forget killed
    (SIGKILL, out of memory) left nothing saying so, and the sessions in older table versions
    and in the Dagster instance, while `materialize` went on as if they were forgotten."""
    mark = lake.path(FORGOTTEN, UNFINISHED, posixpath.basename(path))
    marked = lake.fs.exists(mark)
    if not record.verified and not marked:  # first: killed between the two, still named
        write_file_atomic(lake, mark, b"")
    write_file_atomic(lake, path, json.dumps(asdict(record), indent=2).encode())
    if record.verified and marked:
        lake.fs.rm(mark)


def unfinished(lake: Lake) -> list[tuple[str, Record]]:
    """The forgets begun and not verified (their records' paths), oldest first: cheap where
    thousands are finished (one listing). The mark of one whose sessions later forgets took and
    verified (asked again in parts) is removed."""
    found = []
    for mark in sorted(lake.fs.glob(lake.path(FORGOTTEN, UNFINISHED, "*.json"))):
        path = lake.path(FORGOTTEN, posixpath.basename(mark))
        record = _record(lake, path)
        if record is None:
            continue
        if verified_records(lake, Request(record.app_id, tuple(record.session_ids), record.before)):
            lake.fs.rm(mark)
            continue
        found.append((path, record))
    return found


def leftovers(
    lake: Lake, catalog: Catalog, request: Request, session_ids: Collection[str] = ()
) -> list[str]:
    """Every place the lake still holds the forgotten sessions: raw files, rows of any table,
    files outside the current versions, and their ids (the request's, and `session_ids`: those
    a `--before` request found) in logs, receipts, reports or rejected input. Empty:
    forgotten."""
    named = (*request.session_ids, *session_ids)
    request = Request(request.app_id, tuple(sorted(set(named))), request.before)
    found = [f"raw file {f.path}" for f in raw_files(lake, request)]
    for name in catalog.list():
        if name == RAW_TABLE:
            continue
        snapshot = snapshots.current(lake, name)
        if snapshot.version < 0:
            continue
        current = {lake.path(name, f.path) for f in snapshot.files}
        stray = [
            p
            for p in lake.fs.find(lake.path(name))
            if p.endswith(".parquet") and f"/{delta_history.LOG}/" not in p
        ]
        found += [
            f"{name}: file {lake.display_path(p)} is in no current version"
            for p in stray
            if p not in current
        ]
        found += _rows_found(name, _rows_of(catalog, name, request))
    misfiled = misfiled_files(catalog, request)
    found += [f"raw file {path} holds rows of a forgotten session" for path in misfiled]
    for name in unloaded_tables(lake, catalog):
        hits = _unloaded_rows_of(lake, name, request)
        found += _rows_found(f"{name} (no loaded operator writes it)", hits)
    sessions = request.sessions()
    for path, ids in _mentions(lake, sessions).items():
        found += [f"{lake.display_path(path)} mentions session {sid}" for sid in ids]
    for path, ids in rejected_naming(lake, sessions, whole_app=request.whole_app).items():
        shown = lake.display_path(path)
        found += [f"{shown} holds rejected input of session {sid}" for sid in ids]
    for path, ids in entries_naming(lake, sessions, whole_app=request.whole_app).items():
        shown = lake.display_path(path)
        found += [f"{shown} holds spans `serve` took of session {sid}" for sid in ids]
    for path in set_aside_files(lake):
        shown = lake.display_path(path)
        found.append(f"{shown}, an entry `serve` could not read, may hold spans of them")
    return found


def _rows_found(table: str, hits: Sequence[tuple[str, str]]) -> list[str]:
    """One line per session and day (a session has a row per event in some tables), the first
    twenty, then how many more."""
    counts = Counter(hits)
    lines = [f"{table}: {n} row(s) of session {s} (dt={d})" for (d, s), n in counts.items()]
    more = [f"{table}: and {len(lines) - 20} more session day(s)"] if len(lines) > 20 else []
    return lines[:20] + more


def _mentions(lake: Lake, sessions: Sessions) -> dict[str, list[str]]:
    """Table logs, batch receipts and report pages that name the sessions (file stats carry
    session ids, a report lists sessions), and which."""
    if not sessions.ids:
        return {}
    fs = lake.fs
    paths = [
        *fs.glob(lake.path("*", delta_history.LOG, "*")),
        *fs.glob(lake.path(STAGING, "**", "*.json")),
        *fs.glob(lake.path(REPORTS, "**", "*.html")),
    ]
    found = {}
    for path in paths:
        if fs.isfile(path):
            named = sorted(_named_in_file(lake, path, sessions))
            if named:
                found[path] = named
    return found


def _named_in_file(lake: Lake, path: str, sessions: Sessions) -> set[str]:
    """By the file's kind: a Delta log's entries, a batch receipt or commit intent (their data
    files' stats and partitions, raw paths), a page's tables; other files of a log by raw paths
    (`_last_checkpoint` says where the checkpoint is), any other file by words."""
    name = posixpath.basename(path)
    in_log = posixpath.basename(posixpath.dirname(path)) == delta_history.LOG
    if in_log and ".checkpoint." in name and name.endswith(".parquet"):  # one part or several
        with lake.fs.open(path, "rb") as f:
            return sessions.in_document(pq.read_table(f).to_pylist())
    text = lake.fs.cat_file(path).decode("utf-8", errors="replace")
    if name.endswith(".json"):
        lines = text.splitlines() if in_log else [text]
        return sessions.in_document([json.loads(line) for line in lines if line.strip()])
    if in_log:
        return sessions.in_paths(text)
    return sessions.in_html(text) if name.endswith(".html") else sessions.in_words(text)
