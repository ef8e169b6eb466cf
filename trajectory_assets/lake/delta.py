"""Tier B tables as Delta Lake tables (delta-rs): a day's current files, one transaction per
table and day, restoring a day, retention.

Batch tasks put Parquet files into the table folder under names that carry their attempt key
(`part-<attempt>-<batch>-<unique>.parquet`); the files become part of the table only when the
driver commits them here, replacing exactly the day's partition. Every committed day holds at
least one file (an empty one when the day has no rows), so the attempt behind a day's current
state can be read off its file names: that is how a rerun with unchanged inputs knows there is
nothing to do, and how freshness is judged, without reading the table's history.
"""

import datetime as dt
import json
import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypedDict
from urllib.parse import unquote

import pyarrow as pa

from trajectory_assets.errors import (
    ConcurrentWriterError,
    MissingDataFileError,
    NoPreviousVersionError,
)
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.stats import FileStats
from trajectory_assets.schema import TableSpec

if TYPE_CHECKING:
    from deltalake import DeltaTable

ATTEMPT_IN_NAME = re.compile(r"^part-([0-9a-f]{16})-")
COMMIT_TRIES = 20
LOG = "_delta_log"


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
    def day(self) -> str:
        return str(self.values["dt"])

    @property
    def attempt(self) -> str | None:
        found = ATTEMPT_IN_NAME.match(self.path.rsplit("/", 1)[-1])
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

    def days(self) -> list[str]:
        return sorted({f.day for f in self.files})

    def day_files(self, day: str) -> list[DataFile]:
        return sorted((f for f in self.files if f.day == day), key=lambda f: f.path)

    def state(self, day: str) -> PartitionState | None:
        files = self.day_files(day)
        return PartitionState(day, tuple(files)) if files else None


@dataclass(frozen=True)
class Commit:
    """One entry of a table's log, as far as this project reads it."""

    version: int
    timestamp: dt.datetime
    operation: str
    metadata: dict[str, str]
    days: frozenset[str]  # days whose files it added or removed


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError as exc:  # pragma: no cover - deltalake is a core dependency
        raise ImportError("Tier B tables need deltalake: pip install deltalake==1.6.6") from exc
    return deltalake


def open_table(lake: Lake, name: str, version: int | None = None) -> "DeltaTable | None":
    """The Delta table `name` (at `version`), or None when it was never committed."""
    deltalake = _deltalake()
    uri, options = lake.display(name), lake.delta_options()
    if not deltalake.DeltaTable.is_deltatable(uri, storage_options=options):
        return None
    table: DeltaTable = deltalake.DeltaTable(uri, version=version, storage_options=options)
    return table


def snapshot(lake: Lake, name: str, version: int | None = None) -> Snapshot:
    table = open_table(lake, name, version)
    if table is None:
        return Snapshot(name, -1, ())
    return Snapshot(name, table.version(), tuple(_data_files(table)))


def _data_files(table: "DeltaTable") -> Iterator[DataFile]:
    actions = pa.table(table.get_add_actions(flatten=False))
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
    if app is None or first is None or last is None:
        return None
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


def delta_schema(spec: TableSpec) -> Any:
    return _deltalake().Schema.from_arrow(spec.schema)


def partition_columns(spec: TableSpec) -> list[str]:
    return ["dt", *spec.partition_by]


def data_schema(spec: TableSpec) -> pa.Schema:
    """The columns inside a data file: Delta keeps partition columns in the log only."""
    keep = set(partition_columns(spec))
    return pa.schema([f for f in spec.schema if f.name not in keep])


