"""A Delta table's files as a pyarrow dataset, each file's guarantee (what readers skip it on)
built here from its log entry: its partition values, and the bounds and null counts its
statistics state.

deltalake's own `to_pyarrow_dataset` (1.6) states a column the statistics give no bounds for as
`column >= null AND column <= null`, and pyarrow then drops the file from every filter on that
column: a session id of 65 characters, or a `model` ARN, in one day's file hid the whole day
from `WHERE session_id = ...` in `query`, the notebook and every DuckDB or Polars read through
it, and the tables written before 0.5.0 left such bounds out. Here a column without both bounds
is simply not part of the guarantee: the file is read and filtered row by row.
"""

import datetime as dt
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

if TYPE_CHECKING:
    from deltalake import DeltaTable

_DELTA_TIME_PRECISION = dt.timedelta(milliseconds=1)
"""Delta states times in milliseconds: a maximum written truncated lies up to this below."""


def delta_dataset(table: "DeltaTable") -> ds.FileSystemDataset:
    """The table's current files as a dataset, with guarantees from their log entries."""
    found: ds.FileSystemDataset = table.to_pyarrow_dataset()
    schema = found.schema
    entries = {
        row["path"]: row for row in pa.table(table.get_add_actions(flatten=True)).to_pylist()
    }
    fragments = [
        found.format.make_fragment(
            fragment.path,
            filesystem=found.filesystem,
            partition_expression=_guarantee(entries[fragment.path], schema),
        )
        for fragment in found.get_fragments()
    ]
    return ds.FileSystemDataset(fragments, schema, found.format, found.filesystem)


def _guarantee(entry: dict[str, Any], schema: pa.Schema) -> pc.Expression:
    """What every row of a file holds: its partition values (which also fill those columns,
    absent from the file), and for each column its stated bounds and whether it is all null or
    never null."""
    terms: list[pc.Expression] = []
    rows = entry.get("num_records")
    for field in schema:
        name = field.name
        if f"partition.{name}" in entry:
            value = entry[f"partition.{name}"]
            column = pc.field(name)
            terms.append(column.is_null() if value is None else column == _typed(value, field))
            continue
        low, high = entry.get(f"min.{name}"), entry.get(f"max.{name}")
        nulls = entry.get(f"null_count.{name}")
        if rows is not None and nulls == rows:
            terms.append(pc.field(name).is_null())
        elif nulls == 0:
            terms.append(pc.field(name).is_valid())
        if low is not None and high is not None:
            if isinstance(high, dt.datetime):
                high += _DELTA_TIME_PRECISION
            terms.append(
                (pc.field(name) >= _typed(low, field)) & (pc.field(name) <= _typed(high, field))
            )
    guarantee = pc.scalar(True)
    for term in terms:
        guarantee = guarantee & term
    return guarantee


def _typed(value: object, field: pa.Field) -> pc.Expression:
    """A value of the log as a scalar of the column's type (partition values are text)."""
    return pc.scalar(pa.scalar(value).cast(field.type))
