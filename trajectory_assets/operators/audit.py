"""The independent recount behind the sessions checks, taken per batch from the very events the
operator reads, so a check never reads the raw data again.

Its query re-derives, apart from the operators' SQL (operators/events.py), what the tables must
add up to, so a regression in an operator shows up as a failed check rather than as quietly
wrong numbers.
"""

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.operators.events import CACHE_WRITE_TOKENS
from trajectory_assets.schema import COUNTER_COLUMNS, EVENT_TYPES, NON_NEGATIVE

KNOWN_TYPES = ", ".join(f"'{t}'" for t in EVENT_TYPES)
"""The event types some table reads, as a SQL list."""
_CALL_FIELDS = " OR ".join(f"{c} IS NOT NULL" for c in ("model", "tool_name", *NON_NEGATIVE))
"""What only a call carries: its model or tool, tokens, latencies."""
_FIRST = "(ts, coalesce(seq, 9223372036854775807), source_file, source_row)"
"""The order in which a re-sent event's first copy, the one the tables keep, comes first."""

RECOUNT = f"""
WITH valid AS (
    SELECT e.*, coalesce(e.cache_tokens, 0) + coalesce(CASE WHEN e.event_type = 'llm_call'
            THEN {CACHE_WRITE_TOKENS} END, 0) AS cached
    FROM events e ANTI JOIN rejected r USING (source_file, source_row)
),
copies AS (
    SELECT count(*) AS conflicting FROM (
        SELECT 1 FROM valid GROUP BY app_id, session_id, event_id
        HAVING count(DISTINCT hash({{content}})) > 1
    )
),
firsts AS (
    SELECT app_id, session_id, event_id,
        arg_min_null(turn_index, {_FIRST}) AS turn_index,
        arg_min_null(struct_pack(
                i := CASE WHEN event_type = 'llm_call' AND cached > input_tokens
                     THEN input_tokens + cached ELSE input_tokens END,
                o := output_tokens, c := cache_tokens),
                {_FIRST}) AS tokens,
        arg_min_null(event_type NOT IN ({KNOWN_TYPES}) AND ({_CALL_FIELDS}),
                {_FIRST}) AS unknown_call
    FROM valid GROUP BY app_id, session_id, event_id
)
SELECT (SELECT count(*) FROM events) AS raw_rows,
       (SELECT count(*) FROM rejected) AS rejected_rows,
       count(*) AS valid_events,
       coalesce(sum(tokens.i) FILTER (WHERE turn_index IS NULL), 0) AS i,
       coalesce(sum(tokens.o) FILTER (WHERE turn_index IS NULL), 0) AS o,
       coalesce(sum(tokens.c) FILTER (WHERE turn_index IS NULL), 0) AS c,
       (SELECT conflicting FROM copies) AS conflicting,
       count(*) FILTER (WHERE unknown_call) AS unknown_types
FROM firsts
"""
"""Valid events: raw rows not listed in rejected_events, one per (session, event_id), the first
by (ts, seq, file, row) — written independently of operators/events.py on purpose (only how a
payload's cache writes are read is shared); an llm_call's input counts its cache reads and
writes, added when it has fewer (rules.md). Conflicting:
events whose valid copies (the same event_id re-sent) differ in any column the batch read."""

UNKNOWN_TYPES = "unknown_type_calls"
"""The audit's count of events whose kept copy is of a type no table reads (SPEC keeps them,
counted in `n_events` only) and carries a call's fields (a model, tokens, a latency, a tool):
`llm_cal` for `llm_call` hides a call's cost, and `event_types_known` says so; a `heartbeat`
is no call."""

CONFLICTING = "conflicting_events"
"""The audit's count of events re-sent with other content: the tables keep the first copy in
event order, and the `re_sent_events_agree` check says how many."""

NOT_CONTENT = ("dt", "source_file", "source_row", *COUNTER_COLUMNS)
"""Where a copy was filed, not what it says: copies of one event differ there by nature; and
the producer's counter (`schema.COUNTER_COLUMNS`): the tables keep the first copy's."""


def recount(events: pa.Table, rejected: pa.Table) -> dict[str, int]:
    """raw_rows, rejected_rows, valid_events, the input, output and cache tokens of valid
    events outside any turn (what turns cannot account for), and the conflicting events, of one
    batch."""
    names = [n.replace('"', '""') for n in events.schema.names if n not in NOT_CONTENT]
    content = ", ".join(f'"{n}"' for n in names)
    batch = Batch({"events": events, "rejected": rejected})
    try:
        row = batch.sql(RECOUNT.format(content=content)).to_pylist()[0]
    finally:
        batch.close()
    return {
        "raw_rows": int(row["raw_rows"]),
        "rejected_rows": int(row["rejected_rows"]),
        "valid_events": int(row["valid_events"]),
        "unturned_input_tokens": int(row["i"]),
        "unturned_output_tokens": int(row["o"]),
        "unturned_cache_tokens": int(row["c"]),
        CONFLICTING: int(row["conflicting"]),
        UNKNOWN_TYPES: int(row["unknown_types"]),
    }
