"""Delta file statistics (`numRecords`, `minValues`, `maxValues`, `nullCount`) of a data file.

Readers skip files on these, so they must never be wrong. JSON has no NaN or Infinity: a log
entry holding one is unreadable to every Delta reader. And a column with values but no bounds
is no safe omission: deltalake's `to_pyarrow_dataset` (1.6) states it as `column >= null`, which
drops the file from every filter on the column (a session id of 65 characters hid its whole day
from `WHERE session_id = ...`). So text is bounded by its first `MAX_TEXT_STAT` characters (the
maximum's last one raised, as Delta writers truncate), and a file with a value no bound can
state (NaN, infinity, a time Python cannot hold, text that is no UTF-8) carries its row count
alone. Computed from the Arrow table just written, since the writer holds it in memory anyway.
"""

import datetime as dt
import json
import sys
from collections.abc import Mapping
from typing import TypedDict

import pyarrow as pa
import pyarrow.compute as pc

MAX_TEXT_STAT = 64
"""Characters of text a bound keeps (payloads and JSON rows would weigh on every snapshot)."""

Bound = str | int | float | bool
"""A column's minimum or maximum as Delta's JSON states it (times and dates as text)."""


class FileStats(TypedDict):
    """The `stats` of a Delta add action, column by column."""

    numRecords: int
    minValues: dict[str, Bound]
    maxValues: dict[str, Bound]
    nullCount: dict[str, int]


def file_stats(table: pa.Table) -> str:
    mins: dict[str, Bound] = {}
    maxs: dict[str, Bound] = {}
    nulls: dict[str, int] = {}
    for name in table.column_names:
        column = table.column(name)
        kind = column.type
        if not _boundable(kind):
            continue  # nested, binary: no reader prunes on these, nor builds a bound of them
        nulls[name] = column.null_count
        if column.null_count == len(column):
            continue  # all null: `nullCount` says it
        bounds = _bounds(column)
        if bounds is None:
            return _json({"numRecords": table.num_rows})
        mins[name], maxs[name] = bounds
    return _json(
        FileStats(numRecords=table.num_rows, minValues=mins, maxValues=maxs, nullCount=nulls)
    )


def _json(stats: Mapping[str, object]) -> str:
    """Text as itself, not escaped: delta-rs reads some escaped characters past U+FFFF as others
    (U+40000 as U+30000), a maximum lower than it is, and skips the file wrongly."""
    return json.dumps(stats, separators=(",", ":"), ensure_ascii=False)


_BOUNDABLE = (
    pa.types.is_string,
    pa.types.is_large_string,
    pa.types.is_integer,
    pa.types.is_floating,
    pa.types.is_boolean,
    pa.types.is_timestamp,
    pa.types.is_date,
)


def _boundable(kind: pa.DataType) -> bool:
    return any(bool(holds(kind)) for holds in _BOUNDABLE)


def _bounds(column: pa.ChunkedArray) -> tuple[Bound, Bound] | None:
    """A column's exact bounds (text's cut to MAX_TEXT_STAT characters, still bounds); None
    when none can be stated."""
    if pa.types.is_floating(column.type) and not pc.all(pc.is_finite(column)).as_py():
        return None
    try:
        found = pc.min_max(column).as_py()
        low, high = found["min"], found["max"]
        if isinstance(low, dt.datetime):  # rounded up past 9999-12-31T23:59:59.999: overflows
            return _timestamp(low, up=False), _timestamp(high, up=True)
    except (ValueError, OverflowError):  # text that is no UTF-8, a time Python cannot hold
        return None
    if isinstance(low, dt.date):
        return low.isoformat(), high.isoformat()
    if isinstance(low, str):
        above = _above(high)
        return (low[:MAX_TEXT_STAT], above) if above is not None else None
    return low, high


def _above(text: str) -> str | None:
    """`text` itself when short, else a string of at most MAX_TEXT_STAT characters above every
    string it begins: its first characters, the last raised by one (None: only the highest
    characters, which nothing is above)."""
    if len(text) <= MAX_TEXT_STAT:
        return text
    cut = text[:MAX_TEXT_STAT].rstrip(chr(sys.maxunicode))
    if not cut:
        return None
    raised = ord(cut[-1]) + 1
    if 0xD800 <= raised <= 0xDFFF:  # surrogates are no characters of UTF-8 text
        raised = 0xE000
    return cut[:-1] + chr(raised)


def _timestamp(value: dt.datetime, *, up: bool) -> str:
    """Millisecond precision, as Delta states timestamps: a maximum is rounded up."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    truncated = value.replace(microsecond=value.microsecond // 1000 * 1000)
    if up and truncated != value:
        truncated += dt.timedelta(milliseconds=1)
    # `%Y` does not pad a year below 1000 (glibc's): `999-...` is no time a reader parses
    return (
        f"{truncated.year:04d}"
        + truncated.strftime("-%m-%dT%H:%M:%S.")
        + (f"{truncated.microsecond // 1000:03d}Z")
    )
