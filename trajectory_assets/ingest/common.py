"""What every way into the raw lake shares: the row shape, stable ids and JSON helpers (times:
`times`).

A row is a plain dict keyed by the RAW_EVENTS column names (every column present, missing values
None). `ts` is a timezone-aware `datetime` in UTC. Importers build rows with `event(...)`, so a
typo in a column name fails loudly instead of silently dropping a field.
"""

import contextlib
import datetime as dt
import gzip
import hashlib
import json
import math
import numbers
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeGuard

from trajectory_assets.errors import UnparseableFileError, first_few
from trajectory_assets.ingest.times import EPOCH
from trajectory_assets.lake.layout import id_problem
from trajectory_assets.schema import MAX_METRIC, NON_NEGATIVE, RAW_EVENTS, RAW_REQUIRED, Row

FOLDER_KEYS = ("app_id", "session_id")
"""The keys that name the raw lake's folders."""

COLUMNS: tuple[str, ...] = tuple(RAW_EVENTS.names)
_COLUMN_SET = frozenset(COLUMNS)
JSON_PAYLOAD_TYPES = frozenset({"decision", "eval_result"})


class LeftOut(UserWarning):
    """Lines of a source that may hold events and that an importer leaves out (a cut last
    line, lines of no known shape): `ingest` lists them beside the file, so nothing is lost
    without a word."""


