"""One raw file's table in the EVENTS shape: each column cast to its raw type, value by value
where some values cannot be (their rows say why in `unreadable`), the folder's keys where the
file lacks them.
"""

import pyarrow as pa

from trajectory_assets.errors import BadRawFileError
from trajectory_assets.lake.raw import RawFile
from trajectory_assets.schema import EVENTS


class WrongType(Exception):
    """A column of a type that holds no value of its raw column's (a number where a time
    belongs: its unit is unknown), whatever its values: the writer's mistake, named by file."""


TYPE_ERRORS = (WrongType, pa.ArrowNotImplementedError)  # Arrow has no such cast
VALUE_ERRORS = (ValueError, TypeError)
"""What a value its column cannot hold raises: Arrow's (ArrowInvalid is a ValueError,
ArrowTypeError a TypeError), JSON's, a UUID's."""


def conform(table: pa.Table, f: RawFile) -> pa.Table:
    """One raw file in the EVENTS shape, with the folder's keys where the file lacks them.

    A value its column cannot hold (1007.6 tokens, a `ts` of "not a time", text that is not
    UTF-8) reads null and its row says why in `unreadable` (validation rejects it), so the rest
    of the file counts, whatever its neighbours. A column of a type no value of which its raw
    column can hold (a struct where text belongs, a number where a time does) is the writer's
    mistake, not a bad value: it fails the file, named."""
    n = table.num_rows
    read: dict[str, pa.Array | pa.ChunkedArray] = {}
    problems: dict[int, list[str]] = {}
    for field in EVENTS:
        name = field.name
        if name == "dt":
            read[name] = pa.array([f.dt] * n, pa.string())
        elif name == "source_file":
            read[name] = pa.array([f.path] * n, pa.string())
        elif name == "source_row":
            read[name] = pa.array(range(n), pa.int64())
        elif name in table.column_names:
            column = table.column(name)
            try:
                read[name] = _column(name, column, field.type, problems)
            except TYPE_ERRORS as exc:
                raise BadRawFileError(
                    f.path, f"column {name!r} has type {column.type}, expected {field.type} ({exc})"
                ) from None
        elif name in ("app_id", "session_id"):  # a folder of a null key names none: null
            read[name] = pa.array([getattr(f, name) or None] * n, pa.string())
        else:
            read[name] = pa.nulls(n, field.type)
    read["unreadable"] = pa.array([_joined(problems.get(i)) for i in range(n)], pa.string())
    return pa.Table.from_arrays([read[f.name] for f in EVENTS], schema=EVENTS)


def _column(
    name: str, column: pa.ChunkedArray, to: pa.DataType, problems: dict[int, list[str]]
) -> pa.Array | pa.ChunkedArray:
    """The column in its raw type; values it cannot hold null, with why added to `problems`."""
    try:
        return _readable(name, column, to)
    except VALUE_ERRORS:
        pieces: list[pa.Array] = []
        _halves(name, column.combine_chunks(), to, 0, pieces, problems)
        return pa.concat_arrays(pieces)


def _halves(
    name: str,
    values: pa.Array,
    to: pa.DataType,
    start: int,
    pieces: list[pa.Array],
    problems: dict[int, list[str]],
) -> None:
    """`values` (rows from `start`), which failed their cast, cast in halves down to the values
    that cannot be: k bad values of n cost about k·log2(n) casts, not n."""
    if len(values) == 1:
        pieces.append(pa.nulls(1, to))
        problems.setdefault(start, []).append(f"{name} {_shown(values)} cannot be read as {to}")
        return
    half = len(values) // 2
    # each half its own copy: a slice of a list keeps its parent's whole child data, whose
    # bad text (another half's) failed every half's check
    for offset, part in ((0, values.slice(0, half)), (half, values.slice(half))):
        part = pa.concat_arrays([part])
        try:
            pieces.append(_readable(name, pa.chunked_array([part]), to).combine_chunks())
        except VALUE_ERRORS:
            _halves(name, part, to, start + offset, pieces, problems)


def _joined(problems: list[str] | None) -> str | None:
    return "; ".join(problems) if problems else None


