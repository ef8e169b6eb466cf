"""The commit protocol: batches write to staging, a day is swapped into place whole, and the
previous versions are kept for rollback.

Layout (staging and versions sit beside the tables, so a `<table>/**/*.parquet` glob never sees
them):
    <lake>/_staging/<group>/dt=<day>/<attempt>/<table>/<partition folders>/<batch>.parquet
    <lake>/_staging/<group>/dt=<day>/<attempt>/_batches/<batch>.json     (a batch's receipt)
    <lake>/_staging/<group>/dt=<day>/<attempt>/_commit.json              (intent to commit)
    <lake>/<table>/dt=<day>/<partition folders>/<file>.parquet + _manifest.json
    <lake>/_versions/<table>/dt=<day>/<version>/...                      (previous versions)

A batch's receipt is written after its files, so a receipt means the batch is finished and a
resumed attempt skips it. `_commit.json` is written once every batch is finished; from then on
the attempt only rolls forward, so a commit interrupted between two tables of a multi-asset is
completed by the next run instead of being left half-applied.
"""

import ctypes
import ctypes.util
import datetime as _dt
import hashlib
import io
import json
import os
import posixpath
import socket
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trajectory_assets.lake.catalog import MANIFEST, TableSpec, partition_value
from trajectory_assets.lake.fs import Lake

STAGING = "_staging"
VERSIONS = "_versions"
RECEIPTS = "_batches"
COMMIT_INTENT = "_commit.json"
DEFAULT_KEEP_VERSIONS = 3


@dataclass(frozen=True)
class StagedFile:
    table: str
    path: str  # relative to the table's staged folder, e.g. "app_id=a/00003.parquet"
    rows: int
    bytes: int
    # First and last session_id of a file of one app, for tables keyed by session: lets a reader
    # pick the files of a range of sessions from the manifest without opening any file.
    sessions: tuple[str, str] | None = None

    def manifest_entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"path": self.path, "rows": self.rows, "bytes": self.bytes}
        if self.sessions is not None:
            entry["sessions"] = list(self.sessions)
        return entry


@dataclass(frozen=True)
class BatchReceipt:
    """What a finished batch wrote: small enough to return from a Ray task to the driver."""

    batch_id: str
    day: str
    files: tuple[StagedFile, ...]
    input_rows: int
    skipped_files: tuple[tuple[str, str], ...] = ()
    worker: str = ""  # host:pid that ran the batch, so where work ran can be verified
    node: str = ""  # the Ray node id, when a Ray task ran it

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @staticmethod
    def from_json(text: str) -> "BatchReceipt":
        data = json.loads(text)
        return BatchReceipt(
            batch_id=data["batch_id"],
            day=data["day"],
            files=tuple(_staged_file(f) for f in data["files"]),
            input_rows=data["input_rows"],
            skipped_files=tuple(tuple(s) for s in data.get("skipped_files", ())),  # type: ignore[misc]
            worker=data.get("worker", ""),
            node=data.get("node", ""),
        )


def _staged_file(data: dict[str, Any]) -> StagedFile:
    sessions = data.pop("sessions", None)
    return StagedFile(**data, sessions=tuple(sessions) if sessions else None)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Attempt:
    """One attempt at materializing a day of an operator's outputs, keyed by its inputs."""

    lake: Lake
    group: str
    day: str
    key: str

    @property
    def path(self) -> str:
        return self.lake.path(STAGING, self.group, f"dt={self.day}", self.key)

    def table_dir(self, table: str) -> str:
        return posixpath.join(self.path, table)


def attempt_key(group: str, day: str, version: str, input_fingerprint: str) -> str:
    """Same operator, version, day and input files → same key → finished batches are reused."""
    text = f"{group}\0{day}\0{version}\0{input_fingerprint}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_file_atomic(lake: Lake, path: str, data: bytes) -> None:
    """Readers see the whole file or nothing: a temp name and a rename locally, one PUT on S3."""
    fs = lake.fs
    fs.makedirs(posixpath.dirname(path), exist_ok=True)
    if lake.is_local:
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    else:
        fs.pipe_file(path, data)


