"""One raw file's table in the EVENTS shape: each column cast to its raw type, value by value
where some values cannot be (their rows say why in `unreadable`), the folder's keys where the
file lacks them.
"""

import pyarrow as pa

from trajectory_assets.errors import BadRawFileError
from trajectory_assets.lake.raw import RawFile
from trajectory_assets.schema import EVENTS

CAST_ERRORS = (ValueError, TypeError, pa.ArrowNotImplementedError)
"""What a value its column cannot hold raises: Arrow's (ArrowInvalid is a ValueError,
ArrowTypeError a TypeError), JSON's, a UUID's."""


def conform(table: pa.Table, f: RawFile) -> pa.Table:
    """One raw file in the EVENTS shape, with the folder's keys where the file lacks them.

    A column whose values cannot all be read into its type is read value by value: those that
    cannot (1007.6 tokens, a `ts` of "not a time", text that is not UTF-8) read null and their
    rows say why in `unreadable` (validation rejects them), so the rest of the file counts.
    A column none of whose values can be read is the writer's type, not a bad value: it fails
    the file, named."""
    n = table.num_rows
    columns: list[pa.Array] = []
    problems: dict[int, list[str]] = {}
    for field in EVENTS:
        name = field.name
        if name == "dt":
            columns.append(pa.array([f.dt] * n, pa.string()))
        elif name == "source_file":
            columns.append(pa.array([f.path] * n, pa.string()))
        elif name == "source_row":
            columns.append(pa.array(range(n), pa.int64()))
        elif name == "unreadable":
            columns.append(pa.array([_joined(problems.get(i)) for i in range(n)], pa.string()))
        elif name in table.column_names:
            column = table.column(name)
            try:
                columns.append(_readable(name, column, field.type))
            except CAST_ERRORS as exc:
                values, bad = _each_value(name, column.combine_chunks(), field.type)
                if len(bad) == len(column) - column.null_count:
                    raise BadRawFileError(
                        f.path,
                        f"column {name!r} has type {column.type}, expected {field.type} ({exc})",
                    ) from None
                columns.append(values)
                for row, problem in bad.items():
                    problems.setdefault(row, []).append(problem)
        elif name in ("app_id", "session_id"):
            columns.append(pa.array([getattr(f, name)] * n, pa.string()))
        else:
            columns.append(pa.nulls(n, field.type))
    return pa.Table.from_arrays(columns, schema=EVENTS)


def _joined(problems: list[str] | None) -> str | None:
    return "; ".join(problems) if problems else None


def _readable(name: str, column: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """`_cast`, and text checked to be UTF-8 (Parquet readers take a writer's word for it)."""
    cast = _cast(name, column, to)
    if _is_text(to):
        cast.validate(full=True)
    return cast


def _each_value(name: str, column: pa.Array, to: pa.DataType) -> tuple[pa.Array, dict[int, str]]:
    """The column cast value by value: null where a value cannot be, with why (by row)."""
    pieces: list[pa.Array] = []
    bad: dict[int, str] = {}
    for row in range(len(column)):
        one = column.slice(row, 1)
        try:
            pieces.append(_readable(name, pa.chunked_array([one]), to).chunk(0))
        except CAST_ERRORS:
            pieces.append(pa.nulls(1, to))
            bad[row] = f"{name} {_shown(one)} cannot be read as {to}"
    return pa.concat_arrays(pieces), bad


def _shown(one: pa.Array) -> str:
    """A value as a rejected row's reason shows it: its text, or its bytes where the text is no
    UTF-8, cut to 60 characters."""
    try:
        text = repr(one[0].as_py())
    except (ValueError, OverflowError):  # not UTF-8, or a time Python cannot hold
        try:
            text = repr(one.cast(pa.binary())[0].as_py())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = f"(a {one.type} value)"
    return text if len(text) <= 60 else text[:57] + "..."


def _cast(name: str, column: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """A raw column in its raw type. Times are UTC (SPEC): a timestamp or text without a zone is
    taken as UTC, not as the machine's time, and nanoseconds (pandas' unit) are truncated to
    the microsecond; a number is no time (epoch milliseconds would read as microseconds); a
    payload written as a struct or map is its JSON text, artifacts written as JSON text their
    list; a UUID its usual text; any other cast that would change a value fails (1007.6
    tokens)."""
    if column.null_count == len(column):  # no value a cast could change, whatever its type
        return pa.chunked_array([pa.nulls(len(column), to)])
    if name == "payload" and pa.types.is_nested(column.type):
        return pa.chunked_array([pa.array(map(_json_text, column.to_pylist()), pa.string())])
    if name == "artifacts" and _is_text(column.type):  # a writer without nested types
        return pa.chunked_array([pa.array(map(_json_value, column.to_pylist()), to)])
    if isinstance(column.type, pa.UuidType) and _is_text(to):  # DuckDB's, Java's, Rust's ids
        return pa.chunked_array([pa.array(map(_uuid_text, column.to_pylist()), pa.string())])
    if pa.types.is_timestamp(to) and pa.types.is_integer(column.type):
        raise pa.ArrowInvalid("a number names no unit of time: write a timestamp")
    if pa.types.is_timestamp(to) and pa.types.is_timestamp(column.type):
        return column.cast(to, safe=column.type.unit != "ns")  # truncates below a microsecond
    if pa.types.is_timestamp(to) and _is_text(column.type):
        return _parsed_times(column.cast(pa.string()), to)
    return column.cast(to)


def _parsed_times(texts: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """ISO times: with a zone, or without one (UTC), to the microsecond or the nanosecond
    (RFC 3339's nano form, truncated)."""
    error: pa.ArrowInvalid | None = None
    for unit in ("us", "ns"):
        for zone in ("UTC", None):
            try:
                return texts.cast(pa.timestamp(unit, zone)).cast(to, safe=False)
            except pa.ArrowInvalid as exc:
                error = error or exc
    assert error is not None
    raise error


def _is_text(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_string_view(kind)
    )


def _uuid_text(value: object) -> str | None:
    """A UUID's usual text (`xxxxxxxx-xxxx-...`): a cast to text took its 16 bytes for UTF-8."""
    return None if value is None else str(value)


def _json_value(text: str | None) -> object:
    """A column written as JSON text, parsed (ValueError when it is not JSON)."""
    import json

    return None if text is None else json.loads(text)


def _json_text(value: object) -> str | None:
    """A nested payload value as the JSON a producer writing text would have written."""
    import json

    return None if value is None else json.dumps(_plain(value), separators=(",", ":"))


def _plain(value: object) -> object:
    """JSON's values for Arrow's: a struct's null fields are absent (a writer inferring one
    struct type for a file gives each row every key any row has, so a call's arguments, and
    their hash, depended on its neighbours), a map (pairs) is an object, NaN and infinities
    null (JSON has none), times in ISO form; bytes have no JSON form and fail the file."""
    import datetime as dt
    import decimal
    import math

    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, list) and value and all(isinstance(v, tuple) for v in value):
        return {str(k): _plain(v) for k, v in value}  # a map's entries
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float | decimal.Decimal):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        raise pa.ArrowInvalid("the payload holds bytes, which have no JSON form")
    return value
