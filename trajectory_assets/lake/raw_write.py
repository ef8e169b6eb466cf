"""Rows to Tier A files: one Parquet file per session and write, append-only and idempotent.

Layout (Tier A): `<lake>/raw_events/dt=YYYY-MM-DD/app_id=<app>/session_id=<sid>/<file>.parquet`,
`dt` the UTC date of the session's first event.

Idempotency comes from the file name: it is a hash of the event ids inside, so writing the same
events again (a retried flush, a re-imported file) targets the same name, and a name that already
exists is not written again. Importers also drop events whose ids are already in the session's
folder (`drop_existing`), so re-importing a file that grew adds only its new events. A session
already in the lake is written under the `dt` it already has, so a session that arrives in two
files, the second starting earlier, still lives in one daily partition.
"""

import contextlib
import datetime as dt
import hashlib
import posixpath
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trajectory_assets.lake.fs import Lake, parquet_bytes, read_raw_parquet, write_file_atomic
from trajectory_assets.lake.layout import (
    RAW_TABLE,
    is_hidden,
    is_parquet_name,
    parse_hive,
    partition_value,
    spellings,
)
from trajectory_assets.lake.raw_compare import as_stored, differences
from trajectory_assets.schema import RAW_EVENTS, Row

FILE_PREFIX = "ev-"
LOOKBACK_DAYS = 7  # how far back a re-sent or continued session's folder is looked for


@dataclass(frozen=True)
class SessionWrite:
    """What writing one session's events did: the file (None when nothing new), row counts, and
    the events skipped whose stored copy differs (`event <id>: <columns> differ`)."""

    path: str | None
    written: int
    skipped: int
    changed: tuple[str, ...] = ()


@dataclass
class WriteSummary:
    files: list[str] = field(default_factory=list)
    events_written: int = 0
    events_skipped: int = 0
    sessions: set[tuple[str, str]] = field(default_factory=set)
    days: set[str] = field(default_factory=set)
    changed: list[str] = field(default_factory=list)
    changed_sessions: set[tuple[str, str]] = field(default_factory=set)


def rows_to_table(rows: Sequence[Row]) -> pa.Table:
    """Rows in the RAW_EVENTS shape; raises pa.ArrowInvalid/TypeError on a value of a wrong type."""
    return pa.Table.from_pylist(list(rows), schema=RAW_EVENTS)


UNSTORABLE = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError)


def column_array(values: list[Any], kind: pa.DataType) -> pa.Array:
    """`pa.array`, refusing a fraction for a whole-number column (pa.ArrowInvalid): Arrow
    keeps 1007 of 1007.6 tokens without a word, from a float, numpy's float32 or a Decimal."""
    if pa.types.is_integer(kind):
        inferred = pa.array(values)
        if pa.types.is_floating(inferred.type) or pa.types.is_decimal(inferred.type):
            return inferred.cast(kind)  # a safe cast: a fraction raises
    return pa.array(values, kind)


def storable(rows: list[Row]) -> tuple[list[Row], list[tuple[Row, str]]]:
    """The rows whose values their columns can hold, and (row, why) for the others: one value
    out of its column's range (a turn_index past int32) failed the write of a whole file,
    after some of its sessions were written. One conversion when every row is fine."""
    try:
        rows_to_table(rows)
        return rows, []
    except UNSTORABLE:
        pass
    good: list[Row] = []
    bad: list[tuple[Row, str]] = []
    for row in rows:
        why = unstorable(row)
        if why is None:
            good.append(row)
        else:
            bad.append((row, why))
    return good, bad


def unstorable(row: Row) -> str | None:
    """Which value of the row its column cannot hold, and why; None when every one fits."""
    for column in RAW_EVENTS:
        value = row.get(column.name)
        try:
            column_array([value], column.type)
        except UnicodeEncodeError:
            return f"{column.name} holds a lone surrogate (half of a UTF-16 pair), no Unicode text"
        except UNSTORABLE:
            return f"{column.name} {value!r:.40} does not fit its column ({column.type})"
    return None


def day_of(ts: dt.datetime) -> str:
    return ts.astimezone(dt.UTC).date().isoformat()


