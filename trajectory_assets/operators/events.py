"""Validation, de-duplication and event order of raw events, shared by every raw-based operator.

Rules (rules.md "Validation"): a row with a value its file held that its column cannot (the
reader names it in `unreadable`), a null or empty key, a key other than its file's folder names
(a folder of a null key names none), a negative, NaN, infinite or absurd (over 10^12) metric, a
negative `turn_index`, or a `decision`/`eval_result` payload that is not a JSON object is
rejected with every reason that applies. Among valid rows, duplicate `event_id`s inside a
session are one event: the first in event order is kept. Event order is `(ts, seq, event_id)`,
null `seq` last.
"""

import pyarrow as pa

from trajectory_assets.schema import (
    FLOAT_METRICS,
    MAX_METRIC,
    NON_NEGATIVE,
    NULL_PARTITION,
    RAW_EVENTS,
    RAW_REQUIRED,
    TIME_YEARS,
)

VALIDATION_COLUMNS = (*RAW_REQUIRED, *NON_NEGATIVE, "turn_index", "seq", "payload")
"""The raw columns validation, de-duplication and event order read: the least any raw-based
operator can read."""

EVENT_ORDER = "ts, seq ASC NULLS LAST, event_id"
SESSION = "app_id, session_id"

_JSON_EVENT = "event_type IN ('decision', 'eval_result')"

_STRINGS = r"""'"(?:[^"\\]|\\.)*"'"""
_VALUES = r"""'true|false|null|NaN|Infinity|\d[\d.eE+-]*'"""
_STRICT_JSON = (
    "(json_valid(payload) AND NOT regexp_matches(regexp_replace(regexp_replace(regexp_replace("
    f"payload, {_STRINGS}, '0', 'g'), '-\\s*NaN', 'x', 'g'), {_VALUES}, '0', 'g'), "
    "'[A-Za-z]|,\\s*[\\]}]'))"
)
"""SQL: the payload is JSON as a JSON parser reads it, and as Python's `json.dumps` writes it
(`NaN`, `Infinity`, `-Infinity`): DuckDB's `json_valid` also takes trailing commas, `-NaN`, and
`nan`, `inf` in any case, which `jq`, JavaScript and Python refuse. What is left once strings
and the values JSON spells are gone shows them. (A lone surrogate escape, `"\\ud83d"`, which
Python reads, is no JSON to DuckDB, nor to `jq`.)"""


def folder_key(key: str) -> str:
    """The key (`app_id`, `session_id`) a raw row's file's folder names, decoded as the listing
    decodes it; '' where the path has no such folder. Cheaper per row than a regular expression,
    and a folder name that is not UTF-8 once decoded is taken as it is rather than failing."""
    named = f"split_part(split_part(source_file, '/{key}=', 2), '/', 1)"
    return f"coalesce(try(url_decode({named})), {named})"


def _null_folder(key: str) -> str:
    """SQL: the row's file is in a folder of a null or empty `key`, which names no session."""
    return (
        f"(contains(source_file, '/{key}={NULL_PARTITION}/') OR contains(source_file, '/{key}=/'))"
    )


_checks = (
    ["unreadable"]
    + [
        f"CASE WHEN {c} IS NULL OR trim(CAST({c} AS VARCHAR)) = '' THEN 'null or empty {c}' END"
        for c in RAW_REQUIRED
    ]
    + [f"CASE WHEN {c} < 0 THEN 'negative {c}' END" for c in NON_NEGATIVE]
    + [
        f"CASE WHEN isnan({c}) THEN 'NaN {c}' WHEN {c} = 'inf'::DOUBLE THEN 'infinite {c}' END"
        for c in FLOAT_METRICS
    ]
    + [
        f"CASE WHEN {c} > {MAX_METRIC} AND {c} < 'inf'::DOUBLE THEN '{c} over 10^12' END"
        for c in NON_NEGATIVE
    ]
    + [
        f"CASE WHEN ts < '{TIME_YEARS[0]:04d}-01-01 00:00:00+00'::TIMESTAMPTZ "
        f"OR ts >= '{TIME_YEARS[1] + 1}-01-01 00:00:00+00'::TIMESTAMPTZ "
        f"THEN 'ts outside the years {TIME_YEARS[0]} to {TIME_YEARS[1]}' END"
    ]
    + ["CASE WHEN turn_index < 0 THEN 'negative turn_index' END"]
    + [
        f"CASE WHEN trim({key}) <> '' AND ({folder_key(key)} NOT IN ('', {key}) "
        f"OR {_null_folder(key)}) THEN '{key} differs from its folder''s' END"
        for key in ("app_id", "session_id")
    ]
    + [
        f"CASE WHEN {_JSON_EVENT} AND payload IS NULL THEN 'missing payload for ' || event_type "
        f"WHEN {_JSON_EVENT} AND NOT coalesce({_STRICT_JSON}, false) "
        "THEN 'invalid JSON payload for ' || event_type "
        f"WHEN {_JSON_EVENT} AND json_type(payload) <> 'OBJECT' "
        "THEN 'payload of ' || event_type || ' is not a JSON object' END"
    ]
)

