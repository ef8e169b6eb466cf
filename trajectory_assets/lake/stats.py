"""Delta file statistics (`numRecords`, `minValues`, `maxValues`, `nullCount`) of a data file.

Readers skip files on these, so they must never be wrong, only incomplete: a column is left out
when its bounds cannot be stated exactly in Delta's JSON (nested, binary, NaN or infinite, or
text too long to be worth carrying in every snapshot). JSON has no NaN or Infinity: a log entry
holding one is unreadable to every Delta reader. Computed from the Arrow table just written,
since the writer holds it in memory anyway.
"""

import datetime as dt
import json
from typing import TypedDict

import pyarrow as pa
import pyarrow.compute as pc

MAX_TEXT_STAT = 64
"""Longer strings (payloads, JSON rows) are left out of the stats: nobody prunes on them."""

Bound = str | int | float
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
        if pa.types.is_nested(kind) or pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
            continue
        nulls[name] = column.null_count
        bounds = _bounds(column)
        if bounds is not None:
            mins[name], maxs[name] = bounds
    stats = FileStats(numRecords=table.num_rows, minValues=mins, maxValues=maxs, nullCount=nulls)
    return json.dumps(stats, separators=(",", ":"))


def _bounds(column: pa.ChunkedArray) -> tuple[Bound, Bound] | None:
    kind = column.type
    if column.null_count == len(column):
        return None
    if pa.types.is_floating(kind) and not pc.all(pc.is_finite(column)).as_py():
        return None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        longest = pc.max(pc.utf8_length(column)).as_py()
        if longest is None or longest > MAX_TEXT_STAT:
            return None
    if not (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_timestamp(kind)
        or pa.types.is_date(kind)
    ):
        return None
    try:
        found = pc.min_max(column).as_py()
        low, high = found["min"], found["max"]
        if isinstance(low, dt.datetime):  # rounded up past 9999-12-31T23:59:59.999: overflows
            return _timestamp(low, up=False), _timestamp(high, up=True)
    except (ValueError, OverflowError):  # text that is no UTF-8, a time Python cannot hold
        return None  # no statistic: a reader then reads the file
    if isinstance(low, dt.date):
        return low.isoformat(), high.isoformat()
    return low, high


def _timestamp(value: dt.datetime, *, up: bool) -> str:
    """Millisecond precision, as Delta states timestamps: a maximum is rounded up."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    value = value.astimezone(dt.UTC)
    truncated = value.replace(microsecond=value.microsecond // 1000 * 1000)
    if up and truncated != value:
        truncated += dt.timedelta(milliseconds=1)
    return truncated.strftime("%Y-%m-%dT%H:%M:%S.") + f"{truncated.microsecond // 1000:03d}Z"