def file_name(event_ids: Iterable[str]) -> str:
    """Same set of events, same name: the key to retried and repeated writes adding nothing."""
    digest = hashlib.sha1("\n".join(sorted(event_ids)).encode()).hexdigest()[:24]
    return f"{FILE_PREFIX}{digest}.parquet"


def session_dir(lake: Lake, day: str, app_id: str, session_id: str) -> str:
    return lake.path(
        RAW_TABLE,
        f"dt={day}",
        f"app_id={partition_value(app_id)}",
        f"session_id={partition_value(session_id)}",
    )


def session_folders(lake: Lake, day: str, app_id: str, session_id: str) -> list[str]:
    """The session's folders on the day, `session_dir` first: its keys spelled as this writer
    spells them, or as another writer did (Spark leaves a space or an `é` as it is, JavaScript's
    encodeURIComponent a `'`: `layout.spellings`). The runs read every spelling as the session,
    so an event re-sent to a folder spelled otherwise was written again, a second copy, and a
    changed one replaced the lake's copy in the tables. A few existence checks, no listing: one
    for ids every writer spells alike."""
    day_folder = lake.path(RAW_TABLE, f"dt={day}")
    apps = [posixpath.join(day_folder, f"app_id={spelled}") for spelled in spellings(app_id)]
    if len(apps) > 1:  # the app's spellings found first: fewer checks of the session's
        apps = [folder for folder in apps if lake.fs.exists(folder)]
    return [
        found
        for app in apps
        for spelled in spellings(session_id)
        if lake.fs.exists(found := posixpath.join(app, f"session_id={spelled}"))
    ]


def _app_folders(lake: Lake, day_folder: str, app_id: str) -> list[str]:
    """The day's folders of the app, as any writer of `layout.spellings` spells it."""
    candidates = (posixpath.join(day_folder, f"app_id={spelled}") for spelled in spellings(app_id))
    return [folder for folder in candidates if lake.fs.exists(folder)]


def _sorted(table: pa.Table) -> pa.Table:
    order = [("ts", "ascending"), ("seq", "ascending"), ("event_id", "ascending")]
    return table.sort_by(order) if table.num_rows > 1 else table


def already_stored(
    lake: Lake, folders: Sequence[str], table: pa.Table, *, whole_of: str | None = None
) -> tuple[set[str], list[str]]:
    """Ids of the given events a session's folders hold, and a line for each of them held with
    other content. An event id is the idempotency key, so the stored copy stays, but a changed
    copy is named: a re-import after the source or the importer changed would otherwise be
    counted as "already present" and lost without a word. Compared with the stored copy the
    tables use: the first in event order (SPEC.md), should the folder hold an id twice.
    `whole_of`: the format of an importer reading its sessions whole, every user message of
    their agents (`ingest.importers.Importer.whole_within`): one of its user messages of those
    agents the folders hold beyond `table` was read by another release's importer (a compaction's
    summary taken for a prompt), and is named too. Other writers' events, other agents' and
    other kinds (a call an importer holds back while its transcript is live) are not. Its
    events before the session's first stored one are held: a transcript gains none there, they
    are a resumed session's copies the first import left to the original (since pruned), and
    no difference is named then (the file's turns and start count them)."""
    if not folders:
        return set(), []
    wanted = set(table["event_id"].to_pylist())
    ends = table.filter(pc.equal(table["event_type"], "session_end")).to_pylist()
    copies: list[tuple[tuple[object, ...], dict[str, object]]] = []
    held_ends: set[tuple[object, object]] = set()
    paths = [p for folder in folders for p in session_files(lake, folder)]
    beyond: set[str] = set()
    starts: list[pa.Scalar] = []  # each file's session start (null: it holds none)
    agents = set(table["agent_id"].to_pylist())
    # each file fetched once, some at once (three reads made 500 sessions take 57 s on S3)
    fetched = (s for at in range(0, len(paths), 32) for s in lake.sources(paths[at : at + 32]))
    for index, source in enumerate(fetched):
        if isinstance(source, BaseException):
            raise source
        where = pa.py_buffer(source) if isinstance(source, bytes) else source
        read = ["event_id", "event_type", "agent_id", "ts"] if whole_of else ["event_id"]
        held = pq.read_table(where, columns=read)
        ids = held["event_id"]
        overlap = sorted(wanted.intersection(ids.to_pylist()))
        if whole_of:
            starts.append(pc.min(held.filter(pc.equal(held["event_type"], "session_start"))["ts"]))
            beyond |= {
                row["event_id"]
                for row in held.filter(pc.equal(held["event_type"], "user_message")).to_pylist()
                if str(row["event_id"]).startswith(f"{whole_of}-")
                and row["agent_id"] in agents
                and row["event_id"] not in wanted
            }
        if overlap:
            stored = read_raw_parquet(where, filters=[("event_id", "in", overlap)])
            copies += [((*_event_order(r), index, i), r) for i, r in enumerate(stored.to_pylist())]
        if ends:
            held_ends |= _ends(where)
    first: dict[str, dict[str, object]] = {}
    for _, row in sorted(copies, key=lambda copy: copy[0]):
        first.setdefault(str(row["event_id"]), row)
    renamed = {
        str(end["event_id"])
        for end in ends
        if end["event_id"] not in first and (as_stored(end["ts"]), end["payload"]) in held_ends
    }
    differ = differences(first, _first_by_id(table, set(first))) if first else []
    differ += [
        f"event {e}: a user message held, no longer read from the source" for e in sorted(beyond)
    ]
    copied = _before(table, starts)  # the file's view, counting them, differs throughout
    return set(first) | renamed | copied, [] if copied else differ