CHECKED = f"""
SELECT *, concat_ws('; ', {", ".join(_checks)}) AS reject_reason FROM events
"""


def _json_value(field: pa.Field) -> str:
    """A raw column as a strict JSON value: a NaN or infinite float, often why the row is
    here, as the text "NaN", "Infinity" or "-Infinity" (a bare NaN is no JSON: `jq` and
    JavaScript's JSON.parse refused the row that explains it)."""
    c: str = field.name
    if not pa.types.is_floating(field.type):
        return c
    text = f"CASE WHEN isnan({c}) THEN 'NaN' WHEN {c} > 0 THEN 'Infinity' ELSE '-Infinity' END"
    return f"CASE WHEN {c} IS NULL OR isfinite({c}) THEN to_json({c}) ELSE to_json({text}) END"


_raw_row = ", ".join(f"'{f.name}': {_json_value(f)}" for f in RAW_EVENTS)

REJECTED = f"""
SELECT dt,
       CASE WHEN {_null_folder("app_id")} THEN NULL
            ELSE coalesce(nullif({folder_key("app_id")}, ''), app_id) END AS app_id,
       source_file, source_row, event_id, reject_reason AS reason,
       to_json({{{_raw_row}}}) AS "row"
FROM ({CHECKED}) WHERE reject_reason <> ''
"""

FOLDER_BYTES = 200
"""The longest value a partition folder name takes whole (`column=` and the value URL-encoded,
at most 255 bytes in a file system)."""


def folder_safe(text: str) -> str:
    """A text that names a partition folder: empty is null (a folder cannot tell them apart),
    and one longer than FOLDER_BYTES encoded is cut to its first 60 characters (16 when those
    take over 180 bytes encoded) and `…` and 12 hex digits of its MD5, so distinct values stay
    distinct: a stringified exception as `error_type` would otherwise fail the whole day's
    commit, and so would the name of a null folder (`__HIVE_DEFAULT_PARTITION__`), which is cut
    the same way."""
    cut = (
        f"CASE WHEN strlen(url_encode(left({text}, 60))) <= 180 THEN left({text}, 60) "
        f"ELSE left({text}, 16) END || '…' || left(md5({text}), 12)"
    )
    return (
        f"CASE WHEN trim({text}) = '' THEN NULL WHEN {text} = '{NULL_PARTITION}' THEN {cut} "
        f"WHEN strlen(url_encode({text})) <= {FOLDER_BYTES} THEN {text} ELSE {cut} END"
    )


def payload_count(key: str) -> str:
    """SQL: the payload's `key` where it is a whole number from 0 to 10^12, as token counts are
    (`500.0`, as a producer's pandas or float arithmetic writes it, is one too); else null."""
    value = f"try_cast(json_extract(payload, '$.{key}') AS DOUBLE)"
    return f"""
CASE WHEN contains(payload, '{key}') AND json_valid(payload)
      AND json_type(payload, '$.{key}') IN ('UBIGINT', 'DOUBLE')
      AND {value} BETWEEN 0 AND 1000000000000 AND {value} = floor({value})
     THEN CAST({value} AS BIGINT) END"""


