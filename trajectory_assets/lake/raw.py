"""Tier A: listing the raw lake with partition pruning, grouping session folders into batches,
and reading files into the one shape operators expect.

The raw layout already co-locates every session under one folder, so batches of whole sessions
are formed from the listing alone: no shuffle is needed.
"""

import functools
import hashlib
import os
import posixpath
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trajectory_assets.errors import BadRawFileError, BadRawFilesError
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import RAW_TABLE, parse_hive
from trajectory_assets.schema import EVENTS, RAW_EVENTS

if TYPE_CHECKING:
    import duckdb

OnBadFile = Literal["fail", "skip"]
SessionRange = tuple[str, str, str]
"""(app_id, first session_id, last session_id): a run of consecutive sessions of one app."""


@dataclass(frozen=True)
class RawFile:
    """One raw Parquet file. `path` is relative to the lake root, so it is portable."""

    path: str
    size: int
    mtime: float
    dt: str
    app_id: str
    session_id: str


@dataclass(frozen=True)
class SessionGroup:
    """A deterministic batch of whole sessions of one day."""

    batch_id: str
    day: str
    files: tuple[RawFile, ...]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def ranges(self) -> tuple[SessionRange, ...]:
        """The batch's sessions as one range per app: batches take sessions in sorted order,
        so a batch's sessions of an app are consecutive."""
        bounds: dict[str, tuple[str, str]] = {}
        for f in self.files:
            first, last = bounds.get(f.app_id, (f.session_id, f.session_id))
            bounds[f.app_id] = (min(first, f.session_id), max(last, f.session_id))
        return tuple((app, first, last) for app, (first, last) in sorted(bounds.items()))


def day_folders(lake: Lake, table_root: str) -> list[tuple[str, str]]:
    """(day, folder) of every `dt=` folder of a table, in day order."""
    fs = lake.fs
    if not fs.exists(table_root):
        return []
    found = []
    for entry in fs.ls(table_root, detail=False):
        base = posixpath.basename(entry.rstrip("/"))
        if base.startswith("dt="):
            found.append((base[3:], entry))
    return sorted(found)


def list_days(lake: Lake, dt_from: str | None = None, dt_to: str | None = None) -> list[str]:
    return [
        day
        for day, _ in day_folders(lake, lake.path(RAW_TABLE))
        if (dt_from is None or day >= dt_from) and (dt_to is None or day <= dt_to)
    ]


def list_raw_files(
    lake: Lake,
    *,
    dt: str | None = None,
    dt_from: str | None = None,
    dt_to: str | None = None,
    app_id: str | None = None,
    session_id: str | None = None,
) -> list[RawFile]:
    """Raw Parquet files of the matching partitions; only matching folders are listed."""
    fs = lake.fs
    days = [dt] if dt else list_days(lake, dt_from, dt_to)
    root = lake.root
    prefix = root.rstrip("/") + "/"  # listed paths start with it: slicing beats relpath per file
    files: list[RawFile] = []
    for day in days:
        base = lake.path(RAW_TABLE, f"dt={day}")
        if app_id is not None:
            base = posixpath.join(base, f"app_id={app_id}")
            if session_id is not None:
                base = posixpath.join(base, f"session_id={session_id}")
        if not fs.exists(base):
            continue
        for path, info in _find(lake, base):
            relative = (
                path[len(prefix) :] if path.startswith(prefix) else posixpath.relpath(path, root)
            )
            if not _is_data_file(relative):
                continue
            keys = parse_hive(relative)
            if "app_id" not in keys or "session_id" not in keys:
                continue
            if session_id is not None and keys["session_id"] != session_id:
                continue
            files.append(
                RawFile(
                    path=relative,
                    size=int(info.get("size") or 0),
                    mtime=_mtime(info),
                    dt=day,
                    app_id=keys["app_id"],
                    session_id=keys["session_id"],
                )
            )
    return files


def _find(lake: Lake, base: str) -> list[tuple[str, dict[str, Any]]]:
    """(path, info) of every file below `base`, sorted. Local lakes use os.scandir, which is
    many times faster than fsspec's generic walk on tens of thousands of session folders."""
    if not lake.is_local:
        return sorted(lake.fs.find(base, detail=True).items())
    found: list[tuple[str, dict[str, Any]]] = []
    stack = [base]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                elif entry.is_file():
                    stat = entry.stat()
                    found.append((entry.path, {"size": stat.st_size, "mtime": stat.st_mtime}))
    return sorted(found)


