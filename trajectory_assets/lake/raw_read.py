"""Reading raw Parquet files into the one shape operators expect (`EVENTS`), whatever the
schema each producer wrote: multi-threaded DuckDB scans (one per file schema) in the common
case, file by file (naming the file at fault) otherwise.
"""

import functools
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from trajectory_assets.errors import BadRawFileError, BadRawFilesError
from trajectory_assets.lake.bad_file_rules import OnBadFile
from trajectory_assets.lake.fs import Lake, read_source
from trajectory_assets.lake.raw import RawFile
from trajectory_assets.lake.raw_conform import conform
from trajectory_assets.schema import EVENTS, RAW_EVENTS

if TYPE_CHECKING:
    import duckdb

KNOWN = frozenset({*RAW_EVENTS.names, "dt"})  # a producer may write the day into its files


def _unknown(name: str) -> bool:
    """A column raw_events lacks, holding what a producer meant to say: not pandas' own
    `__index_level_0__` (a frame written with its index), which every run named."""
    return name not in KNOWN and not (name.startswith("__index_level_") and name.endswith("__"))


@dataclass(frozen=True)
class RawRead:
    """Raw files read: their events, the files left out and the columns that were not read.

    `unknown` names the values a producer wrote in columns raw_events does not have: a
    misspelt column (`input_token`) reads as null where the producer meant a value, so the run
    says which file and column rather than losing them without a word.
    """

    events: pa.Table
    skipped: list[tuple[str, str]]  # (path, reason) of files not read
    unknown: list[tuple[str, str]]  # (path, column) of values in columns raw_events lacks


def read_events(
    lake: Lake,
    files: Sequence[RawFile],
    *,
    on_bad_file: OnBadFile = "fail",
    threads: int = 1,
    columns: Sequence[str] | None = None,
) -> RawRead:
    """Read raw files in parallel into the EVENTS shape.

    `threads` is the cores the caller has to itself: runtimes run one task per core, and more
    decoding threads than cores only fight over them (a day read a third slower on 2 cores).
    On an object store each file is fetched whole, all of a batch's files at once, before any is
    decoded: one request per file instead of the three a Parquet reader makes (size, footer,
    data), and none waiting on another (raw files are small; their latency is the cost).

    `columns` keeps only those raw columns (plus dt and the provenance columns), so an operator
    that needs a few columns does not pay for decoding the rest, and cannot use them by mistake.

    Each file is conformed on its own: missing optional columns become null, unknown columns are
    dropped (and named in `unknown` where they hold values), a value its column cannot hold
    is its row's `unreadable` problem, and a column of a type no value of which can be read
    fails the file with its path and column (`raw_conform`). On local disk the
    common case (every file readable, every column of its canonical type) is read by DuckDB
    scans instead, one per file schema, which give the same table much faster; any deviation
    falls back to the file-by-file path, which knows which file is at fault.
    """
    schema = events_schema(columns)
    if lake.is_local and files:
        fast = _scan_local(lake, files, threads, schema)
        if fast is not None:
            return fast
    sources = lake.sources([lake.path(f.path) for f in files])
    unknown: list[tuple[str, str]] = []

    def read_one(f: RawFile, source: str | bytes | BaseException) -> pa.Table | BadRawFileError:
        """The file's events, or why the file is bad. What is not the file's fault (memory, an
        object store failing to answer, a bug) fails the batch rather than skip a good file."""
        if isinstance(source, BaseException) and not isinstance(
            source, FileNotFoundError | PermissionError
        ):  # the store failed (s3fs's 503 and time-outs are OSErrors), not the file
            raise source
        try:
            table = read_source(source)
        except MemoryError:  # Arrow's too: the batch is too big, not the file bad
            raise
        except FileNotFoundError:  # listed, then deleted: not a corrupt file
            return BadRawFileError(
                f.path, "is gone: deleted after the run listed it (by forget, or by hand)"
            )
        except (OSError, pa.ArrowException, ValueError) as exc:  # truncated, not Parquet, denied
            return BadRawFileError(f.path, f"cannot be read as Parquet ({exc})")
        unknown.extend((f.path, c) for c in _unknown_with_values(table))
        try:
            return conform(table, f)
        except BadRawFileError as exc:
            return exc
        except MemoryError:
            raise
        except (pa.ArrowException, ValueError, TypeError) as exc:  # a shape conform cannot take
            return BadRawFileError(f.path, f"cannot be read as raw events ({exc})")

    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(files)))) as pool:
        results = list(pool.map(read_one, files, sources))
    tables: list[pa.Table] = []
    skipped: list[tuple[str, str]] = []
    for result in results:
        if isinstance(result, BadRawFileError):
            skipped.append((result.path, result.reason))
        else:
            tables.append(result)
    if skipped and on_bad_file == "fail":
        raise BadRawFilesError(skipped)
    events = pa.concat_tables(tables).select(schema.names) if tables else schema.empty_table()
    return RawRead(events, skipped, sorted(unknown))


def _unknown_with_values(table: pa.Table) -> list[str]:
    return [
        name
        for name in table.column_names
        if _unknown(name) and table.column(name).null_count < table.num_rows
    ]


