"""Pure reconciliations behind the asset checks, computed apart from the operators' SQL.

They re-derive from raw rows, with their own queries, what the tables must add up to, so a
regression in an operator shows up as a failed check rather than as quietly wrong numbers.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from trajectory_assets.engine.batch import Batch


@dataclass(frozen=True)
class RawRecount:
    """What the raw rows of a day imply, once rejected rows and duplicate ids are set aside."""

    raw_rows: int
    rejected_rows: int
    valid_events: int
    unturned_tokens: tuple[int, int, int]  # input, output, cache tokens of events with no turn


def duplicate_keys(table: pa.Table, keys: Sequence[str]) -> int:
    """How many rows repeat a key that an earlier row already had."""
    if table.num_rows == 0:
        return 0
    distinct = table.select(list(keys)).group_by(list(keys)).aggregate([]).num_rows
    return table.num_rows - distinct


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


RECOUNT_COLUMNS = (
    "app_id",
    "session_id",
    "event_id",
    "ts",
    "seq",
    "turn_index",
    "input_tokens",
    "output_tokens",
    "cache_tokens",
)
"""The raw columns RECOUNT reads (besides the provenance every read carries)."""


def recount(events: pa.Table, rejected: pa.Table) -> RawRecount:
    batch = Batch({"events": events, "rejected": rejected})
    try:
        row = batch.sql(RECOUNT).to_pylist()[0]
    finally:
        batch.close()
    return RawRecount(
        int(row["raw_rows"]),
        int(row["rejected_rows"]),
        int(row["valid_events"]),
        (int(row["i"]), int(row["o"]), int(row["c"])),
    )


def token_totals(table: pa.Table) -> tuple[int, int, int]:
    totals = []
    for column in ("input_tokens", "output_tokens", "cache_tokens"):
        value = pc.sum(table[column]).as_py() if table.num_rows else 0
        totals.append(int(value or 0))
    return totals[0], totals[1], totals[2]


def ratios_above(table: pa.Table, column: str, threshold: float) -> int:
    if table.num_rows == 0:
        return 0
    values = [v for v in table[column].to_pylist() if v is not None]
    return sum(1 for v in values if v > threshold)
