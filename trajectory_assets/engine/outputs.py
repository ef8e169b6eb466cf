"""An operator's outputs, checked against what it declared and conformed to it.

The engine, not the operator, normalises what comes back, so every runtime writes
byte-identical tables and a wrong output is caught where it is produced.
"""

from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc

from trajectory_assets.errors import OutputError
from trajectory_assets.lake.layout import folder_name_problem
from trajectory_assets.lake.staging import PARTIALS
from trajectory_assets.operator import Operator
from trajectory_assets.schema import sortable

TO_ARROW = (
    "return a pyarrow Table, or a frame that exports one (a Polars DataFrame, a DuckDB result, "
    "a pandas DataFrame: anything with the Arrow stream interface, __arrow_c_stream__)"
)


def _from_frame(what: str, frame: object) -> pa.Table:
    """A frame's table, without a pandas index (a column the operator never wrote)."""
    try:
        table = pa.table(frame)
    except (TypeError, ValueError, pa.ArrowException) as exc:  # a Series, an array: no table
        raise OutputError(f"{what} is {type(frame).__name__}, not a table: {TO_ARROW}") from exc
    index = [n for n in table.column_names if n.startswith("__index_level_")]
    return table.drop_columns(index)


def _is_table(value: object) -> bool:
    """Arrow, or a frame that exports an Arrow stream (Polars, DuckDB, pandas): an operator
    written with Polars returns its DataFrame as it is, without converting it by hand."""
    return isinstance(value, pa.Table | pa.RecordBatchReader) or hasattr(
        value, "__arrow_c_stream__"
    )


def normalise(
    op: Operator, result: pa.Table | Mapping[str, pa.Table], day: str, *, partial: bool = False
) -> dict[str, pa.Table]:
    """Check names, cast to the declared schema, order columns and sort rows by the table's keys.

    A table's rows must carry the `dt` of the day being computed: the day's commit replaces that
    day only, so a row of another day would be written where no commit of this day looks."""
    expected = (PARTIALS,) if partial else op.output_names
    if _is_table(result):  # _conform reads a reader whole, and converts a frame
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
            _check_unique(op.name, name, normalised[name], spec.keys)
            _check_folder_names(op.name, name, normalised[name], spec.partition_by)
    return normalised


def _check_folder_names(
    op_name: str, output: str, table: pa.Table, partition_by: tuple[str, ...]
) -> None:
    """Each value of a partition column names a folder: one too long fails the commit of the
    whole day (far from the row that made it), and an empty one reads back as null."""
    for column in partition_by:
        for value in pc.unique(table[column]).to_pylist():
            if value is None:
                continue
            text = str(value)
            if text == "":
                raise OutputError(
                    f"operator {op_name} output {output!r} has an empty {column!r}, a partition "
                    "column: a folder cannot tell it from null, so it would read back as null; "
                    "give null or a value"
                )
            problem = folder_name_problem(column, text)
            if problem:
                raise OutputError(
                    f"operator {op_name} output {output!r}: partition column {problem}: "
                    f"{text[:60]!r}...; change it in the operator (the built-in tables cut a "
                    "long value to 60 characters, `…` and 12 hex digits of its MD5)"
                )


def _check_unique(op_name: str, output: str, table: pa.Table, keys: tuple[str, ...]) -> None:
    """Rows repeating a key within one batch are refused before anything is committed (the
    asset check on the committed day also sees repeats across batches). The rows are sorted by
    the keys, so a repeat is the row before it; two null keys are equal, as in the check."""
    if (
        table.num_rows < 2
        or not keys
        or not all(sortable(table.schema.field(k).type) for k in keys)
    ):
        return
    same = None
    for key in keys:
        before, after = table[key].slice(0, table.num_rows - 1), table[key].slice(1)
        both_null = pc.and_(pc.is_null(before), pc.is_null(after))
        equal = pc.or_(pc.fill_null(pc.equal(before, after), False), both_null)
        same = equal if same is None else pc.and_(same, equal)
    repeats = pc.sum(same).as_py() or 0
    if repeats:
        first = pc.index(same, True).as_py() + 1
        example = {k: table[k][first].as_py() for k in keys}
        raise OutputError(
            f"operator {op_name} output {output!r} has {repeats} row(s) repeating the key of "
            f"another row, e.g. {example}: rows must be unique on the table's keys {list(keys)}"
        )