def _is_data_file(relative: str) -> bool:
    name = posixpath.basename(relative)
    hidden = any(part.startswith(("_", ".")) for part in relative.split("/"))
    return not hidden and name.endswith(".parquet")


def _mtime(info: dict[str, Any]) -> float:
    """From a file's fsspec info, whose keys and value types differ by filesystem."""
    value = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value)


def group_sessions(files: Sequence[RawFile], batch_bytes: int) -> list[SessionGroup]:
    """Batches of whole sessions, about `batch_bytes` each, never spanning two days or apps.

    Sessions are taken in (day, app, session) order, so the same listing always yields the same
    batches and batch ids, which is what lets a resumed run reuse finished batches.
    """
    by_session: dict[tuple[str, str, str], list[RawFile]] = {}
    for f in files:
        by_session.setdefault((f.dt, f.app_id, f.session_id), []).append(f)
    groups: list[SessionGroup] = []
    current: list[RawFile] = []
    current_day: str | None = None
    current_app: str | None = None
    size = 0
    index = 0

    def flush() -> None:
        nonlocal current, size, index
        if current and current_day is not None:
            groups.append(SessionGroup(f"{current_day}-{index:05d}", current_day, tuple(current)))
            index += 1
        current, size = [], 0

    for (day, app, _sid), session_files in sorted(by_session.items()):
        if day != current_day:
            flush()
            current_day, index = day, 0
        if app != current_app:
            flush()
            current_app = app
        current.extend(sorted(session_files, key=lambda f: f.path))
        size += sum(f.size for f in session_files)
        if size >= batch_bytes:
            flush()
    flush()
    return groups


