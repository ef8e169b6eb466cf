"""The catalog: which tables exist, where they live, and which files make up their current version.

Readers go through the partition manifests, so they see exactly one committed version of each day
even on object stores where a commit is not a single rename.
"""

import json
import posixpath
from typing import Any
from urllib.parse import quote, unquote

import pyarrow as pa
import pyarrow.parquet as pq

from trajectory_assets.lake.fs import Lake
from trajectory_assets.schema import RAW_EVENTS, TABLES, TableSpec

RAW_TABLE = "raw_events"
COMPACTED_TABLE = "raw_compacted"
MANIFEST = "_manifest.json"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"


def partition_value(value: Any) -> str:
    """Folder value, URI-encoded as pyarrow and Spark read it; nulls by Hive's rule."""
    if value is None or value == "":
        return NULL_PARTITION
    return quote(str(value), safe="")


def decode_partition_value(text: str) -> str | None:
    return None if text == NULL_PARTITION else unquote(text)


def parse_hive(path: str) -> dict[str, str]:
    """The `key=value` folders of a path, decoded."""
    parts: dict[str, str] = {}
    for segment in path.split("/"):
        if "=" in segment:
            key, _, value = segment.partition("=")
            decoded = decode_partition_value(value)
            if decoded is not None:
                parts[key] = decoded
    return parts


class Catalog:
    """Maps logical table names to TableSpecs and answers questions about committed partitions."""

    def __init__(self, lake: Lake) -> None:
        self.lake = lake
        self._tables: dict[str, TableSpec] = {
            RAW_TABLE: TableSpec(RAW_TABLE, RAW_EVENTS, ("app_id", "session_id"), ("event_id",))
        }
        for spec in TABLES.values():
            self.register(spec)

    def register(self, spec: TableSpec) -> None:
        self._tables[spec.name] = spec

    def get(self, name: str) -> TableSpec:
        try:
            return self._tables[name]
        except KeyError:
            known = ", ".join(sorted(self._tables))
            raise KeyError(f"unknown table {name!r}; the catalog has: {known}") from None

    def table_path(self, name: str) -> str:
        self.get(name)
        return self.lake.path(name)

    def partition_path(self, name: str, day: str) -> str:
        return posixpath.join(self.table_path(name), f"dt={day}")

    def days(self, name: str) -> list[str]:
        """Days with a committed partition (raw: days with a folder)."""
        fs = self.lake.fs
        return [
            day
            for day, folder in day_folders(self.lake, self.table_path(name))
            if name == RAW_TABLE or fs.exists(posixpath.join(folder, MANIFEST))
        ]

    def manifest(self, name: str, day: str) -> dict[str, Any] | None:
        path = posixpath.join(self.partition_path(name, day), MANIFEST)
        fs = self.lake.fs
        if not fs.exists(path):
            return None
        with fs.open(path, "rb") as handle:
            manifest: dict[str, Any] = json.load(handle)
        return manifest

    def files(
        self,
        name: str,
        *,
        dt: str | None = None,
        dt_from: str | None = None,
        dt_to: str | None = None,
        app_id: str | None = None,
    ) -> list[str]:
        """Absolute paths of the current files of a Tier B table, pruned by day and app."""
        if name == RAW_TABLE:
            raise ValueError("raw_events is listed with lake.raw.list_raw_files, not Catalog.files")
        days = [dt] if dt else [d for d in self.days(name) if _in_range(d, dt_from, dt_to)]
        return [
            path
            for day in days
            for path, entry in self.file_entries(name, day)
            if app_id is None or parse_hive(entry["path"]).get("app_id") == app_id
        ]

    def file_entries(self, name: str, day: str) -> list[tuple[str, dict[str, Any]]]:
        """(absolute path, manifest entry: path, rows, bytes, sessions) of a day's current files."""
        manifest = self.manifest(name, day)
        if manifest is None:
            return []
        base = self.partition_path(name, day)
        return [(posixpath.join(base, e["path"]), e) for e in manifest["files"]]

    def read(self, name: str, **filters: str | None) -> pa.Table:
        """The current rows of a table as one Arrow table with the table's schema."""
        spec = self.get(name)
        files = self.files(name, **filters)  # type: ignore[arg-type]
        if not files:
            return spec.schema.empty_table()
        tables = [pq.read_table(f, filesystem=self.lake.arrow_fs) for f in files]
        return pa.concat_tables(tables).cast(spec.schema)

    # Last in the class body: a method named `list` would shadow the builtin in later annotations.
    def list(self) -> list[str]:
        return sorted(self._tables)


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


def _in_range(day: str, dt_from: str | None, dt_to: str | None) -> bool:
    return (dt_from is None or day >= dt_from) and (dt_to is None or day <= dt_to)