def _readable(name: str, column: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """`_cast`, and its text checked to be UTF-8, nested text too (an artifact's `uri`):
    Parquet readers take a writer's word for it."""
    cast = _cast(name, column, to)
    if _is_text(to) or pa.types.is_nested(to):
        cast.validate(full=True)
    return cast


def _shown(one: pa.Array) -> str:
    """A value as a rejected row's reason shows it: its text, or its bytes where the text is no
    UTF-8 (nested text too: an artifact's `uri`), cut to 60 characters."""
    try:
        text = repr(one[0].as_py())
    except (ValueError, OverflowError):  # not UTF-8, or a time Python cannot hold
        try:
            text = repr(one.cast(_as_bytes(one.type))[0].as_py())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            text = f"(a {one.type} value)"
    return text if len(text) <= 60 else text[:57] + "..."


def _as_bytes(kind: pa.DataType) -> pa.DataType:
    """`kind` with its text, nested text too, as bytes."""
    if _is_text(kind):
        return pa.binary()
    if pa.types.is_list(kind):
        return pa.list_(_as_bytes(kind.value_type))
    if pa.types.is_large_list(kind):
        return pa.large_list(_as_bytes(kind.value_type))
    if pa.types.is_struct(kind):
        return pa.struct([field.with_type(_as_bytes(field.type)) for field in kind])
    return kind


def _cast(name: str, column: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """A raw column in its raw type. Times are UTC (SPEC): a timestamp or text without a zone is
    taken as UTC, not as the machine's time, and nanoseconds (pandas' unit) are truncated to
    the microsecond; a number is no time (epoch milliseconds would read as microseconds); a
    payload written as a struct or map is its JSON text, artifacts written as JSON text their
    list; a UUID its usual text; any other cast that would change a value fails (1007.6
    tokens: ValueError, its row's problem)."""
    if column.null_count == len(column):  # no value a cast could change, whatever its type
        return pa.chunked_array([pa.nulls(len(column), to)])
    if name == "payload" and pa.types.is_nested(column.type):
        return pa.chunked_array([pa.array(map(_json_text, column.to_pylist()), pa.string())])
    if name == "artifacts" and _is_text(column.type):  # a writer without nested types
        return pa.chunked_array([pa.array(map(_json_value, column.to_pylist()), to)])
    if isinstance(column.type, pa.UuidType) and _is_text(to):  # DuckDB's, Java's, Rust's ids
        return pa.chunked_array([pa.array(map(_uuid_text, column.to_pylist()), pa.string())])
    if pa.types.is_timestamp(to) and pa.types.is_integer(column.type):
        raise WrongType("a number names no unit of time: write a timestamp")
    if _holds_bool(column.type) and not _holds_bool(to):  # Arrow reads true as 1, or "true"
        raise WrongType("true or false is no count, time or text")
    if pa.types.is_timestamp(to) and pa.types.is_timestamp(column.type):
        return column.cast(to, safe=column.type.unit != "ns")  # truncates below a microsecond
    if pa.types.is_timestamp(to) and _is_text(column.type):
        return _parsed_times(column.cast(pa.string()), to)
    return column.cast(to)


def _parsed_times(texts: pa.ChunkedArray, to: pa.DataType) -> pa.ChunkedArray:
    """ISO times: with a zone, or without one (UTC), to the microsecond; RFC 3339's nano form
    truncated to it first (Arrow's own parse of nanoseconds fails past 2262)."""
    import pyarrow.compute as pc

    texts = pc.replace_substring_regex(texts, pattern=r"(\.\d{6})\d+", replacement=r"\1")
    error: pa.ArrowInvalid | None = None
    for zone in ("UTC", None):
        try:
            return texts.cast(pa.timestamp("us", zone)).cast(to, safe=False)
        except pa.ArrowInvalid as exc:
            error = error or exc
    assert error is not None
    raise error


def _holds_bool(kind: pa.DataType) -> bool:
    """A true/false type, or one nesting one (an artifact's `kind` written as a flag)."""
    if pa.types.is_boolean(kind):
        return True
    return any(_holds_bool(kind.field(i).type) for i in range(kind.num_fields))


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
    null (JSON has none), times in ISO form; bytes have no JSON form (their row's problem)."""
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