def events_schema(columns: Sequence[str] | None = None) -> pa.Schema:
    """EVENTS, or the part of it holding `columns` and the columns every reader gets."""
    if columns is None:
        return EVENTS
    keep = {*columns, *EVERY_READER}
    unknown = keep - set(EVENTS.names)
    if unknown:
        raise ValueError(f"unknown raw columns {sorted(unknown)}")
    return pa.schema([f for f in EVENTS if f.name in keep])


EVERY_READER = ("dt", "source_file", "source_row", "unreadable")
"""The columns every read has: where each row came from, and what of it could not be read."""


@functools.cache
def _canonical_types() -> dict[str, str]:
    """The DuckDB type of every raw column as a producer writing RAW_EVENTS has it."""
    import duckdb

    relation = duckdb.connect().from_arrow(RAW_EVENTS.empty_table())
    return {c: str(t) for c, t in zip(relation.columns, relation.types, strict=True)}


def _scan_local(
    lake: Lake, files: Sequence[RawFile], threads: int, schema: pa.Schema = EVENTS
) -> RawRead | None:
    """DuckDB scans of many small local files, one per file schema, or None when any file needs
    the careful path.

    A scan of several files takes the first file's types and casts the others' to them without
    a word (1007.6 tokens read as 1008, a struct payload as text, keys a file lacks as nulls), so
    every file's own schema is read first, from its footer: one pass over the footers, which
    DuckDB's metadata cache keeps for the scans. Each schema whose raw columns all have the raw
    schema's types, keys included, is one scan (missing optional columns read as nulls); any
    other schema, or more than `SCHEMAS` of them (a scan each costs more than the careful path
    then), is left to the careful path, which casts file by file and names the file at fault.
    So are paths DuckDB would take for patterns (`*`, `?`, `[`, `{`).
    """
    import duckdb

    days = {f.dt for f in files}
    paths = [lake.path(f.path) for f in files]
    if len(days) != 1 or any(c in p for p in paths for c in "*?[{"):
        return None
    con = duckdb.connect(config={"threads": max(1, threads)})
    tables: list[pa.Table] = []
    unknown: list[tuple[str, str]] = []
    try:
        con.execute("SET parquet_metadata_cache = true")
        groups = _by_schema(con, paths)
        if len(groups) > SCHEMAS:
            return None
        for group in groups:
            read = _scan(con, lake, group, next(iter(days)), schema)
            tables.append(read.events)
            unknown.extend(read.unknown)
    except (duckdb.Error, _NotCanonical):
        return None
    finally:
        con.close()
    return RawRead(pa.concat_tables(tables) if len(tables) > 1 else tables[0], [], sorted(unknown))


def _by_schema(con: "duckdb.DuckDBPyConnection", paths: list[str]) -> list[list[str]]:
    """The paths in groups of one schema each: every column's name and type as DuckDB reads it
    (a struct's or list's type names its fields), whoever wrote the file."""
    rows = con.execute(
        "SELECT file_name, string_agg(name || ':' || duckdb_type, ';' ORDER BY column_id) "
        "FROM parquet_schema(?) WHERE column_id > 0 GROUP BY file_name",  # 0: the root
        [paths],
    ).fetchall()
    groups: dict[str, list[str]] = {}
    for path, signature in rows:
        groups.setdefault(str(signature), []).append(str(path))
    return [sorted(g) for _, g in sorted(groups.items())]


SCHEMAS = 8
"""File schemas of a day beyond which it is read file by file (each schema is a scan)."""


class _NotCanonical(Exception):
    """A raw column read with a type other than the raw schema's, or without a key."""


def _scan(
    con: "duckdb.DuckDBPyConnection", lake: Lake, paths: list[str], day: str, schema: pa.Schema
) -> RawRead:
    """One scan of files of one schema."""
    canonical = _canonical_types()
    relation = con.read_parquet(paths, filename=True, file_row_number=True, hive_partitioning=False)
    present = dict(zip(relation.columns, map(str, relation.types), strict=True))
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
        elif name == "unreadable":  # DuckDB read every value, or the scan failed
            select.append("NULL::VARCHAR AS unreadable")
        elif name in present:
            select.append(f'"{name}"')
        elif name in ("app_id", "session_id"):
            raise _NotCanonical  # keys only in the folder names: the careful path fills them
        else:
            select.append(f'NULL::{canonical[name]} AS "{name}"')
    table = relation.select(", ".join(select)).to_arrow_table()
    extra = [c for c in present if _unknown(c) and c not in ("filename", "file_row_number")]
    unknown = _files_with_values(relation, extra, prefix) if extra else []
    return RawRead(table.cast(schema).combine_chunks(), [], unknown)


def _files_with_values(
    relation: "duckdb.DuckDBPyRelation", columns: list[str], prefix: int
) -> list[tuple[str, str]]:
    """(file, column) for every file with a value in one of `columns`: a second scan, of those
    columns alone, made only when a day's files have columns raw_events does not have."""
    found: set[tuple[str, str]] = set()
    for column in columns:
        quoted = '"' + column.replace('"', '""') + '"'
        sql = f"SELECT DISTINCT substr(filename, {prefix}) FROM raw WHERE {quoted} IS NOT NULL"
        rows = relation.query("raw", sql)
        assert rows is not None  # a SELECT has a result
        found.update((str(path), column) for (path,) in rows.fetchall())
    return sorted(found)