class Unimportable(UserWarning):
    """A line or record of a source that cannot be an event (not JSON, a required field
    missing, a span without ids): importers warn with it and go on, and `ingest` keeps it with
    the reason under `_rejected/ingest/` while the file's valid events import."""

    def __init__(self, reason: str, record: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason = reason
        self.record = record  # as read; a line that is no JSON object as {"line": text}


def unimportable(reason: str, record: dict[str, Any]) -> None:
    warnings.warn(Unimportable(reason, record), stacklevel=2)


CUT_LAST_LINE = "the last line is cut off (as a file still being written ends)"


def left_out(what: str, lines: Sequence[int]) -> None:
    """Tell whoever imports that `lines` (numbers) of the file were left out, and why."""
    warnings.warn(f"{what}, left out: line {first_few(lines)}", LeftOut, stacklevel=2)


def event(event_type: str, *, event_id: str, session_id: str, ts: dt.datetime, **cols: Any) -> Row:
    """One raw event row with every RAW_EVENTS column; unknown column names raise."""
    unknown = set(cols) - _COLUMN_SET
    if unknown:
        raise KeyError(f"not RAW_EVENTS columns: {sorted(unknown)}")
    row: Row = dict.fromkeys(COLUMNS)
    row.update(cols)
    row["event_type"] = event_type
    row["event_id"] = event_id
    row["session_id"] = session_id
    row["ts"] = ts
    return row


def stable_id(fmt: str, *parts: object) -> str:
    """The same source event always gets the same id: a hash of its identity in the source format.

    `parts` must be identities the source itself carries (span ids, sample id and epoch, event
    positions), never the path of the file, so a copied or renamed file imports to the same ids.
    """
    text = "\x1f".join(str(p) for p in (fmt, *parts))
    return f"{fmt}-{hashlib.sha1(text.encode()).hexdigest()[:32]}"


def content_id(data: bytes) -> str:
    """A short content hash, for sources whose records carry no id of their own."""
    return hashlib.sha1(data).hexdigest()[:12]


def dumps(obj: Any) -> str:
    """Compact, strict JSON for payloads: values JSON has no type for (datetimes, ...) as text,
    numbers it cannot hold (NaN, infinities) as null, as JavaScript's JSON.stringify writes
    them, so every JSON reader parses the payload (Python's would write a bare `NaN`)."""
    try:
        return _strict(obj)
    except ValueError as exc:  # rare, so the common case pays nothing for the walk below
        if "Out of range float" not in str(exc):
            raise
        return _strict(_finite(obj))


def _strict(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)


def _finite(obj: Any) -> Any:
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {key: _finite(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(value) for value in obj]
    return obj


def to_int(value: Any) -> int | None:
    """Token counts arrive as ints, floats or strings ("269" in OTel attributes); an int or a
    whole number's text as it is (through a float, 99999999999999999999 became 10**20)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return int(value)
    number = to_float(value)
    return None if number is None else int(number)


def to_float(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def input_with_cache(
    input_tokens: int | None,
    cache_read: int | None,
    cache_write: int | None = None,
    *,
    output_tokens: int | None = None,
    total_tokens: int | None = None,
) -> tuple[int | None, bool]:
    """Tier A's `input_tokens` (every input token, cached ones included), and whether the source
    counted cache reads and writes apart from its input count.

    Sources disagree: OpenAI-style usage (OpenAI, LiteLLM, the OTel GenAI conventions) includes
    cached tokens in the input count, Anthropic-style usage (Anthropic's API, Inspect's Anthropic
    provider) does not. The numbers tell which: a stated total equal to input + output + reads +
    writes, or more cache reads and writes than input tokens, can only be the second; the counts
    are then added up. Anything else is taken as already inclusive.
    """
    if input_tokens is None:
        return None, False
    reads, writes = cache_read or 0, cache_write or 0
    if reads + writes == 0:
        return input_tokens, False
    exclusive = reads + writes > input_tokens  # whatever a total says: a total of input and
    # output alone (an instrumentation that leaves the cache out) made 100 cached of 10 input
    if not exclusive and total_tokens is not None and output_tokens is not None:
        exclusive = total_tokens == input_tokens + output_tokens + reads + writes
    return (input_tokens + reads + writes, True) if exclusive else (input_tokens, False)


ANTHROPIC_NESTED_COUNTS = {  # Tier A's payload key: where Anthropic's usage record has it
    "cache_write_1h_tokens": ("cache_creation", "ephemeral_1h_input_tokens"),
    "web_searches": ("server_tool_use", "web_search_requests"),
}
"""Counts an llm_call's payload keeps, read from Anthropic's usage (the Claude Code importer's
transcripts and the event logger's `usage=`)."""

TEXT_KEPT = 2_000
"""Characters of a message or text an importer keeps (a tool's whole output can be megabytes)."""


def clip(text: str, limit: int = TEXT_KEPT) -> str:
    """The text, or its first quarter and last three quarters of `limit` around a note of what
    was cut: a shell's or a compiler's error is at the end of its output, which cutting the tail
    lost (`E: Unable to locate package`), and the start says what ran."""
    head, tail = limit // 4, limit - limit // 4
    note = f"\n[… {len(text) - limit:,} characters cut …]\n"
    if len(text) <= limit + len(note) or tail == 0:  # cut, it would be no shorter
        return text
    return f"{text[:head]}{note}{text[-tail:]}"


def non_negative(value: float | None) -> float | None:
    """A duration computed from two clocks can come out negative; that is no duration at all."""
    return None if value is None or value < 0 else value


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes; `.gz` files are decompressed, so fixtures and archives can stay small."""
    data = Path(path).read_bytes()
    if str(path).endswith(".gz"):
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise UnparseableFileError(f"not a valid gzip file: {exc}") from None
    return data


def json_error(exc: json.JSONDecodeError, text: str) -> UnparseableFileError:
    """Where the JSON breaks, and the likely cause when it is a common one."""
    reason = f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
    if any(line.startswith(("<<<<<<< ", ">>>>>>> ")) for line in text.splitlines()):
        reason += " (the file holds git merge-conflict markers)"
    return UnparseableFileError(reason)


def decoded(data: bytes) -> str:
    """A file's bytes as UTF-8 text, or UnparseableFileError saying where they are not."""
    try:
        return data.decode()
    except UnicodeDecodeError as exc:
        raise UnparseableFileError(f"not UTF-8 text: {exc}") from None


def read_text(path: str | Path) -> str:
    return decoded(read_bytes(path))


def json_lines(text: str) -> list[str]:
    """The lines of JSON Lines text, cut at \n only (a \r before it dropped): str.splitlines
    would also cut at U+2028, U+2029 and U+0085, which JSON writers leave unescaped inside
    strings, and so break a valid line in two."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def json_documents(text: str) -> list[Any]:
    """JSON values one after another, whitespace between (JSON Lines; the indented objects back
    to back that OpenTelemetry's ConsoleSpanExporter writes to a file); JSONDecodeError where
    one breaks."""
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    at, end = 0, len(text)
    while True:
        while at < end and text[at].isspace():  # a blank line of any kind, as before
            at += 1
        if at == end:
            return docs
        doc, at = decoder.raw_decode(text, at)
        docs.append(doc)


def load_json(path: str | Path) -> Any:
    return parsed_json(read_text(path))


def parsed_json(text: str) -> Any:
    """One JSON document, or UnparseableFileError with the position of the first bad character."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise json_error(exc, text) from None
    except RecursionError:
        raise UnparseableFileError("JSON nested too deeply") from None


def base_name(path: str | Path) -> str:
    """The file name without `.gz` and without its format suffix."""
    name = Path(path).name
    if name.endswith(".gz"):
        name = name[:-3]
    return name.rsplit(".", 1)[0] if "." in name else name


def metric_problems(row: Mapping[str, Any]) -> list[str]:
    """Why a row's metrics and turn would be rejected (rules.md "Validation")."""
    reasons: list[str] = []
    for name in NON_NEGATIVE:
        value = row.get(name)
        if value is None:
            continue
        if not _number(value):
            reasons.append(f"{name} is not a number")
        elif value != value:  # NaN, told without making a float of a 400-digit int
            reasons.append(f"NaN {name}")
        elif value < 0:
            reasons.append(f"negative {name}")
        elif value == math.inf:
            reasons.append(f"infinite {name}")
        elif value > MAX_METRIC:
            reasons.append(f"{name} over 10^12")
    turn = row.get("turn_index")
    if _number(turn) and turn < 0:
        reasons.append("negative turn_index")
    return reasons


def _number(value: Any) -> TypeGuard[float]:
    """An int or a float, numpy's too (a count from pandas), not a bool."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def validate_row(row: Row) -> list[str]:
    """Why a row would be rejected by the pipeline (rules.md "Validation"); empty when it is fine.

    `ingest` checks every row with this before writing: an invalid one is kept aside with the
    reasons (`_rejected/ingest/`) rather than landing in raw_events for `rejected_events` to
    set aside later, so what the importer made of a source is reported at import.
    """
    reasons: list[str] = []
    for name in RAW_REQUIRED:
        value = row.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            reasons.append(f"null or empty {name}")
        elif name in FOLDER_KEYS and (problem := id_problem(name, str(value))):
            reasons.append(problem)
    ts = row.get("ts")
    if ts is not None and not isinstance(ts, dt.datetime):
        reasons.append("ts is not a datetime")
    elif isinstance(ts, dt.datetime) and ts.replace(tzinfo=ts.tzinfo or dt.UTC) < EPOCH:
        reasons.append("ts before 1970-01-01")  # no day of the lake's partitions names it
    reasons += metric_problems(row)
    if row.get("event_type") in JSON_PAYLOAD_TYPES:
        payload = row.get("payload")
        try:
            parsed = json.loads(payload) if isinstance(payload, str) else None
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            reasons.append(f"payload of {row.get('event_type')} is not a JSON object")
    elif row.get("payload") is not None and not isinstance(row.get("payload"), str):
        reasons.append("payload is not a string")
    return reasons
