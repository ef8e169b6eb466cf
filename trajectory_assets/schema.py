"""The raw event contract (Tier A), and how any table declares its own contract.

Tier B tables are declared next to the operators that write them (`TableSpec`s in their
modules); this module holds what every layer shares: the raw columns and validation rules, the
column types, and the declaration type itself.
"""

from dataclasses import dataclass
from typing import Any

import pyarrow as pa

TS = pa.timestamp("us", tz="UTC")
ARTIFACTS = pa.list_(pa.struct([("kind", pa.string()), ("uri", pa.string())]))
STRINGS = pa.list_(pa.string())

EVENT_TYPES = (
    "session_start",
    "session_end",
    "user_message",
    "agent_message",
    "llm_call",
    "tool_call",
    "error",
    "decision",
    "eval_result",
)

DESCRIPTION = "description"
"""The field metadata key that holds a column's meaning."""
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
"""The folder name of a null partition value (Hive's rule, which Spark and delta-rs follow): a
value spelled like it cannot name a folder."""
NO_APP = "(no app_id)"
"""How the checks and the report name the app of rejected rows whose folder names none (a
folder of a null or empty `app_id`)."""


def sortable(kind: pa.DataType) -> bool:
    """Whether a column of this type can order rows: lists, structs and maps have no order."""
    return not pa.types.is_nested(kind)


def column(name: str, type: pa.DataType, meaning: str, *, nullable: bool = True) -> pa.Field:
    """A column and what it means: the meaning travels in the field's metadata, into the Delta
    schema, the Dagster UI's column schema and docs/tables.md."""
    return pa.field(name, type, nullable=nullable, metadata={DESCRIPTION: meaning})


# The key columns most session-grained tables start with, declared once so every table means
# the same by them.
SESSION_DAY = column("dt", pa.string(), "The UTC date of the session's first event (YYYY-MM-DD).")
APP_ID = column("app_id", pa.string(), "The application, as in the raw events.")
SESSION_ID = column("session_id", pa.string(), "The session, as in the raw events.")


RAW_EVENTS = pa.schema(
    [
        column(
            "event_id",
            pa.string(),
            "Unique per app: the idempotency key; duplicates in a session are one event, the "
            "first in event order kept.",
            nullable=False,
        ),
        column(
            "app_id",
            pa.string(),
            "Application that produced the event (in Tier A also the `app_id=` folder).",
            nullable=False,
        ),
        column(
            "session_id",
            pa.string(),
            "Session the event belongs to (in Tier A also the `session_id=` folder).",
            nullable=False,
        ),
        column("ts", TS, "When the event happened.", nullable=False),
        column(
            "seq",
            pa.int64(),
            "Producer's sequence number inside the session: orders events of equal `ts` (a null "
            "`seq` after any non-null one).",
        ),
        column(
            "event_type",
            pa.string(),
            "What happened: one of the event types listed under Tier A; unknown types are kept "
            "(and count in `n_events`).",
            nullable=False,
        ),
        column(
            "turn_index",
            pa.int32(),
            "0-based turn of the session; null for session-level events.",
        ),
        column("agent_id", pa.string(), "Agent that emitted the event."),
        column(
            "request_id",
            pa.string(),
            "The provider's id of the request (an llm response id, a tool call id), as the "
            "producer reports it.",
        ),
        column("model", pa.string(), "Model name, for `llm_call` and `eval_result`."),
        column("tool_name", pa.string(), "Tool called, for `tool_call`."),
        column("ttft_ms", pa.float64(), "Time to first token of an `llm_call`, ms."),
        column("latency_ms", pa.float64(), "Latency of an `llm_call`, ms."),
        column("tool_latency_ms", pa.float64(), "Time the tool took, ms."),
        column(
            "input_tokens",
            pa.int64(),
            "Every input token of the call, cached ones included.",
        ),
        column("output_tokens", pa.int64(), "Output tokens of the call."),
        column(
            "cache_tokens",
            pa.int64(),
            "Those of `input_tokens` served from cache (so `cache_tokens <= input_tokens`).",
        ),
        column(
            "error_type",
            pa.string(),
            "Error class; any event with a non-null `error_type` is an error.",
        ),
        column("error_code", pa.string(), "Error code as reported (e.g. an HTTP status)."),
        column(
            "payload",
            pa.string(),
            "Event details as a JSON string, its keys by `event_type` (listed under Tier A).",
        ),
        column(
            "artifacts",
            ARTIFACTS,
            "Out-of-band pointers (`kind`, `uri`): stdout, stderr, diff, screenshot.",
        ),
    ]
)

"""Tier A as producers write it. `dt` is not a column of the files: it is the folder."""

Row = dict[str, Any]
"""A raw event as importers and producers build it: RAW_EVENTS' columns by name."""

RAW_REQUIRED = ("event_id", "app_id", "session_id", "ts", "event_type")
NON_NEGATIVE = (
    "ttft_ms",
    "latency_ms",
    "tool_latency_ms",
    "input_tokens",
    "output_tokens",
    "cache_tokens",
)

CALL_PAYLOAD_COUNTS = ("cache_write_tokens", "cache_write_1h_tokens", "web_searches")
"""The counts an llm_call keeps in its payload, which the tables read and price: cache writes,
those of them kept for an hour, server-side web searches."""

MAX_METRIC = 10**12
"""A token count or a latency (ms) over this is a placeholder or a unit mistake, not a value: a
trillion tokens in one call, 31 years in one call. Below it, a session's sums cannot overflow."""

COUNTER_COLUMNS = ("seq",)
"""The producer's counter, which a retry that logs an event again numbers anew (the event
logger does): copies of one event that differ there alone say the same."""

TIME_YEARS = (1, 9999)
"""A `ts` outside these years is a unit mistake (epoch milliseconds read as seconds: the year
58851), not a time: Python's, Java's and JavaScript's date types, and Delta's statistics,
hold none."""

FLOAT_METRICS = ("ttft_ms", "latency_ms", "tool_latency_ms")
"""NaN in these is rejected too: a NaN would turn every percentile and ratio it touches into NaN."""

EVENTS = pa.schema(
    [
        column(
            "dt",
            pa.string(),
            "The `dt=` folder the row was read from (YYYY-MM-DD): the UTC date of its "
            "session's first event.",
        ),
        *[f.with_nullable(True) for f in RAW_EVENTS],
        column(
            "source_file",
            pa.string(),
            "The raw file the row was read from, relative to the lake root.",
        ),
        column("source_row", pa.int64(), "The row's 0-based position in `source_file`."),
        column(
            "unreadable",
            pa.string(),
            "Why a value of the row could not be read into its raw column (the value and the "
            "type it should have: `input_tokens 1007.6 cannot be read as int64`), which then "
            "reads null; the row is rejected with it. Null when every value was read.",
        ),
    ]
)
"""Raw events as the operators see them: every file conformed to RAW_EVENTS (nullable, since
validation happens in the operators), plus the `dt` folder and where each row came from."""


@dataclass(frozen=True)
class TableSpec:
    """A table's contract: its name, its columns, its partition columns below `dt`, its key
    (rows are unique on it, and sorted by it in every file) and what one row is.

    Every Tier B table has a `dt` column (the day it belongs to) and is partitioned by it first;
    `partition_by` lists the partition columns after `dt`.
    """

    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    keys: tuple[str, ...]
    description: str = ""

    @property
    def columns(self) -> dict[str, str]:
        """Column name → meaning, for the columns that declare one."""
        found = {}
        for f in self.schema:
            meaning = (f.metadata or {}).get(DESCRIPTION.encode())
            if meaning:
                found[f.name] = meaning.decode()
        return found
