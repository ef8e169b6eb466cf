"""A Delta table's files as a pyarrow dataset, as deltalake builds it, but for the guarantee
(what readers skip a file on) of a file whose statistics leave a column without bounds.

deltalake's `to_pyarrow_dataset` (1.6) states such a column as `column >= null AND column <=
null`, and pyarrow then drops the file from every filter on the column: a session id of 65
characters, or a Bedrock ARN in `model`, in one day's file hid the whole day from `WHERE
session_id = ...` in `query`, the notebook and `catalog.read`. Tables written before 0.5.0 left
text over 64 characters without bounds (`lake/stats.py` bounds every column now). Such a file's
guarantee is built here from its log entry, without the column: the file is read and filtered
row by row. Every other file keeps deltalake's guarantee, at no cost beyond a look at it.
"""

import datetime as dt
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

if TYPE_CHECKING:
    from deltalake import DeltaTable

UNBOUNDED = re.compile(r"\(([^()\s]+) >= null\[")
"""How deltalake's guarantee states a column its statistics give no bounds for."""
ALL_NULL = re.compile(r"is_null\(([^(),\s]+),")
"""...and one all null, which the bounds need not state: no filter but IS NULL keeps a row."""

_DELTA_TIME_PRECISION = dt.timedelta(milliseconds=1)
"""Delta states times in milliseconds, and a writer that truncates (delta-rs does) states a
maximum up to this below the file's: the bound is widened by it."""


def delta_dataset(table: "DeltaTable") -> ds.FileSystemDataset:
    """The table's current files as deltalake's dataset, each file without bounds for a column
    given the guarantee its log entry states."""
    found: ds.FileSystemDataset = table.to_pyarrow_dataset()
    fragments = list(found.get_fragments())
    broken = {f.path for f in fragments if _unbounded(str(f.partition_expression))}
    if not broken:
        return found
    actions = pa.table(table.get_add_actions(flatten=True))
    entries = {  # the log's paths are URI-encoded; the fragments' are not
        path: row for row in actions.to_pylist() if (path := unquote(str(row["path"]))) in broken
    }
    schema = found.schema
    mended = [
        found.format.make_fragment(
            f.path,
            filesystem=found.filesystem,
            partition_expression=_guarantee(entries[f.path], schema),
        )
        if f.path in broken
        else f
        for f in fragments
    ]
    return ds.FileSystemDataset(mended, schema, found.format, found.filesystem)


def _unbounded(guarantee: str) -> bool:
    """Whether deltalake's guarantee states a column with values as without bounds."""
    return bool(set(UNBOUNDED.findall(guarantee)) - set(ALL_NULL.findall(guarantee)))


def _guarantee(entry: dict[str, Any], schema: pa.Schema) -> pc.Expression:
    """What every row of a file holds: its partition values (which also fill those columns,
    absent from the file), and for each column whether it is all null or never null, and the
    bounds of its values where the statistics state both."""
    guarantee = pc.scalar(True)
    rows = entry.get("num_records")
    for field in schema:
        column, name = pc.field(field.name), field.name
        if f"partition.{name}" in entry:
            value = entry[f"partition.{name}"]
            guarantee &= column.is_null() if value is None else column == _typed(value, field)
            continue
        nulls = entry.get(f"null_count.{name}")
        if rows is not None and nulls == rows:
            guarantee &= column.is_null()
            continue
        low, high = entry.get(f"min.{name}"), entry.get(f"max.{name}")
        if low is not None and high is not None:
            if isinstance(high, dt.datetime):
                high += _DELTA_TIME_PRECISION
            bounded = (column >= _typed(low, field)) & (column <= _typed(high, field))
            guarantee &= bounded if nulls == 0 else bounded | column.is_null()
        elif nulls == 0:
            guarantee &= column.is_valid()
    return guarantee


def _typed(value: object, field: pa.Field) -> pc.Expression:
    """A value of the log as a scalar of the column's type (partition values are text)."""
    return pc.scalar(pa.scalar(value).cast(field.type))
