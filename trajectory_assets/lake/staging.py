"""Attempts and batch receipts: what lets a materialization resume after a crash.

An attempt is one try at a day of an operator's outputs, keyed by everything its result depends
on. Each batch writes its data files straight into the tables' folders (outside any version
until the driver commits them) and then a receipt naming them:

    <lake>/_staging/<operator>/dt=<day>/<attempt>/_batches/<batch>.json   a finished batch
    <lake>/_staging/<operator>/dt=<day>/<attempt>/_partials/...           two-phase partials
    <lake>/_staging/<operator>/dt=<day>/<attempt>/_commit.json            every batch finished

A receipt is written after its files, so it proves the batch finished; a resumed attempt skips
those batches. `_commit.json` is written once every batch is finished, before the first table
is committed: from then on the attempt only rolls forward, so a multi-asset interrupted between
two of its tables' commits is completed by the next run before anything else.
"""

import hashlib
import json
import posixpath
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NotRequired, TypedDict, final

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trajectory_assets.lake.delta import (
    DataFile,
    DataFileDocument,
    data_schema,
    files_on_disk,
    partition_columns,
)
from trajectory_assets.lake.delta_history import OperatorCommitInfo
from trajectory_assets.lake.fs import Lake, parquet_bytes, write_file_atomic
from trajectory_assets.lake.layout import STAGING, partition_folder
from trajectory_assets.lake.schemas import schema_digest
from trajectory_assets.lake.stats import file_stats
from trajectory_assets.processes import running_elsewhere, this_process, this_process_started
from trajectory_assets.schema import TableSpec

RECEIPTS = "_batches"
PARTIALS = "_partials"
COMMIT_INTENT = "_commit.json"


@dataclass(frozen=True)
class StagedFile:
    """A file a batch wrote for one of its outputs (for partials: relative to the attempt)."""

    table: str
    file: DataFile


class StagedFileDocument(DataFileDocument):
    """A `StagedFile` as JSON: the data file's fields and its table."""

    table: str


@final
class ReceiptDocument(TypedDict):
    """A `BatchReceipt` as JSON (`_batches/<batch>.json`)."""

    operator: str
    batch_id: str
    day: str
    files: list[StagedFileDocument]
    input_rows: int
    skipped_files: list[list[str]]  # [path, reason] pairs
    unknown_columns: NotRequired[list[list[str]]]  # [path, column] pairs
    audit: dict[str, int]
    worker: str
    node: str
    code: NotRequired[str]


@dataclass(frozen=True)
class BatchReceipt:
    """What a finished batch wrote: small enough to return from a Ray task to the driver."""

    operator: str
    batch_id: str
    day: str
    files: tuple[StagedFile, ...]
    input_rows: int
    skipped_files: tuple[tuple[str, str], ...] = ()
    unknown_columns: tuple[tuple[str, str], ...] = ()  # values in columns raw_events lacks
    audit: tuple[tuple[str, int], ...] = ()  # the operator's own counts for its checks
    worker: str = ""  # host:pid that ran the batch, so where work ran can be verified
    node: str = ""  # the Ray node id, when a Ray task ran it
    code: str = ""  # the operator's `code_digest` (none in an older release's receipt)

    def tables(self, table: str) -> list[DataFile]:
        return [s.file for s in self.files if s.table == table]

    def to_json(self) -> str:
        document = ReceiptDocument(
            operator=self.operator,
            batch_id=self.batch_id,
            day=self.day,
            files=[StagedFileDocument(table=s.table, **s.file.to_dict()) for s in self.files],
            input_rows=self.input_rows,
            skipped_files=[list(s) for s in self.skipped_files],
            unknown_columns=[list(u) for u in self.unknown_columns],
            audit=dict(self.audit),
            worker=self.worker,
            node=self.node,
            code=self.code,
        )
        return json.dumps(document)

    @staticmethod
    def from_json(text: str) -> "BatchReceipt":
        data: ReceiptDocument = json.loads(text)
        return BatchReceipt(
            operator=data["operator"],
            batch_id=data["batch_id"],
            day=data["day"],
            files=tuple(StagedFile(f["table"], DataFile.from_dict(f)) for f in data["files"]),
            input_rows=int(data["input_rows"]),
            skipped_files=tuple((str(p), str(r)) for p, r in data["skipped_files"]),
            unknown_columns=tuple((str(p), str(c)) for p, c in data.get("unknown_columns", [])),
            audit=tuple((str(k), int(v)) for k, v in data.get("audit", {}).items()),
            worker=data.get("worker", ""),
            node=data.get("node", ""),
            code=data.get("code", ""),
        )


@dataclass(frozen=True)
class Attempt:
    """One attempt at materializing a day of an operator's outputs, keyed by its inputs."""

    lake: Lake
    group: str
    day: str
    key: str
    code: str = field(default="", compare=False)  # the operator's, stamped on each receipt

    @property
    def path(self) -> str:
        return self.lake.path(STAGING, self.group, f"dt={self.day}", self.key)

    @property
    def partials_dir(self) -> str:
        return posixpath.join(self.path, PARTIALS)


