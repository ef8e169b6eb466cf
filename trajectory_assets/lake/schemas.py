"""The schemas a table's files were written with, by digest.

Every data file's name carries the digest of its table's schema at the time (`schema_digest`),
and `<lake>/_schemas/<table>/<digest>.json` says what that schema was: so a run knows from the
table's file list alone which days hold files that its operator's schema cannot read, whatever
wrote them (a run cut short after its first days, a run split in windows), without reading the
Delta log's history or any file.
"""

import functools
import hashlib
import json
from collections.abc import Mapping
from typing import TypedDict

from trajectory_assets.lake.delta import Snapshot, delta_schema, partition_columns, type_name
from trajectory_assets.lake.fs import Lake, write_file_atomic
from trajectory_assets.lake.layout import SCHEMAS
from trajectory_assets.schema import TableSpec


class WrittenSchema(TypedDict):
    """A schema as the files hold it: [column, Delta type] pairs and the partition columns."""

    columns: list[list[str]]
    partitions: list[str]


def written_schema(spec: TableSpec) -> WrittenSchema:
    """Names, Delta types and partitioning: not the columns' descriptions, which files do not
    hold."""
    columns = [[f.name, type_name(f.type)] for f in delta_schema(spec).fields]
    return WrittenSchema(columns=columns, partitions=partition_columns(spec))


@functools.lru_cache(maxsize=256)
def schema_digest(spec: TableSpec) -> str:
    """Asked for every day of a table the staleness checks look at: kept per table spec."""
    text = json.dumps(written_schema(spec), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def record_schema(lake: Lake, spec: TableSpec) -> None:
    """Keep the schema the table's new files are written with, once per digest."""
    path = lake.path(SCHEMAS, spec.name, f"{schema_digest(spec)}.json")
    if not lake.fs.exists(path):
        write_file_atomic(lake, path, json.dumps(written_schema(spec)).encode())


def schema_of(lake: Lake, table: str, digest: str) -> WrittenSchema | None:
    """The schema of that digest; None when it was never kept (or deleted)."""
    path = lake.path(SCHEMAS, table, f"{digest}.json")
    if not lake.fs.exists(path):
        return None
    found: WrittenSchema = json.loads(lake.fs.cat_file(path))
    return found


def readable_as(written: WrittenSchema, spec: TableSpec) -> bool:
    """Files of `written` read under `spec`: every column they hold is declared with the same
    type (columns added since read as null), with the same partitioning."""
    now = written_schema(spec)
    declared = {name: kind for name, kind in now["columns"]}
    same_types = all(declared.get(name) == kind for name, kind in written["columns"])
    return same_types and written["partitions"] == now["partitions"]


def changed_columns(held: Snapshot, spec: TableSpec) -> list[str]:
    """`column: held type -> declared type` for each column the table holds with another type
    than `spec` declares, or no longer declares. A new column is no change: older files read as
    null. A dropped one is: Delta readers stop showing it on days not written again, and one
    declared again later, with another type, would meet the old files' values."""
    return changed_since(held, {f.name: type_name(f.type) for f in delta_schema(spec).fields})


def changed_since(held: Snapshot, types: Mapping[str, str]) -> list[str]:
    """`column: held type -> type now` for each column of `held` another type now, or gone."""
    return [
        f"{name}: {kind} -> {types.get(name, 'dropped')}"
        for name, kind in held.types
        if types.get(name) != kind
    ]