def parquet_bytes(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def split_partitions(table: pa.Table, partition_by: Sequence[str]) -> list[tuple[str, pa.Table]]:
    """(folder, rows) per distinct value of the partition columns below `dt`, in sorted order."""
    if not partition_by:
        return [("", table)]
    if table.num_rows == 0:
        return []
    keys = table.select(list(partition_by)).group_by(list(partition_by)).aggregate([])
    parts = []
    for row in keys.to_pylist():
        mask = None
        for column in partition_by:
            value = row[column]
            cond = pc.is_null(table[column]) if value is None else pc.equal(table[column], value)
            mask = cond if mask is None else pc.and_(mask, cond)
        folder = "/".join(f"{c}={partition_value(row[c])}" for c in partition_by)
        parts.append((folder, table.filter(mask)))
    return sorted(parts, key=lambda p: p[0])


def session_range(table: pa.Table) -> tuple[str, str] | None:
    """(first, last) session_id of a table, nulls aside; None without sessions."""
    if "session_id" not in table.column_names:
        return None
    bounds = pc.min_max(table["session_id"]).as_py()
    if bounds["min"] is None:
        return None
    return str(bounds["min"]), str(bounds["max"])


def stage_batch(
    attempt: Attempt,
    batch_id: str,
    outputs: Mapping[str, pa.Table],
    specs: Mapping[str, TableSpec],
    *,
    input_rows: int,
    skipped_files: Sequence[tuple[str, str]] = (),
) -> BatchReceipt:
    """Write one batch's outputs into the attempt, then its receipt (last, so it marks success)."""
    staged: list[StagedFile] = []
    for table_name, table in outputs.items():
        spec = specs[table_name]
        for folder, part in split_partitions(table, spec.partition_by):
            relative = posixpath.join(folder, f"{batch_id}.parquet")
            data = parquet_bytes(part)
            write_file_atomic(
                attempt.lake, posixpath.join(attempt.table_dir(table_name), relative), data
            )
            sessions = session_range(part) if "app_id" in spec.partition_by else None
            staged.append(StagedFile(table_name, relative, part.num_rows, len(data), sessions))
    receipt = BatchReceipt(
        batch_id,
        attempt.day,
        tuple(staged),
        input_rows,
        tuple(map(tuple, skipped_files)),  # type: ignore[arg-type]
        worker=f"{socket.gethostname()}:{os.getpid()}",
    )
    receipt_path = posixpath.join(attempt.path, RECEIPTS, f"{batch_id}.json")
    write_file_atomic(attempt.lake, receipt_path, receipt.to_json().encode())
    return receipt


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


def new_version_id(attempt: Attempt) -> str:
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return f"v{stamp}-{attempt.key[:8]}"


def write_intent(
    attempt: Attempt, tables: Sequence[str], metadata: Mapping[str, Any]
) -> dict[str, Any]:
    """Record that every batch is done and which tables this attempt will swap in."""
    intent = {"tables": list(tables), "version": new_version_id(attempt), **metadata}
    path = posixpath.join(attempt.path, COMMIT_INTENT)
    write_file_atomic(attempt.lake, path, json.dumps(intent, indent=2).encode())
    return intent


def read_intent(attempt: Attempt) -> dict[str, Any] | None:
    path = posixpath.join(attempt.path, COMMIT_INTENT)
    fs = attempt.lake.fs
    if not fs.exists(path):
        return None
    intent: dict[str, Any] = json.loads(fs.cat_file(path).decode())
    return intent


def pending_attempts(lake: Lake, group: str, day: str) -> list[Attempt]:
    """Attempts of a day that had decided to commit but were interrupted: to be rolled forward."""
    fs = lake.fs
    folder = lake.path(STAGING, group, f"dt={day}")
    if not fs.exists(folder):
        return []
    found = []
    for key in _attempt_keys(lake, folder):
        attempt = Attempt(lake, group, day, key)
        if read_intent(attempt) is not None:
            found.append(attempt)
    return found


def commit(
    attempt: Attempt,
    specs: Mapping[str, TableSpec],
    receipts: Sequence[BatchReceipt],
    intent: Mapping[str, Any],
    *,
    keep_versions: int = DEFAULT_KEEP_VERSIONS,
) -> dict[str, dict[str, Any]]:
    """Swap every table of the attempt into place for its day; returns the manifests written.

    Safe to call again after an interruption: tables already swapped are left as they are.
    """
    manifests: dict[str, dict[str, Any]] = {}
    for table_name in intent["tables"]:
        spec = specs[table_name]
        files = sorted(
            (f for r in receipts for f in r.files if f.table == table_name), key=lambda f: f.path
        )
        manifest = {
            "table": table_name,
            "dt": attempt.day,
            "version": intent["version"],
            "schema_version": spec.schema_version,
            "committed_at": _dt.datetime.now(_dt.UTC).isoformat(),
            "rows": sum(f.rows for f in files),
            "bytes": sum(f.bytes for f in files),
            "files": [f.manifest_entry() for f in files],
            **{k: v for k, v in intent.items() if k not in ("tables", "version")},
        }
        _swap_in(attempt, table_name, manifest, keep_versions)
        manifests[table_name] = manifest
    fs = attempt.lake.fs
    fs.rm(attempt.path, recursive=True)
    _remove_abandoned_attempts(attempt)
    day_folder = posixpath.dirname(attempt.path)
    if fs.exists(day_folder) and not fs.ls(day_folder):
        fs.rm(day_folder, recursive=True)
    return manifests


def _swap_in(attempt: Attempt, table: str, manifest: dict[str, Any], keep: int) -> None:
    lake = attempt.lake
    fs = lake.fs
    staged = attempt.table_dir(table)
    target = lake.path(table, f"dt={attempt.day}")
    current = _current_version(lake, target)
    if current == manifest["version"]:
        return  # swapped in by an earlier, interrupted call
    fs.makedirs(staged, exist_ok=True)  # a table with no rows still gets a (empty) partition
    write_file_atomic(
        lake, posixpath.join(staged, MANIFEST), json.dumps(manifest, indent=2).encode()
    )
    old_home = lake.path(VERSIONS, table, f"dt={attempt.day}", current or "unversioned")
    if lake.is_local:
        _swap_local(staged, target, old_home)
    else:
        _swap_object_store(lake, staged, target, old_home, manifest)
    _prune_versions(lake, table, attempt.day, keep)


def _current_version(lake: Lake, partition: str) -> str | None:
    path = posixpath.join(partition, MANIFEST)
    fs = lake.fs
    if not fs.exists(path):
        return None
    version: str = json.loads(fs.cat_file(path).decode())["version"]
    return version


def _swap_local(staged: str, target: str, old_home: str) -> None:
    """Exchange the staged folder with the live one in one step, then file the old one away."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if not os.path.exists(target):
        os.rename(staged, target)
        return
    os.makedirs(os.path.dirname(old_home), exist_ok=True)
    if _rename_exchange(staged, target):
        os.rename(staged, old_home)  # `staged` now holds the previous version
    else:  # no atomic exchange on this platform: two renames, a brief gap with no partition
        os.rename(target, old_home)
        os.rename(staged, target)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _rename_exchange(a: str, b: str) -> bool:
    """Linux renameat2(RENAME_EXCHANGE): both paths exist before and after, swapped atomically."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    result = renameat2(_AT_FDCWD, a.encode(), _AT_FDCWD, b.encode(), _RENAME_EXCHANGE)
    return bool(result == 0)


def _swap_object_store(
    lake: Lake, staged: str, target: str, old_home: str, manifest: dict[str, Any]
) -> None:
    """No rename on S3: copy new files under version-unique names, then the manifest (one PUT),
    then move the superseded files to the versions folder. Catalog readers follow the manifest,
    so they see one complete version throughout."""
    fs = lake.fs
    version = manifest["version"]
    old_files = list(fs.find(target)) if fs.exists(target) else []
    if posixpath.join(target, MANIFEST) in old_files:
        fs.copy(posixpath.join(target, MANIFEST), posixpath.join(old_home, MANIFEST))
    new_entries = []
    for entry in manifest["files"]:
        folder, name = posixpath.split(entry["path"])
        final = posixpath.join(folder, f"{version}-{name}")
        fs.copy(posixpath.join(staged, entry["path"]), posixpath.join(target, final))
        new_entries.append({**entry, "path": final})
    final_manifest = {**manifest, "files": new_entries}
    fs.pipe_file(posixpath.join(target, MANIFEST), json.dumps(final_manifest, indent=2).encode())
    for path in old_files:
        relative = posixpath.relpath(path, target)
        if relative == MANIFEST:
            continue
        fs.copy(path, posixpath.join(old_home, relative))
        fs.rm(path)
    fs.rm(staged, recursive=True)


def _prune_versions(lake: Lake, table: str, day: str, keep: int) -> None:
    fs = lake.fs
    folder = lake.path(VERSIONS, table, f"dt={day}")
    if not fs.exists(folder):
        return
    versions = sorted(fs.ls(folder, detail=False))
    for old in versions[: max(0, len(versions) - keep)]:
        fs.rm(old, recursive=True)


def _remove_abandoned_attempts(attempt: Attempt) -> None:
    """Other attempts of the same day that never reached their commit intent are dead ends."""
    fs = attempt.lake.fs
    folder = posixpath.dirname(attempt.path)
    if not fs.exists(folder):
        return
    for key in _attempt_keys(attempt.lake, folder):
        other = Attempt(attempt.lake, attempt.group, attempt.day, key)
        if other.key != attempt.key and read_intent(other) is None:
            fs.rm(other.path, recursive=True)


def _attempt_keys(lake: Lake, day_folder: str) -> list[str]:
    """Attempt folders of a day; `_`-prefixed entries (the writer lease) are not attempts."""
    names = (posixpath.basename(p.rstrip("/")) for p in lake.fs.ls(day_folder, detail=False))
    return sorted(n for n in names if not n.startswith("_"))


def versions(lake: Lake, table: str, day: str) -> list[str]:
    """Previous versions kept for a partition, oldest first."""
    fs = lake.fs
    folder = lake.path(VERSIONS, table, f"dt={day}")
    if not fs.exists(folder):
        return []
    return sorted(posixpath.basename(p.rstrip("/")) for p in fs.ls(folder, detail=False))


def rollback(lake: Lake, table: str, day: str) -> str:
    """Make the newest kept version current again; the replaced version is kept in its place."""
    kept = versions(lake, table, day)
    if not kept:
        raise FileNotFoundError(f"{table} dt={day} has no previous version to roll back to")
    previous = kept[-1]
    source = lake.path(VERSIONS, table, f"dt={day}", previous)
    target = lake.path(table, f"dt={day}")
    current = _current_version(lake, target) or "unversioned"
    parking = lake.path(VERSIONS, table, f"dt={day}", f"{current}")
    if lake.is_local:
        if not _rename_exchange(source, target):
            os.rename(target, source + ".swap")
            os.rename(source, target)
            os.rename(source + ".swap", parking)
        else:
            os.rename(source, parking)
    else:
        fs = lake.fs
        for path in fs.find(target):
            fs.copy(path, posixpath.join(parking, posixpath.relpath(path, target)))
            fs.rm(path)
        for path in fs.find(source):
            fs.copy(path, posixpath.join(target, posixpath.relpath(path, source)))
        fs.rm(source, recursive=True)
    return previous