def _before(table: pa.Table, starts: list[pa.Scalar]) -> set[str]:
    """`table`'s events before the earliest stored session start (a sub-agent's file read alone
    gave none: its conversation's events come after)."""
    if not (known := [s.as_py() for s in starts if s.is_valid]):
        return set()
    utc = pa.timestamp("us", tz="UTC")
    early = table.filter(pc.less(table["ts"].cast(utc), pa.scalar(min(known), utc)))
    return set(early["event_id"].to_pylist())


def session_files(lake: Lake, folder: str) -> list[str]:
    """The data files of a session's folder, in name order."""
    return [
        p
        for p in sorted(lake.fs.ls(folder, detail=False))
        if is_parquet_name(p) and not is_hidden(posixpath.basename(p))
    ]


def session_rows(
    lake: Lake, day: str, app_id: str, session_id: str, columns: Sequence[str]
) -> list[dict[str, Any]]:
    """`columns` of a session's stored events, file by file in name order: what a producer
    continuing the session reads of it (the turn it reached)."""
    folders = session_folders(lake, day, app_id, session_id)
    files = sorted((p for f in folders for p in session_files(lake, f)), key=posixpath.basename)
    return [
        row
        for path in files
        for row in read_raw_parquet(
            path,
            columns=list(columns),
            filesystem=lake.arrow_fs,
        ).to_pylist()
    ]


def _ends(where: str | pa.Buffer) -> set[tuple[object, object]]:
    """(time, payload) of the session ends a file holds: an end given under another id but
    equal to one of them is that end, as an earlier version of an importer named it (the
    transcript importers once keyed a session's end by the session alone; imported again
    under the new id, every session would have ended twice)."""
    stored = read_raw_parquet(
        where, columns=["ts", "payload"], filters=[("event_type", "=", "session_end")]
    )
    return {(as_stored(r["ts"]), r["payload"]) for r in stored.to_pylist()}


def _event_order(row: dict[str, object]) -> tuple[object, ...]:
    """ts, then seq with nulls last: the order the tables keep the first copy of an id by."""
    ts, seq = as_stored(row.get("ts")), row.get("seq")
    return (ts is None, ts or _EPOCH, seq is None, seq or 0)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _first_by_id(table: pa.Table, ids: set[str]) -> dict[str, dict[str, object]]:
    rows: dict[str, dict[str, object]] = {}
    for row in table.filter(pc.is_in(table["event_id"], pa.array(sorted(ids)))).to_pylist():
        rows.setdefault(row["event_id"], row)
    return rows