def _conform(
    op_name: str, output: str, table: pa.Table, schema: pa.Schema, keys: tuple[str, ...]
) -> pa.Table:
    partials = "partials (transform's table, shaped by partial_schema)"
    what = partials if output == PARTIALS else f"output {output!r}"
    if isinstance(table, pa.RecordBatchReader):  # what DuckDB's .arrow() gives
        table = table.read_all()
    elif not isinstance(table, pa.Table) and _is_table(table):
        table = _from_frame(f"operator {op_name} {what}", table)
    if not isinstance(table, pa.Table):
        raise OutputError(
            f"operator {op_name} {what} is {type(table).__name__}, not Arrow: {TO_ARROW}"
        )
    _check_columns(f"operator {op_name} {what}", table.schema, schema)
    try:
        table = table.select(schema.names).cast(schema)
    except (ValueError, pa.ArrowNotImplementedError) as exc:  # ArrowInvalid, nulls declared not
        column = next((f.name for f in schema if not _fits(table[f.name], f)), None)
        where = f" (column {column!r})" if column else ""
        raise OutputError(
            f"operator {op_name} {what} does not fit its schema{where}: {exc}"
        ) from None
    sort_keys = [(k, "ascending", "at_end") for k in keys if sortable(schema.field(k).type)]
    if table.num_rows and sort_keys:
        table = table.take(pc.sort_indices(table, sort_keys=sort_keys))
    return table.combine_chunks()


def _fits(values: pa.ChunkedArray, field: pa.Field) -> bool:
    if values.null_count and not field.nullable:
        return False
    try:
        values.cast(field.type)
    except (ValueError, pa.ArrowNotImplementedError):
        return False
    return True


def _check_columns(who: str, returned: pa.Schema, declared: pa.Schema) -> None:
    """Only conversions within a kind (int64 to float64, DuckDB's decimal sums to int64, time zone
    spellings) are made: a column of another kind, or one the schema lacks, is a mistake in the
    operator or its declaration that a silent cast or drop would hide until someone queries."""
    twice = sorted({c for c in returned.names if returned.names.count(c) > 1})
    if twice:
        raise OutputError(f"{who} has columns {twice} more than once; give each its own name")
    missing = [c for c in declared.names if c not in returned.names]
    extra = [c for c in returned.names if c not in declared.names]
    if missing or extra:
        problems = [f"lacks columns {missing}"] if missing else []
        if extra:
            problems.append(f"has columns {extra} its schema does not declare")
        fix = "; declare them in the TableSpec's schema or drop them" if extra else ""
        raise OutputError(f"{who} {' and '.join(problems)}{fix}")
    for field in declared:
        wrong = _mismatch(field.name, returned.field(field.name).type, field.type)
        if wrong is not None:
            path, got, want = wrong
            raise OutputError(
                f"{who} column {path!r} is {_named(got)}, declared {_named(want)}: convert it "
                "in the operator "
                "(a cast is made only within a kind: numbers, text, bytes, dates, timestamps, "
                "durations; a struct needs the declared fields)"
            )


Mismatch = tuple[str, pa.DataType, pa.DataType]


def _mismatch(path: str, got: pa.DataType, declared: pa.DataType) -> Mismatch | None:
    """Where a cast would change what the values mean (None: nowhere). Nested types by their
    children; a column of nulls (DuckDB's `NULL AS x`, `[]`) fits any type."""
    if pa.types.is_dictionary(got):
        got = got.value_type
    if pa.types.is_dictionary(declared):
        declared = declared.value_type
    if pa.types.is_null(got) or got == declared:
        return None
    if _is_list(got) and _is_list(declared):
        return _mismatch(f"{path}[]", got.value_type, declared.value_type)
    if pa.types.is_map(got) and pa.types.is_map(declared):
        return _mismatch(f"{path}.key", got.key_type, declared.key_type) or _mismatch(
            f"{path}.value", got.item_type, declared.item_type
        )
    if pa.types.is_struct(got) and pa.types.is_struct(declared):
        got_fields = {f.name: f.type for f in (got.field(i) for i in range(got.num_fields))}
        wanted = [declared.field(i) for i in range(declared.num_fields)]
        if set(got_fields) != {f.name for f in wanted}:
            return path, got, declared
        children = (_mismatch(f"{path}.{f.name}", got_fields[f.name], f.type) for f in wanted)
        return next((c for c in children if c is not None), None)
    kind = _kind(got)
    return None if kind is not None and kind == _kind(declared) else (path, got, declared)


def _named(arrow_type: pa.DataType) -> str:
    """Arrow's name of a type, and the kind of a text one: Polars' text is `string_view`."""
    return f"text ({arrow_type})" if _kind(arrow_type) == TEXT else str(arrow_type)


def _is_list(arrow_type: pa.DataType) -> bool:
    return any(test(arrow_type) for test in _LISTS)


def _kind(arrow_type: pa.DataType) -> int | None:
    return next((i for i, kind in enumerate(_KINDS) if any(t(arrow_type) for t in kind)), None)


_LISTS = (pa.types.is_list, pa.types.is_large_list, pa.types.is_fixed_size_list)
_KINDS = (
    (pa.types.is_integer, pa.types.is_floating, pa.types.is_decimal),  # numbers
    (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view),  # text
    (pa.types.is_binary, pa.types.is_large_binary, pa.types.is_binary_view),  # bytes
    (pa.types.is_date,),  # a timestamp cast to a date would lose its time of day
    (pa.types.is_timestamp,),
    (pa.types.is_duration,),
)
TEXT = 1  # the kind of text, in _KINDS


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