CACHE_WRITE_TOKENS = payload_count("cache_write_tokens")
"""Input tokens written to the cache (the importers write it), which most providers charge
above the input rate; `cache_write_1h_tokens` are those of them written for an hour."""

_CACHED = "coalesce(cache_tokens, 0) + coalesce(cache_write_tokens, 0)"

CLEAN = f"""
SELECT * EXCLUDE (reject_reason, dup_rank) REPLACE (
        CASE WHEN cache_added_to_input THEN input_tokens + {_CACHED} ELSE input_tokens END
            AS input_tokens),
       row_number() OVER (PARTITION BY {SESSION} ORDER BY {EVENT_ORDER}) AS rn
FROM (
    SELECT *, coalesce(event_type = 'llm_call' AND {_CACHED} > input_tokens, false)
            AS cache_added_to_input,
        row_number() OVER (
            PARTITION BY {SESSION}, event_id ORDER BY {EVENT_ORDER}, source_file, source_row
        ) AS dup_rank
    FROM (
        SELECT *, CASE WHEN event_type = 'llm_call' THEN {CACHE_WRITE_TOKENS} END
            AS cache_write_tokens
        FROM ({CHECKED}) WHERE reject_reason = ''
    )
) WHERE dup_rank = 1
"""
"""Valid, de-duplicated events with `rn`, the 1-based position in the session's event order,
and an llm_call's `cache_write_tokens`. `input_tokens` counts cached tokens too (Tier A): an
llm_call with more cache reads and writes than input tokens breaks that, and all but certainly
comes from a producer that counted them apart (Anthropic's usage, passed on as it is), so they
are added to its input (`cache_added_to_input`), as the importers and the event logger do on
arrival. One with fewer cannot be told from a call of the contract and is taken as it is; one
that counted its reads in and its writes apart has its reads added twice."""


def payload(key: str, column: str = "payload") -> str:
    """A payload key as text; null when absent or when the payload is not valid JSON."""
    return f"CASE WHEN json_valid({column}) THEN json_extract_string({column}, '$.{key}') END"


def verdict(text: str) -> str:
    """A grader's `passed` as a bool: true or false (`"yes"`, `"t"` and the like, as DuckDB
    casts text, white space aside as a number's is), or a number that is 1 or 0 however written
    (`1.0`, `"1"`: pandas and float arithmetic write a bool so); anything else (`0.5`, a score)
    is no verdict, null."""
    number = f"TRY_CAST({text} AS DOUBLE)"
    return (
        f"coalesce(TRY_CAST(trim({text}, ' \t\n\r') AS BOOLEAN), "
        f"CASE WHEN {number} = 1 THEN true WHEN {number} = 0 THEN false END)"
    )


def not_blank(text: str) -> str:
    """Null for a blank text (empty or spaces), which no producer means as a value."""
    return f"CASE WHEN trim({text}) <> '' THEN {text} END"


def finite_score(score: str) -> str:
    """A score that sums exactly (`exact_sum`): null when NaN, infinite or beyond ±MAX_METRIC,
    which no scorer means and which would fail the day's decimal sums."""
    return f"CASE WHEN isfinite({score}) AND abs({score}) <= {MAX_METRIC} THEN {score} END"


EXACT = "DECIMAL(38, 18)"
EXACT_TYPE = pa.decimal128(38, 18)
"""How partial float sums are kept between batches (the type of `exact_total` in Arrow)."""


def exact_total(expression: str) -> str:
    """The decimal sum behind `exact_sum`, for a partial that is summed again later: casting it
    back to a double would round it, and that rounding would depend on the batching."""
    return f"sum(CAST({expression} AS {EXACT}))"


def exact_sum(expression: str) -> str:
    """A float sum that does not depend on the order of its terms: summed as a decimal, so a day
    split into other batches (or read from raw_compacted) sums to the very same double."""
    return f"CAST({exact_total(expression)} AS DOUBLE)"


def exact_mean(expression: str) -> str:
    """`avg` whose result does not depend on the order of its terms (see `exact_sum`)."""
    return f"({exact_sum(expression)} / count({expression}))"