def fingerprint(files: Iterable[RawFile]) -> str:
    """Identifies a set of input files by name, size and modification time."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.size}\0{f.mtime:.6f}\n".encode())
    return digest.hexdigest()


def read_events(
    lake: Lake,
    files: Sequence[RawFile],
    *,
    on_bad_file: OnBadFile = "fail",
    threads: int = 8,
    columns: Sequence[str] | None = None,
) -> tuple[pa.Table, list[tuple[str, str]]]:
    """Read raw files in parallel into the EVENTS shape; returns (events, skipped files).

    `columns` keeps only those raw columns (plus dt and the provenance columns), so an operator
    that needs a few columns does not pay for decoding the rest, and cannot use them by mistake.

    Each file is conformed on its own: missing optional columns become null, unknown columns are
    dropped, and a column whose type cannot be cast fails the file with its path and column.
    On local disk the common case (every file readable, every column of its canonical type) is
    read by one multi-threaded DuckDB scan instead, which gives the same table much faster; any
    deviation falls back to the file-by-file path, which knows which file is at fault.
    """
    schema = events_schema(columns)
    if lake.is_local and files:
        fast = _scan_local(lake, files, threads, schema)
        if fast is not None:
            return fast, []
    arrow_fs = lake.arrow_fs

    def read_one(f: RawFile) -> pa.Table | BadRawFileError:
        try:
            table = pq.read_table(lake.path(f.path), filesystem=arrow_fs)
            return conform(table, f)
        except BadRawFileError as exc:
            return exc
        except Exception as exc:  # any unreadable file: truncated, not Parquet, permissions
            return BadRawFileError(f.path, f"cannot be read as Parquet ({exc})")

    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(files)))) as pool:
        results = list(pool.map(read_one, files))
    tables: list[pa.Table] = []
    skipped: list[tuple[str, str]] = []
    for result in results:
        if isinstance(result, BadRawFileError):
            skipped.append((result.path, result.reason))
        else:
            tables.append(result)
    if skipped and on_bad_file == "fail":
        raise BadRawFilesError(skipped)
    if not tables:
        return schema.empty_table(), skipped
    return pa.concat_tables(tables).select(schema.names), skipped


def events_schema(columns: Sequence[str] | None = None) -> pa.Schema:
    """EVENTS, or the part of it holding `columns` and the columns every reader gets."""
    if columns is None:
        return EVENTS
    keep = {*columns, "dt", "source_file", "source_row"}
    unknown = keep - set(EVENTS.names)
    if unknown:
        raise ValueError(f"unknown raw columns {sorted(unknown)}")
    return pa.schema([f for f in EVENTS if f.name in keep])


@functools.cache
def _canonical_types() -> dict[str, str]:
    """The DuckDB type of every raw column as a producer writing RAW_EVENTS has it."""
    import duckdb

    relation = duckdb.connect().from_arrow(RAW_EVENTS.empty_table())
    return {c: str(t) for c, t in zip(relation.columns, relation.types, strict=True)}


def _scan_local(
    lake: Lake, files: Sequence[RawFile], threads: int, schema: pa.Schema = EVENTS
) -> pa.Table | None:
    """One DuckDB scan of many small local files, or None when any file needs the careful path.

    First one statement that takes every file to have every raw column (by name; extra columns
    are not read), and checks the types it read: that is one pass over each file. Files that
    lack an optional column are read again with `union_by_name`, which reads every footer before
    scanning; anything else (a missing key, a type that is not the raw schema's) is left to the
    careful path, which names the file at fault.
    """
    import duckdb

    days = {f.dt for f in files}
    if len(days) != 1:
        return None
    con = duckdb.connect(config={"threads": max(1, threads)})
    paths = [lake.path(f.path) for f in files]
    try:
        try:
            return _scan(con, lake, paths, next(iter(days)), schema, union=False)
        except (duckdb.Error, _Incomplete):
            return _scan(con, lake, paths, next(iter(days)), schema, union=True)
    except (duckdb.Error, _NotCanonical):
        return None
    finally:
        con.close()


class _NotCanonical(Exception):
    """A raw column read with a type other than the raw schema's."""


class _Incomplete(Exception):
    """A file without every raw column (the first one: it gives the scan its columns)."""


def _scan(
    con: "duckdb.DuckDBPyConnection",
    lake: Lake,
    paths: list[str],
    day: str,
    schema: pa.Schema,
    *,
    union: bool,
) -> pa.Table:
    canonical = _canonical_types()
    relation = con.read_parquet(
        paths, union_by_name=union, filename=True, file_row_number=True, hive_partitioning=False
    )
    present = dict(zip(relation.columns, map(str, relation.types), strict=True))
    if not union and set(canonical) - set(present):
        raise _Incomplete  # this scan would take the first file's columns for every file's
    if any(present[c] != t for c, t in canonical.items() if c in present):
        raise _NotCanonical
    prefix = len(lake.root) + 2  # SQL substrings are 1-based; drop "<root>/"
    select = []
    for field in schema:
        name = field.name
        if name == "dt":
            select.append(f"'{day}' AS dt")
        elif name == "source_file":
            select.append(f"substr(filename, {prefix}) AS source_file")
        elif name == "source_row":
            select.append("file_row_number AS source_row")
        elif name in present:
            select.append(f'"{name}"')
        elif name in ("app_id", "session_id"):
            raise _NotCanonical  # keys only in the folder names: the careful path fills them
        else:
            select.append(f'NULL::{canonical[name]} AS "{name}"')
    table = relation.select(", ".join(select)).to_arrow_table()
    return table.cast(schema).combine_chunks()


def conform(table: pa.Table, f: RawFile) -> pa.Table:
    """One raw file in the EVENTS shape, with the folder's keys where the file lacks them."""
    n = table.num_rows
    columns: list[pa.Array] = []
    for field in EVENTS:
        name = field.name
        if name == "dt":
            columns.append(pa.array([f.dt] * n, pa.string()))
        elif name == "source_file":
            columns.append(pa.array([f.path] * n, pa.string()))
        elif name == "source_row":
            columns.append(pa.array(range(n), pa.int64()))
        elif name in table.column_names:
            column = table.column(name)
            try:
                columns.append(column.cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise BadRawFileError(
                    f.path, f"column {name!r} has type {column.type}, expected {field.type} ({exc})"
                ) from None
        elif name in ("app_id", "session_id"):
            columns.append(pa.array([getattr(f, name)] * n, pa.string()))
        else:
            columns.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(columns, schema=EVENTS)


def filter_sessions(table: pa.Table, sessions: Sequence[SessionRange]) -> pa.Table:
    """Rows of a session-keyed table that belong to the given ranges of sessions."""
    mask = pa.repeat(pa.scalar(False), table.num_rows)
    for app, first, last in sessions:
        in_range = pc.and_(
            pc.equal(table["app_id"], app),
            pc.and_(
                pc.greater_equal(table["session_id"], first),
                pc.less_equal(table["session_id"], last),
            ),
        )
        mask = pc.or_(mask, pc.fill_null(in_range, False))
    return table.filter(mask)
