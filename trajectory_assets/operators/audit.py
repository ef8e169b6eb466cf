"""The independent recount behind the sessions checks, taken per batch from the very events the
operator reads, so a check never reads the raw data again.

Its query re-derives, apart from the operators' SQL (operators/events.py), what the tables must
add up to, so a regression in an operator shows up as a failed check rather than as quietly
wrong numbers.
"""

import pyarrow as pa

from trajectory_assets.batch import Batch

RECOUNT = """
WITH valid AS (
    SELECT e.* FROM events e ANTI JOIN rejected r USING (source_file, source_row)
),
firsts AS (
    SELECT app_id, session_id, event_id,
        arg_min_null(turn_index, (ts, coalesce(seq, 9223372036854775807), source_file, source_row))
            AS turn_index,
        arg_min_null(struct_pack(i := input_tokens, o := output_tokens, c := cache_tokens),
                (ts, coalesce(seq, 9223372036854775807), source_file, source_row)) AS tokens
    FROM valid GROUP BY app_id, session_id, event_id
)
SELECT (SELECT count(*) FROM events) AS raw_rows,
       (SELECT count(*) FROM rejected) AS rejected_rows,
       count(*) AS valid_events,
       coalesce(sum(tokens.i) FILTER (WHERE turn_index IS NULL), 0) AS i,
       coalesce(sum(tokens.o) FILTER (WHERE turn_index IS NULL), 0) AS o,
       coalesce(sum(tokens.c) FILTER (WHERE turn_index IS NULL), 0) AS c
FROM firsts
"""
"""Valid events: raw rows not listed in rejected_events, one per (session, event_id), the first
by (ts, seq, file, row) — written independently of operators/events.py on purpose."""


def recount(events: pa.Table, rejected: pa.Table) -> dict[str, int]:
    """raw_rows, rejected_rows, valid_events, and the input, output and cache tokens of valid
    events outside any turn (what turns cannot account for), of one batch."""
    batch = Batch({"events": events, "rejected": rejected})
    try:
        row = batch.sql(RECOUNT).to_pylist()[0]
    finally:
        batch.close()
    return {
        "raw_rows": int(row["raw_rows"]),
        "rejected_rows": int(row["rejected_rows"]),
        "valid_events": int(row["valid_events"]),
        "unturned_input_tokens": int(row["i"]),
        "unturned_output_tokens": int(row["o"]),
        "unturned_cache_tokens": int(row["c"]),
    }
