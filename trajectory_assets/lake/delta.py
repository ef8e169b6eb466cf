"""Tier B tables as Delta Lake tables (delta-rs): opening a table and its files at a version (a
day's current files among them); `delta_read` reads their rows.

Batch tasks put Parquet files into the table folder under names that carry their attempt key
and the digest of the schema they hold (`part-<attempt>-<batch>-schema<digest>-<unique>.parquet`,
see `schemas`); the files become part of the table only when the driver commits them
(`delta_commit`), replacing exactly the day's partition. Every committed day
holds at least one file (an empty one when the day has no rows), so the attempt behind a day's
current state can be read off its file names: that is how a rerun with unchanged inputs knows
there is nothing to do, and how freshness is judged, without reading the table's history
(`delta_history`).
"""

import datetime as dt
import json
import re
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc

from trajectory_assets.errors import BrokenTableError
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.stats import FileStats
from trajectory_assets.schema import TableSpec

if TYPE_CHECKING:
    from deltalake import DeltaTable, Schema

ATTEMPT_IN_NAME = re.compile(r"^part-([0-9a-f]{16})-")
SCHEMA_IN_NAME = re.compile(r"-schema([0-9a-f]{12})-")  # `schemas.schema_digest` of its writer
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # delta-rs colours the lines of its errors


class DataFileDocument(TypedDict):
    """A `DataFile` as JSON (in batch receipts)."""

    path: str
    size: int
    rows: int
    partition: list[list[str | None]]  # [column, value] pairs
    stats: str | None
    sessions: list[str] | None  # [app_id, first, last session_id]


@dataclass(frozen=True)
class DataFile:
    """One Parquet file of a Delta table. `path` is relative to the table root, not URI-encoded;
    `partition` holds every partition column (`dt` first) as Delta records them."""

    path: str
    size: int
    rows: int
    partition: tuple[tuple[str, str | None], ...]
    stats: str | None = None
    sessions: tuple[str, str, str] | None = None  # (app_id, first, last session_id) of a
    # file holding one app: lets a reader pick the files of a range of sessions from the log

    @property
    def values(self) -> dict[str, str | None]:
        return dict(self.partition)

    @property
    def known_empty(self) -> bool:
        """Its log entry counts no rows (a writer that kept no count may have written any)."""
        return self.rows == 0 and json.loads(self.stats or "{}").get("numRecords") == 0

    @property
    def day(self) -> str:
        return str(self.values["dt"])

    @property
    def attempt(self) -> str | None:
        found = ATTEMPT_IN_NAME.match(self.path.rsplit("/", 1)[-1])
        return found.group(1) if found else None

    @property
    def schema(self) -> str | None:
        """The digest of the schema it was written with (None: a file older than digests)."""
        found = SCHEMA_IN_NAME.search(self.path.rsplit("/", 1)[-1])
        return found.group(1) if found else None

    def to_dict(self) -> DataFileDocument:
        return DataFileDocument(
            path=self.path,
            size=self.size,
            rows=self.rows,
            partition=[list(p) for p in self.partition],
            stats=self.stats,
            sessions=list(self.sessions) if self.sessions else None,
        )

    @staticmethod
    def from_dict(data: DataFileDocument) -> "DataFile":
        sessions = data.get("sessions")
        return DataFile(
            path=data["path"],
            size=int(data["size"]),
            rows=int(data["rows"]),
            partition=tuple((str(k), v) for k, v in data["partition"]),
            stats=data.get("stats"),
            sessions=(str(sessions[0]), str(sessions[1]), str(sessions[2])) if sessions else None,
        )


@dataclass(frozen=True)
class PartitionState:
    """The current files of one day of a table."""

    day: str
    files: tuple[DataFile, ...]

    @property
    def attempt(self) -> str | None:
        """The attempt that committed the day (None when files of several or unknown writers)."""
        attempts = {f.attempt for f in self.files}
        return attempts.pop() if len(attempts) == 1 else None

    @property
    def rows(self) -> int:
        return sum(f.rows for f in self.files)

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)


@dataclass(frozen=True)
class Snapshot:
    """A table's files at one version (`version` is -1 when the table does not exist)."""

    name: str
    version: int
    files: tuple[DataFile, ...]
    types: tuple[tuple[str, str], ...] = ()  # (column, Delta type) of the table's schema
    partitions: tuple[str, ...] = ()  # the table's partition columns, `dt` first

    @cached_property
    def _by_day(self) -> dict[str, list[DataFile]]:
        """The files of each day, sorted by path: one pass over a table's files, which a lake
        a year old asks of each day and operator (scanning them each time grew with the
        square of its days)."""
        by_day: dict[str, list[DataFile]] = {}
        for f in sorted(self.files, key=lambda f: f.path):
            by_day.setdefault(f.day, []).append(f)
        return by_day

    def days(self) -> list[str]:
        return sorted(self._by_day)

    def day_files(self, day: str) -> list[DataFile]:
        return list(self._by_day.get(day, ()))

    def state(self, day: str) -> PartitionState | None:
        files = self.day_files(day)
        return PartitionState(day, tuple(files)) if files else None


def load_deltalake() -> Any:
    """The deltalake module, imported on first use."""
    try:
        import deltalake
    except ImportError as exc:  # pragma: no cover - deltalake is a core dependency
        raise ImportError("Tier B tables need deltalake: pip install deltalake==1.6.6") from exc
    return deltalake