def read_files(
    lake: Lake, spec: TableSpec, files: Sequence[DataFile], columns: Sequence[str] | None = None
) -> pa.Table:
    """Rows of the given files with the table's schema (or its `columns`), partition columns
    filled in from the log: what a batch task reads of an upstream table."""
    import pyarrow.parquet as pq

    schema = spec.schema if columns is None else pa.schema([spec.schema.field(c) for c in columns])
    partitions = set(partition_columns(spec))
    inside = [n for n in schema.names if n not in partitions]
    arrow_fs = lake.arrow_fs
    tables = []
    for f in files:
        table = pq.read_table(lake.path(spec.name, f.path), columns=inside, filesystem=arrow_fs)
        values = f.values
        for name in schema.names:
            if name in partitions:
                table = table.append_column(
                    name, pa.array([values.get(name)] * table.num_rows, pa.string())
                )
        tables.append(table.select(schema.names).cast(schema))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def read(
    lake: Lake,
    spec: TableSpec,
    *,
    filter: Any = None,
    columns: Sequence[str] | None = None,
    version: int | None = None,
    as_of: dt.datetime | None = None,
) -> pa.Table:
    """A table's rows at its current version (or `version`, or the version current `as_of`),
    with only the files of matching partitions opened when `filter` names partition columns,
    in key order, so that two reads of the same rows are equal."""
    table = open_table(lake, spec.name, version)
    names = list(columns) if columns is not None else spec.schema.names
    schema = pa.schema([spec.schema.field(c) for c in names])
    if table is None:
        return schema.empty_table()
    if as_of is not None:
        table.load_as_version(as_of)
    rows = table.to_pyarrow_dataset().to_table(columns=names, filter=filter)
    order = [(k, "ascending") for k in ("dt", *spec.keys) if k in names and _sortable(schema, k)]
    if order and rows.num_rows:  # files come in log order: give rows the table's own order
        rows = rows.sort_by(order)
    return rows.select(names).cast(schema)


def _sortable(schema: pa.Schema, name: str) -> bool:
    return not pa.types.is_nested(schema.field(name).type)


def commit_day(
    lake: Lake,
    spec: TableSpec,
    day: str,
    files: Sequence[DataFile],
    metadata: Mapping[str, str],
    *,
    since_version: int | None,
) -> int | None:
    """Make `files` the whole of the table's `day`, in one transaction; returns the new table
    version, or None when they already are (a commit is idempotent).

    `since_version` is the table version this run planned against: a commit since then by
    another writer that touched the same day means two writers computed it at once, and this
    one is refused. Commits of other days only make the transaction retry on the new version.
    """
    deltalake = _deltalake()
    from deltalake.exceptions import CommitFailedError

    missing = _missing(lake, spec.name, day, files)
    if missing:
        raise MissingDataFileError(
            f"{spec.name} dt={day}: {len(missing)} file(s) to commit are gone from the lake "
            f"(first: {missing[0]}); was the table vacuumed during the run? Run it again."
        )
    now = int(time.time() * 1000)
    actions = [
        deltalake.transaction.AddAction(f.path, f.size, f.values, now, True, f.stats) for f in files
    ]
    wanted = {f.path for f in files}
    schema = delta_schema(spec)
    for _ in range(COMMIT_TRIES):
        table = open_table(lake, spec.name)
        commit_id = uuid.uuid4().hex
        if table is None:
            _create(lake, spec)
            continue
        current = {f.path for f in _data_files(table) if f.day == day}
        if current == wanted:
            return None
        if since_version is not None:
            _refuse_other_writers(lake, spec.name, day, since_version, table.version())
        try:
            table.create_write_transaction(
                actions,
                mode="overwrite",
                schema=schema,
                partition_by=partition_columns(spec),
                partition_filters=[("dt", "=", day)],
                commit_properties=_properties(table, day, metadata, commit_id),
            )
        except CommitFailedError:
            continue  # someone committed meanwhile: look again at the new version
        return _version_of(lake, spec.name, commit_id)
    raise ConcurrentWriterError(
        f"{spec.name} dt={day}: gave up after {COMMIT_TRIES} commit conflicts with other writers"
    )


def _create(lake: Lake, spec: TableSpec) -> None:
    """An empty table with the spec's schema and partitioning. Data always goes in by a later
    commit: only those carry the day's application transaction that keeps two writers of one
    day apart (a table's creating commit would not conflict on it)."""
    deltalake = _deltalake()
    from deltalake.exceptions import CommitFailedError
    from deltalake.transaction import create_table_with_add_actions

    try:
        create_table_with_add_actions(
            lake.display(spec.name),
            delta_schema(spec),
            [],
            partition_by=partition_columns(spec),
            storage_options=lake.delta_options(),
        )
    except CommitFailedError:
        pass  # another writer created it at the same moment
    except deltalake.exceptions.DeltaError as exc:
        if "already exists" not in str(exc):
            raise


