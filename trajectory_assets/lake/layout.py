"""Names and folders of the lake: which tables exist where, and how partition values become
folder names.

    <lake>/raw_events/dt=YYYY-MM-DD/app_id=<app>/session_id=<sid>/*.parquet   Tier A, plain Parquet
    <lake>/<table>/_delta_log/ + dt=YYYY-MM-DD/<partition folders>/*.parquet  Tier B, Delta tables
    <lake>/_staging/<operator>/dt=YYYY-MM-DD/<attempt>/                       batch receipts
    <lake>/_rejected/<source>/dt=YYYY-MM-DD/*.jsonl            input rejected on arrival
    <lake>/_serve/<receiver>/*.json.gz                         input taken, not yet written
    <lake>/_schemas/<table>/<digest>.json                      schemas of data files' names

Folder values are URI-encoded as Hive, Spark and delta-rs write them, nulls by Hive's rule.
"""

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any, TypeGuard
from urllib.parse import quote, unquote

from trajectory_assets.schema import NULL_PARTITION

RAW_TABLE = "raw_events"
COMPACTED_TABLE = "raw_compacted"
STAGING = "_staging"
SCHEMAS = "_schemas"
REPORTS = "reports"  # the daily report pages
REPORT = "daily_report"  # the Dagster asset that draws them: not a table


def is_day(value: object) -> TypeGuard[str]:
    """A day as its `dt=` folders name it: YYYY-MM-DD, and a real one."""
    try:
        return isinstance(value, str) and date.fromisoformat(value).isoformat() == value
    except ValueError:
        return False


def partition_value(value: Any) -> str:
    """A partition value as a folder name."""
    if value is None or value == "":
        return NULL_PARTITION
    return quote(str(value), safe="")


def spellings(value: str) -> list[str]:
    """How writers spell `value` in a folder name, this project's first: Hive's and Spark's
    `escapePathName` leave a space, a `+` or an `é` as they are, JavaScript's
    encodeURIComponent `!'()*`. The runs read any spelling as the value; a writer that looks a
    session up by name must try these."""
    hive = "".join(f"%{ord(c):02X}" if c in _HIVE_ESCAPED or ord(c) < 0x20 else c for c in value)
    return list(dict.fromkeys([partition_value(value), hive, quote(value, safe="!'()*~")]))


_HIVE_ESCAPED = frozenset("\"#%'*/:=?\\\x7f{[]^")


FOLDER_NAME_BYTES = 255
"""The longest folder name of most file systems."""


@functools.lru_cache(maxsize=4096)  # the event logger asks once per event of a session
def folder_name_problem(column: str, value: str) -> str | None:
    """Why `value` cannot name a `column=` partition folder (and read back as itself), if not."""
    if value == NULL_PARTITION:
        return f"{column} {NULL_PARTITION} is the folder name of a null {column}"
    size = len(f"{column}={partition_value(value)}".encode())
    if size > FOLDER_NAME_BYTES:
        return (
            f"{column} too long to name a folder ({size} bytes as `{column}=` and the value "
            f"URL-encoded, at most {FOLDER_NAME_BYTES})"
        )
    return None


def id_problem(column: str, value: str) -> str | None:
    """Why an app or session id that a producer sends cannot be taken: `folder_name_problem`,
    a blank one (the tables reject its events: the producer heard nothing of it), or one with a
    control character (a line break, NUL: no command line can name it to `forget` it)."""
    if not value.strip():
        return f"blank {column}"
    if CONTROL.search(value):
        return f"{column} with a control character"
    return folder_name_problem(column, value)


CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def decode_partition_value(text: str) -> str | None:
    return None if text == NULL_PARTITION else unquote(text)


def is_hidden(relative: str) -> bool:
    """Names starting with `_` or `.` are a writer's own (`_SUCCESS`, `.crc`, `_temporary/`)."""
    return any(part.startswith(("_", ".")) for part in relative.split("/"))


def is_parquet_name(name: str) -> bool:
    """A raw data file's name: `*.parquet` in any case (`part-0.PARQUET`, as a case-blind file
    system's writer leaves it, stopped every command of the lake)."""
    return name.lower().endswith(".parquet")


def parse_hive(path: str) -> dict[str, str]:
    """The `key=value` folders of a path, decoded (null folders left out)."""
    parts: dict[str, str] = {}
    for segment in path.split("/"):
        if "=" in segment:
            key, _, value = segment.partition("=")
            decoded = decode_partition_value(value)
            if decoded is not None:
                parts[key] = decoded
    return parts


def partition_folder(values: Mapping[str, str | None], columns: Sequence[str]) -> str:
    """`a=1/b=2` for the given partition columns, in their order."""
    return "/".join(f"{c}={partition_value(values.get(c))}" for c in columns)


UNTIMED_DAY = "1970-01-01"
"""Where imported formats without timestamps land unless given a synthetic date: no day a lake's
partitions should start from."""