def attempt_key(group: str, day: str, version: str, inputs: str) -> str:
    """Same operator, version, day and inputs → same key → finished batches are reused, and a
    day whose current files carry this key is already up to date."""
    text = f"{group}\0{day}\0{version}\0{inputs}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def split_partitions(
    table: pa.Table, columns: Sequence[str]
) -> list[tuple[dict[str, Any], pa.Table]]:
    """(partition values, rows) per distinct value of the partition columns, in sorted order."""
    if table.num_rows == 0:
        return []
    if not columns:
        return [({}, table)]
    # each partition's row numbers in one pass (in their order: one thread), not a filter of
    # the whole table per partition (10,000 error types took a batch minutes)
    numbered = table.select(list(columns)).append_column(ROW, pa.array(np.arange(table.num_rows)))
    groups = numbered.group_by(list(columns), use_threads=False).aggregate([(ROW, "list")])
    rows = groups.column(f"{ROW}_list").combine_chunks()
    keys = groups.select(list(columns)).to_pylist()
    parts = [(key, table.take(rows[i].values)) for i, key in enumerate(keys)]
    return sorted(parts, key=lambda p: partition_folder(p[0], columns))


ROW = "__row"


def _by_app(rows: pa.Table) -> list[pa.Table]:
    """Rows of sessions in one file per app, even in a table not partitioned by app: a file's
    range of sessions (`session_range`, kept in the log) lets a reader of some sessions pick
    its files, and a batch may hold sessions of several apps."""
    names = rows.column_names
    if "session_id" not in names or "app_id" not in names:
        return [rows]
    return [part for _, part in split_partitions(rows, ["app_id"])]


def session_range(table: pa.Table) -> tuple[str, str, str] | None:
    """(app_id, first, last session_id) of rows of one app; None without sessions or when the
    rows span several apps."""
    if "session_id" not in table.column_names or "app_id" not in table.column_names:
        return None
    apps = pc.unique(table["app_id"])
    bounds = pc.min_max(table["session_id"]).as_py()
    if len(apps) != 1 or apps[0].as_py() is None or bounds["min"] is None:
        return None
    return str(apps[0].as_py()), str(bounds["min"]), str(bounds["max"])


def write_data_file(
    lake: Lake, spec: TableSpec, values: Mapping[str, Any], rows: pa.Table, name: str
) -> DataFile:
    """One data file of a table's partition, partition columns left to the log."""
    columns = partition_columns(spec)
    relative = posixpath.join(partition_folder(values, columns), name)
    body = rows.select(data_schema(spec).names)
    data = parquet_bytes(body)
    write_file_atomic(lake, lake.path(spec.name, relative), data)
    partition = tuple((c, None if values.get(c) in (None, "") else str(values[c])) for c in columns)
    return DataFile(
        relative, len(data), rows.num_rows, partition, file_stats(body), session_range(rows)
    )


def file_name(attempt: Attempt, batch_id: str, schema: str) -> str:
    return f"part-{attempt.key}-{batch_id}-schema{schema}-{uuid.uuid4().hex[:8]}.parquet"


def read_partials(lake: Lake, paths: Sequence[str], schema: pa.Schema) -> pa.Table:
    """The map batches' partial results a two-phase operator's merge reads, as `schema`."""
    tables = [pq.read_table(p, filesystem=lake.arrow_fs).cast(schema) for p in paths]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def stage_batch(
    attempt: Attempt,
    batch_id: str,
    outputs: Mapping[str, pa.Table],
    specs: Mapping[str, TableSpec],
    *,
    input_rows: int,
    skipped_files: Sequence[tuple[str, str]] = (),
    unknown_columns: Sequence[tuple[str, str]] = (),
    audit: Mapping[str, int] | None = None,
) -> BatchReceipt:
    """Write one batch's outputs, then its receipt (last, so it marks success)."""
    lake = attempt.lake
    staged: list[StagedFile] = []
    for table_name, table in outputs.items():
        if table_name == PARTIALS:
            path = posixpath.join(attempt.partials_dir, f"{batch_id}.parquet")
            data = parquet_bytes(table)
            write_file_atomic(lake, path, data)
            staged.append(StagedFile(PARTIALS, DataFile(path, len(data), table.num_rows, ())))
            continue
        spec = specs[table_name]
        schema = schema_digest(spec)
        columns = partition_columns(spec)
        for values, part in split_partitions(table, columns):
            for rows in [part] if "app_id" in columns else _by_app(part):
                name = file_name(attempt, batch_id, schema)
                written = write_data_file(lake, spec, values, rows, name)
                staged.append(StagedFile(table_name, written))
    receipt = BatchReceipt(
        attempt.group,
        batch_id,
        attempt.day,
        tuple(staged),
        input_rows,
        tuple((str(p), str(r)) for p, r in skipped_files),
        tuple((str(p), str(c)) for p, c in unknown_columns),
        tuple(sorted((audit or {}).items())),
        worker=this_process(),
        code=attempt.code,
    )
    receipt_path = posixpath.join(attempt.path, RECEIPTS, f"{batch_id}.json")
    write_file_atomic(lake, receipt_path, receipt.to_json().encode())
    return receipt