def _properties(
    table: "DeltaTable | None", day: str, metadata: Mapping[str, str], commit_id: str
) -> Any:
    """Commit metadata, and the day's application transaction: two transactions that set the
    same one concurrently conflict, so two writers of one day can never both commit, even to
    a day that did not exist yet (Delta alone would let both add their files)."""
    from deltalake.transaction import CommitProperties, Transaction

    app_id = f"dt={day}"
    previous = table.transaction_version(app_id) if table is not None else None
    return CommitProperties(
        custom_metadata={**metadata, "dt": day, "commit_id": commit_id},
        app_transactions=[Transaction(app_id, (previous or 0) + 1)],
    )


def _version_of(lake: Lake, name: str, commit_id: str) -> int:
    """The version a commit landed at: delta-rs rebases a transaction over commits that do not
    conflict with it, so it is not always the version the transaction was built on plus one."""
    for commit in commits(lake, name):
        if commit.metadata.get("commit_id") == commit_id:
            return commit.version
    raise RuntimeError(f"{name}: commit {commit_id} is not in the table's log")


def _missing(lake: Lake, name: str, day: str, files: Sequence[DataFile]) -> list[str]:
    """Files not in the lake, from one listing of the day's folder."""
    folder = lake.path(name, f"dt={day}")
    fs = lake.fs
    present = set(fs.find(folder)) if fs.exists(folder) else set()
    prefix = lake.path(name) + "/"
    return [f.path for f in files if prefix + f.path not in present]


def _refuse_other_writers(lake: Lake, name: str, day: str, since: int, latest: int) -> None:
    for commit in commits(lake, name, newest=latest, oldest=since + 1):
        if day in commit.days:
            who = commit.metadata.get("run_id") or commit.metadata.get("attempt") or "unknown"
            raise ConcurrentWriterError(
                f"{name} dt={day} was committed by another writer (run {who}, table version "
                f"{commit.version}) while this run was computing it; this run's result was not "
                "committed. Only one materialization of a table and day may run at a time."
            )


def commits(
    lake: Lake, name: str, *, newest: int | None = None, oldest: int = 0
) -> Iterator[Commit]:
    """The table's commits from `newest` (default: the latest) down to `oldest`, read from the
    log's JSON entries; stops early where old entries were cleaned up."""
    if newest is None:
        table = open_table(lake, name)
        if table is None:
            return
        newest = int(table.version())
    fs = lake.fs
    for version in range(newest, oldest - 1, -1):
        path = lake.path(name, LOG, f"{version:020d}.json")
        try:
            lines = fs.cat_file(path).decode().splitlines()
        except FileNotFoundError:
            return
        yield _parse_commit(version, lines)


_STANDARD_KEYS = {"timestamp", "operation", "operationParameters", "engineInfo", "clientVersion"}


class CommitInfo(TypedDict, total=False):
    """A log entry's `commitInfo`: these keys, then the commit's custom metadata beside them."""

    timestamp: int
    operation: str


class FileAction(TypedDict, total=False):
    """An `add` or `remove` action, as far as this module reads it."""

    path: str
    partitionValues: dict[str, str | None]


class LogAction(TypedDict, total=False):
    """One line of a log entry: one action (other kinds are not read here)."""

    commitInfo: CommitInfo
    add: FileAction
    remove: FileAction


def _parse_commit(version: int, lines: Sequence[str]) -> Commit:
    info: CommitInfo = {}
    days: set[str] = set()
    for line in lines:
        if not line.strip():
            continue
        action: LogAction = json.loads(line)
        if "commitInfo" in action:
            info = action["commitInfo"]
        for file in (action.get("add"), action.get("remove")):
            if file is None:
                continue
            day = (file.get("partitionValues") or {}).get("dt")
            if day is not None:
                days.add(day)
    return Commit(
        version=version,
        timestamp=dt.datetime.fromtimestamp(int(info.get("timestamp", 0)) / 1000, dt.UTC),
        operation=str(info.get("operation", "")),
        metadata={k: str(v) for k, v in info.items() if k not in _STANDARD_KEYS},
        days=frozenset(days),
    )


