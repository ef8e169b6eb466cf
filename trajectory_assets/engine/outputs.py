"""An operator's outputs, checked against what it declared and conformed to it.

The engine, not the operator, normalises what comes back, so every runtime writes
byte-identical tables and a wrong output is caught where it is produced.
"""

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from trajectory_assets.errors import OutputError
from trajectory_assets.lake.staging import PARTIALS
from trajectory_assets.operator import Operator

TO_ARROW = "return pyarrow Tables (a Polars frame's .to_arrow(), a DuckDB result's .arrow())"


def normalise(
    op: Operator, result: pa.Table | Mapping[str, pa.Table], day: str, *, partial: bool = False
) -> dict[str, pa.Table]:
    """Check names, cast to the declared schema, order columns and sort rows by the table's keys.

    A table's rows must carry the `dt` of the day being computed: the day's commit replaces that
    day only, so a row of another day would be written where no commit of this day looks."""
    expected = (PARTIALS,) if partial else op.output_names
    if isinstance(result, pa.Table):
        if len(expected) != 1:
            raise OutputError(
                f"operator {op.name} declares outputs {list(expected)} but returned one table; "
                "return a dict keyed by output name"
            )
        result = {expected[0]: result}
    if not isinstance(result, Mapping):
        raise OutputError(
            f"operator {op.name} returned {type(result).__name__}, not Arrow: {TO_ARROW}"
        )
    if partial and set(result) != set(expected):
        raise OutputError(
            f"operator {op.name} is two-phase: its transform returns one table of partials "
            f"(partial_schema), and merge returns {sorted(op.output_names)}"
        )
    if set(result) != set(expected):
        raise OutputError(
            f"operator {op.name} returned outputs {sorted(result)}, declared {sorted(expected)}"
        )
    normalised = {}
    for name in expected:
        if partial:
            assert op.partial_schema is not None
            schema, keys = op.partial_schema, tuple(op.partial_schema.names)
        else:
            spec = op.spec(name)
            schema, keys = spec.schema, spec.keys
        normalised[name] = _conform(op.name, name, result[name], schema, keys)
        if not partial:
            _check_day(op.name, name, normalised[name], day)
    return normalised


def _conform(
    op_name: str, output: str, table: pa.Table, schema: pa.Schema, keys: tuple[str, ...]
) -> pa.Table:
    partials = "partials (transform's table, shaped by partial_schema)"
    what = partials if output == PARTIALS else f"output {output!r}"
    if not isinstance(table, pa.Table):
        raise OutputError(
            f"operator {op_name} {what} is {type(table).__name__}, not Arrow: {TO_ARROW}"
        )
    missing = [c for c in schema.names if c not in table.column_names]
    if missing:
        raise OutputError(f"operator {op_name} {what} lacks columns {missing}")
    try:
        table = table.select(schema.names).cast(schema)
    except (ValueError, pa.ArrowNotImplementedError) as exc:  # ArrowInvalid, nulls declared not
        raise OutputError(f"operator {op_name} {what} does not fit its schema: {exc}") from None
    sort_keys = [(k, "ascending", "at_end") for k in keys if _sortable(schema.field(k).type)]
    if table.num_rows and sort_keys:
        table = table.take(pc.sort_indices(table, sort_keys=sort_keys))
    return table.combine_chunks()


def _check_day(op_name: str, output: str, table: pa.Table, day: str) -> None:
    if "dt" not in table.column_names:
        return
    other = pc.fill_null(pc.not_equal(table["dt"], pa.scalar(day)), True)
    wrong = table["dt"].filter(other)
    if len(wrong):
        sample = wrong.unique().to_pylist()[:3]
        raise OutputError(
            f"operator {op_name} output {output!r} has {len(wrong)} row(s) whose dt is not the "
            f"day being computed, {day} (found {sample}); set dt to the day (ctx.day), not to "
            "the dt of rows read from other days"
        )


def _sortable(arrow_type: pa.DataType) -> bool:
    return not (pa.types.is_list(arrow_type) or pa.types.is_struct(arrow_type))