def empty_file(attempt: Attempt, spec: TableSpec) -> DataFile:
    """The file that stands for a day without rows: it carries the attempt's key like any other,
    so the day's state names the attempt that produced it."""
    # the same every time for the attempt and schema: a roll-forward reuses it
    name = f"part-{attempt.key}-schema{schema_digest(spec)}-empty.parquet"
    return write_data_file(attempt.lake, spec, {"dt": attempt.day}, spec.schema.empty_table(), name)


def finished_batches(attempt: Attempt) -> dict[str, BatchReceipt]:
    """Receipts of the batches an earlier run of this attempt already finished."""
    fs = attempt.lake.fs
    folder = posixpath.join(attempt.path, RECEIPTS)
    if not fs.exists(folder):
        return {}
    receipts = {}
    for path in fs.find(folder):
        if path.endswith(".json"):
            receipt = BatchReceipt.from_json(fs.cat_file(path).decode())
            receipts[receipt.batch_id] = receipt
    return receipts


def intact_batches(attempt: Attempt) -> dict[str, BatchReceipt]:
    """`finished_batches` whose table files are all still in the lake: a vacuum without
    retention deletes the files no version committed, an interrupted run's too, and a batch
    reused without them failed the next run's commit, one table and day per run."""
    finished = finished_batches(attempt)
    tables = {s.table for r in finished.values() for s in r.files if s.table != PARTIALS}
    present = {t: files_on_disk(attempt.lake, t, attempt.day) for t in tables}
    return {
        batch: r
        for batch, r in finished.items()
        if all(s.file.path in present[s.table] for s in r.files if s.table != PARTIALS)
    }


class Intent(TypedDict):
    """Written when every batch of an attempt is finished: the tables it commits, in order,
    the batches whose files they are made of, the metadata every commit carries, and the
    process committing them (`host:pid:start`, empty in an older intent)."""

    tables: list[str]
    batches: list[str]
    metadata: OperatorCommitInfo
    writer: str


def write_intent(
    attempt: Attempt,
    tables: Sequence[str],
    batches: Sequence[str],
    metadata: OperatorCommitInfo,
) -> Intent:
    intent = Intent(
        tables=list(tables),
        batches=list(batches),
        metadata=metadata,
        writer=this_process_started(),
    )
    path = posixpath.join(attempt.path, COMMIT_INTENT)
    write_file_atomic(attempt.lake, path, json.dumps(intent, indent=2).encode())
    return intent


def read_intent(attempt: Attempt) -> Intent | None:
    path = posixpath.join(attempt.path, COMMIT_INTENT)
    fs = attempt.lake.fs
    if not fs.exists(path):
        return None
    data: Intent = json.loads(fs.cat_file(path).decode())
    return Intent(
        tables=list(data["tables"]),
        batches=list(data["batches"]),
        metadata=data["metadata"],
        writer=str(data.get("writer", "")),
    )


def committing_now(intent: Intent) -> int | None:
    """The process id of the intent's writer while it still runs: a run committing the day now
    (of another DAGSTER_HOME, or outside any), not an interrupted one."""
    return running_elsewhere(intent["writer"])


def withdraw_intent(attempt: Attempt) -> None:
    """The attempt will not commit after all (another writer won): nothing to roll forward."""
    path = posixpath.join(attempt.path, COMMIT_INTENT)
    if attempt.lake.fs.exists(path):
        attempt.lake.fs.rm(path)


def pending_attempts(lake: Lake, group: str, day: str) -> list[Attempt]:
    """Attempts of a day that had decided to commit but were interrupted: to be rolled forward."""
    found = []
    for key in _attempt_keys(lake, lake.path(STAGING, group, f"dt={day}")):
        attempt = Attempt(lake, group, day, key)
        if read_intent(attempt) is not None:
            found.append(attempt)
    return found


def finish(attempt: Attempt) -> None:
    """The attempt is committed: its receipts, partials and intent are no longer needed."""
    discard(attempt)


def discard(attempt: Attempt) -> None:
    """Forget the attempt's batches and intent: a later run computes the day anew (its files
    were deleted under it, so neither its receipts nor its intent can commit). The intent goes
    first: removing a folder is no atomic step, and an intent left without the receipts it
    lists (a run terminated in between) could never be completed."""
    withdraw_intent(attempt)
    fs = attempt.lake.fs
    if fs.exists(attempt.path):
        fs.rm(attempt.path, recursive=True)
    day_folder = posixpath.dirname(attempt.path)
    if fs.exists(day_folder) and not fs.ls(day_folder):
        fs.rm(day_folder, recursive=True)


def _attempt_keys(lake: Lake, day_folder: str) -> list[str]:
    fs = lake.fs
    if not fs.exists(day_folder):
        return []
    names = (posixpath.basename(p.rstrip("/")) for p in fs.ls(day_folder, detail=False))
    return sorted(n for n in names if not n.startswith("_"))