def previous_state(
    lake: Lake, spec: TableSpec, day: str, *, as_of: int | None = None
) -> tuple[int, list[DataFile]]:
    """The version a restore of the day goes back to (`as_of`, or the one before the day's
    last change) and the day's files then; raises when there is none or it was vacuumed."""
    if as_of is None:
        last = next((c for c in commits(lake, spec.name) if day in c.days), None)
        as_of = last.version - 1 if last is not None else -1
    try:
        target = snapshot(lake, spec.name, as_of).day_files(day) if as_of >= 0 else []
    except _deltalake().exceptions.DeltaError:  # not in the log: a future version, or cleaned up
        latest = snapshot(lake, spec.name).version
        raise NoPreviousVersionError(
            f"{spec.name} has no version {as_of} to restore: the table's log holds versions up "
            f"to {latest}, and versions older than the retention horizon (or before a "
            "`forget`) are cleaned up"
        ) from None
    if not target:
        raise NoPreviousVersionError(f"{spec.name} dt={day} has no previous version")
    gone = _missing(lake, spec.name, day, target)
    if gone:
        raise NoPreviousVersionError(
            f"{spec.name} dt={day} as of version {as_of} was vacuumed ({len(gone)} file(s) gone)"
        )
    return as_of, target


@dataclass(frozen=True)
class Restored:
    table: str
    day: str
    as_of: int  # the table version whose state of the day is current again
    version: int | None  # the version the restore committed (None: nothing to change)
    rows: int


def restore_day(
    lake: Lake,
    spec: TableSpec,
    day: str,
    metadata: Mapping[str, str],
    *,
    as_of: int | None = None,
) -> Restored:
    """Make a day's files what they were at table version `as_of` (default: just before the
    last commit that changed the day), in one commit that touches no other day."""
    deltalake = _deltalake()
    from deltalake.exceptions import CommitFailedError
    from deltalake.transaction import RemoveAction

    table = open_table(lake, spec.name)
    if table is None:
        raise NoPreviousVersionError(f"{spec.name} has never been materialized")
    as_of, target = previous_state(lake, spec, day, as_of=as_of)
    current = snapshot(lake, spec.name).day_files(day)
    keep = {f.path for f in target}
    now = int(time.time() * 1000)
    actions: list[Any] = [
        deltalake.transaction.AddAction(f.path, f.size, f.values, now, True, f.stats)
        for f in target
        if f.path not in {c.path for c in current}
    ]
    actions += [
        RemoveAction(f.path, True, now, f.size, f.values) for f in current if f.path not in keep
    ]
    rows = sum(f.rows for f in target)
    if not actions:
        return Restored(spec.name, day, as_of, None, rows)
    commit_id = uuid.uuid4().hex
    properties = _properties(table, day, {**metadata, "restored_as_of": str(as_of)}, commit_id)
    try:
        table.create_write_transaction(
            actions,
            mode="append",
            schema=table.schema(),
            partition_by=partition_columns(spec),
            commit_properties=properties,
        )
    except CommitFailedError as exc:
        raise ConcurrentWriterError(
            f"{spec.name} dt={day} changed while it was being restored ({exc}); try again"
        ) from None
    version = _version_of(lake, spec.name, commit_id)
    return Restored(spec.name, day, as_of, version, rows)


def vacuum(lake: Lake, name: str, retention_hours: float, *, full: bool = False) -> list[str]:
    """Delete files no version younger than the horizon needs (and, `full`, files never
    committed, e.g. of killed runs); time travel before the horizon ends here."""
    table = open_table(lake, name)
    if table is None:
        return []
    deleted: list[str] = table.vacuum(
        retention_hours=max(0, int(retention_hours)),
        dry_run=False,
        enforce_retention_duration=False,
        full=full,
    )
    return deleted