def open_table(lake: Lake, name: str, version: int | None = None) -> "DeltaTable | None":
    """The Delta table `name` (at `version`), or None when it was never committed."""
    deltalake = load_deltalake()
    uri, options = lake.display(name), lake.delta_options()
    if not deltalake.DeltaTable.is_deltatable(uri, storage_options=options):
        return None
    retries = 0
    while True:
        try:
            table: DeltaTable = deltalake.DeltaTable(uri, version=version, storage_options=options)
            return table
        except deltalake.exceptions.DeltaError as exc:
            if version is not None:  # callers tell a version the log no longer holds
                raise
            said = ANSI.sub("", str(exc)).strip()
            if retries < LOG_RETRIES and LOG_FILE_GONE.search(said):
                time.sleep(0.05 * 2**retries)  # listed, then purged: list the log again
                retries += 1
                continue
            first = (said.splitlines() or [type(exc).__name__])[0]
            raise BrokenTableError(f"table {name} at {uri} cannot be opened: {first}") from exc


LOG_RETRIES = 4
LOG_FILE_GONE = re.compile(r"not found: .*_delta_log/", re.IGNORECASE)
"""A log file the table's listing named, deleted before it was read: `forget` (and vacuum's
log cleanup) rewrite a table's history while readers open it; the next listing is whole."""


def snapshot(lake: Lake, name: str, version: int | None = None) -> Snapshot:
    """The table's files at `version` (default: the latest), loaded from its log; a table's
    current snapshot, asked for again and again, is `snapshots.current`'s."""
    table = open_table(lake, name, version)
    if table is None:
        return Snapshot(name, -1, ())
    return snapshot_of(name, table, tuple(data_files(table)))


def snapshot_of(name: str, table: "DeltaTable", files: tuple[DataFile, ...]) -> Snapshot:
    """A snapshot of `table`'s version holding `files` (in path order), with its schema."""
    types = tuple((f.name, type_name(f.type)) for f in table.schema().fields)
    partitions = tuple(table.metadata().partition_columns)
    by_path = tuple(sorted(files, key=lambda f: f.path))
    return Snapshot(name, table.version(), by_path, types, partitions)


def type_name(kind: Any) -> str:
    """`long` for a Delta primitive type; the whole description of a nested one."""
    name = getattr(kind, "type", None)
    return name if isinstance(name, str) and name not in ("array", "map", "struct") else str(kind)


def files_on_disk(lake: Lake, name: str, day: str) -> set[str]:
    """Paths (relative to the table, as `DataFile.path`) of the files in a table's day folder,
    committed or not, from one listing."""
    fs, folder = lake.fs, lake.path(name, f"dt={day}")
    prefix = lake.path(name) + "/"
    return {p.removeprefix(prefix) for p in fs.find(folder)} if fs.exists(folder) else set()


def data_files(table: "DeltaTable", days: Collection[str] | None = None) -> Iterator[DataFile]:
    """The files of the table's version (of `days` only: filtered in Arrow, since a commit asks
    for a day of a table whose other days hold most of its files)."""
    actions = pa.table(table.get_add_actions(flatten=False))
    if days is not None:
        day = pc.struct_field(actions["partition"], "dt")
        actions = actions.filter(pc.is_in(day, pa.array(sorted(days), pa.string())))
    for row in actions.to_pylist():
        partition = row.get("partition") or {}
        yield DataFile(
            path=unquote(row["path"]),
            size=int(row["size_bytes"]),
            rows=int(row["num_records"] or 0),
            partition=tuple(partition.items()),
            stats=_stats_json(row),
            sessions=_session_range(partition, row.get("min") or {}, row.get("max") or {}),
        )


def _session_range(
    partition: Mapping[str, Any], mins: Mapping[str, Any], maxs: Mapping[str, Any]
) -> tuple[str, str, str] | None:
    app = partition.get("app_id") if "app_id" in partition else mins.get("app_id")
    if "app_id" not in partition and app != maxs.get("app_id"):
        return None  # several apps in one file
    first, last = mins.get("session_id"), maxs.get("session_id")
    if not all(isinstance(v, str) for v in (app, first, last)):
        return None  # none, or ids of a table of one's own that are not text: no text order
    return str(app), str(first), str(last)


def _stats_json(row: Mapping[str, Any]) -> str:
    """The stats of an add action as the log states them, to add the file again (restore)."""

    def text(value: Any) -> Any:
        if isinstance(value, dt.datetime):
            return (
                value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
        if isinstance(value, dt.date):
            return value.isoformat()
        return value

    def clean(values: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: text(v) for k, v in (values or {}).items() if v is not None}

    stats = FileStats(
        numRecords=row["num_records"],
        minValues=clean(row.get("min")),
        maxValues=clean(row.get("max")),
        nullCount=clean(row.get("null_count")),
    )
    return json.dumps(stats)


def delta_schema(spec: TableSpec) -> "Schema":
    schema: Schema = load_deltalake().Schema.from_arrow(spec.schema)
    return schema


def partition_columns(spec: TableSpec) -> list[str]:
    return ["dt", *spec.partition_by]


def data_schema(spec: TableSpec) -> pa.Schema:
    """The columns inside a data file: Delta keeps partition columns in the log only."""
    keep = set(partition_columns(spec))
    return pa.schema([f for f in spec.schema if f.name not in keep])