def write_session(
    lake: Lake,
    day: str,
    app_id: str,
    session_id: str,
    table: pa.Table,
    *,
    drop_existing: bool = False,
    whole_of: str | None = None,
) -> SessionWrite:
    """Write one session's events as one file, unless those events are already there; into its
    folder of another writer's spelling when only that one exists."""
    folders = session_folders(lake, day, app_id, session_id) if drop_existing else []
    folder = folders[0] if folders else session_dir(lake, day, app_id, session_id)
    total = table.num_rows
    changed: list[str] = []
    if drop_existing:
        present, differ = already_stored(lake, folders, table, whole_of=whole_of)
        changed = [f"app {app_id}, session {session_id}, {line}" for line in differ]
        if present:
            table = table.filter(pc.invert(pc.is_in(table["event_id"], pa.array(list(present)))))
    if table.num_rows == 0:
        return SessionWrite(None, 0, total, tuple(changed))
    path = posixpath.join(folder, file_name(table["event_id"].to_pylist()))
    if lake.fs.exists(path):
        return SessionWrite(None, 0, total, tuple(changed))
    write_file_atomic(lake, path, parquet_bytes(_sorted(table)))
    return SessionWrite(path, table.num_rows, total - table.num_rows, tuple(changed))


def known_session_days(
    lake: Lake, app_id: str, session_ids: Iterable[str], days: Collection[str] | None = None
) -> dict[str, str]:
    """The `dt` of each given session that is already in the lake (looked for in `days` only,
    when given), its folders spelled as any writer spells them: one listing per day."""
    wanted = set(session_ids)
    fs = lake.fs
    root = lake.path(RAW_TABLE)
    if not wanted or not fs.exists(root):
        return {}
    found: dict[str, str] = {}
    for entry in sorted(fs.ls(root, detail=False)):
        day_folder = posixpath.basename(entry.rstrip("/"))
        if not day_folder.startswith("dt=") or (days is not None and day_folder[3:] not in days):
            continue
        for folder in _app_folders(lake, posixpath.join(root, day_folder), app_id):
            for child in fs.ls(folder, detail=False):
                session = parse_hive(posixpath.basename(child.rstrip("/"))).get("session_id")
                if session in wanted:
                    found.setdefault(session, day_folder[3:])
    return found


def near_days(day: str, lookback: int = LOOKBACK_DAYS) -> set[str]:
    """Where a session with events on `day` may have its folder: from `lookback` days before
    (it began earlier) to the day after (the events a producer sent first were later ones)."""
    first = dt.date.fromisoformat(day)
    near = set()
    for n in range(-lookback, 2):
        with contextlib.suppress(OverflowError):  # no day before 0001-01-01 nor after 9999-12-31
            near.add((first + dt.timedelta(days=n)).isoformat())
    return near


def write_rows(
    lake: Lake,
    rows: Sequence[Row],
    *,
    summary: WriteSummary | None = None,
    whole_of: str | None = None,
) -> WriteSummary:
    """Group rows by (app, session) and write each session once, under its first event's day,
    leaving out events already in its folder (an import run again adds nothing); into
    `summary` as it goes, so a write that fails midway leaves what was written counted.
    `whole_of`: see `already_stored`."""
    summary = WriteSummary() if summary is None else summary
    by_session: dict[tuple[str, str], list[Row]] = {}
    for row in rows:
        by_session.setdefault((row["app_id"], row["session_id"]), []).append(row)
    by_app: dict[str, list[str]] = {}
    for app_id, session_id in by_session:
        by_app.setdefault(app_id, []).append(session_id)
    known: dict[tuple[str, str], str] = {}
    for app_id, sessions in by_app.items():
        for session_id, day in known_session_days(lake, app_id, sessions).items():
            known[(app_id, session_id)] = day
    for (app_id, session_id), session_rows in sorted(by_session.items()):
        day = known.get((app_id, session_id)) or day_of(min(r["ts"] for r in session_rows))
        result = write_session(
            lake,
            day,
            app_id,
            session_id,
            rows_to_table(session_rows),
            drop_existing=True,
            whole_of=whole_of,
        )
        summary.sessions.add((app_id, session_id))
        summary.days.add(day)
        summary.events_written += result.written
        summary.events_skipped += result.skipped
        summary.changed += result.changed
        if result.changed:
            summary.changed_sessions.add((app_id, session_id))
        if result.path:
            summary.files.append(result.path)
    return summary
