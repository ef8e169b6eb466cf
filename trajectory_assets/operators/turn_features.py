"""turn_features: per-turn ratios, running totals, think time and loops, from `turns` plus raw
order.

Most features derive from the committed `turns` rows; `repeated_tool_calls` and the loop columns
(`max_identical_tool_run`, `max_ping_pong`, `loop_detected`; rule in `operators/loops.py`) need
the raw event order inside a turn and the tool calls' arguments, which `turns` does not keep.
"""

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.operator import OpContext, Operator
from trajectory_assets.operators.events import CLEAN, SESSION, VALIDATION_COLUMNS
from trajectory_assets.operators.loops import ARGUMENTS_HASH, LoopThresholds, loop_runs_sql
from trajectory_assets.schema import APP_ID, SESSION_DAY, SESSION_ID, TableSpec, column

TURN_FEATURES = pa.schema(
    [
        SESSION_DAY,
        APP_ID,
        SESSION_ID,
        column("turn_index", pa.int32(), "The 0-based turn, as in `turns`."),
        column(
            "cache_hit_ratio",
            pa.float64(),
            "`cache_tokens / input_tokens` of the turn (null when `input_tokens` is 0).",
        ),
        column(
            "output_tokens_per_s",
            pa.float64(),
            "`output_tokens / (latency_ms_total / 1000)`, tokens per second (null when "
            "`latency_ms_total` is 0).",
        ),
        column(
            "tool_calls_per_llm_call",
            pa.float64(),
            "`n_tool_calls / n_llm_calls` of the turn (null when `n_llm_calls` is 0).",
        ),
        column(
            "repeated_tool_calls",
            pa.int64(),
            "The turn's tool_calls whose `tool_name` equals the previous tool_call's in the turn "
            "(arguments ignored; a null name never repeats).",
        ),
        column(
            "think_time_ms",
            pa.float64(),
            "This turn's `started_at` minus the previous turn's `ended_at` (turns by "
            "`turn_index`), ms; null for the first turn.",
        ),
        column(
            "cum_input_tokens",
            pa.int64(),
            "Running sum of `input_tokens` over the session's turns in `turn_index` order, up to "
            "and including this one.",
        ),
        column(
            "cum_output_tokens",
            pa.int64(),
            "Running sum of `output_tokens` over the session's turns in `turn_index` order, up to "
            "and including this one.",
        ),
        column("is_last_turn", pa.bool_(), "The turn has the session's highest `turn_index`."),
        column("had_error", pa.bool_(), "`n_errors > 0`."),
        column(
            "max_identical_tool_run",
            pa.int64(),
            "Longest run of consecutive tool calls with the same `tool_name` and `arguments_hash` "
            "(two nulls equal), over the turn's tool calls, in event order; 0 without tool calls.",
        ),
        column(
            "max_ping_pong",
            pa.int64(),
            "Longest run of consecutive tool calls alternating A, B, A, B, ... between "
            "two different (`tool_name`, `arguments_hash`) pairs, over the turn's tool "
            "calls; 0 below 4 calls.",
        ),
        column(
            "loop_detected",
            pa.bool_(),
            "`max_identical_tool_run >= identical_run_threshold` (default 3) or `max_ping_pong >= "
            "ping_pong_threshold` (default 4), both run config.",
        ),
    ]
)


TURN_FEATURES_TABLE = TableSpec(
    "turn_features",
    TURN_FEATURES,
    partition_by=("app_id",),
    keys=("app_id", "session_id", "turn_index"),
    description="One row per turn: cache hit ratio, throughput, repeats, loops, think time.",
)


def turn_features_sql(loops: LoopThresholds) -> str:
    return f"""
WITH tool_calls AS (
    SELECT app_id, session_id, turn_index, rn, tool_name, {ARGUMENTS_HASH} AS arguments_hash,
        lag(tool_name) OVER (PARTITION BY {SESSION}, turn_index ORDER BY rn) AS previous_tool
    FROM ({CLEAN}) WHERE event_type = 'tool_call' AND turn_index IS NOT NULL
),
loops AS ({loop_runs_sql("tool_calls", SESSION + ", turn_index")}),
repeats AS (
    SELECT app_id, session_id, turn_index, count(*) FILTER (WHERE tool_name = previous_tool) AS n
    FROM tool_calls GROUP BY ALL
)
SELECT t.dt, t.app_id, t.session_id, t.turn_index,
    t.cache_tokens / nullif(t.input_tokens, 0) AS cache_hit_ratio,
    t.output_tokens / nullif(t.latency_ms_total / 1000.0, 0) AS output_tokens_per_s,
    t.n_tool_calls / nullif(t.n_llm_calls, 0) AS tool_calls_per_llm_call,
    coalesce(r.n, 0) AS repeated_tool_calls,
    (epoch_us(t.started_at) - epoch_us(lag(t.ended_at) OVER turn_order)) / 1000.0 AS think_time_ms,
    sum(t.input_tokens) OVER (turn_order ROWS UNBOUNDED PRECEDING) AS cum_input_tokens,
    sum(t.output_tokens) OVER (turn_order ROWS UNBOUNDED PRECEDING) AS cum_output_tokens,
    t.turn_index = max(t.turn_index) OVER (PARTITION BY t.app_id, t.session_id) AS is_last_turn,
    t.n_errors > 0 AS had_error,
    coalesce(l.max_identical_tool_run, 0) AS max_identical_tool_run,
    coalesce(l.max_ping_pong, 0) AS max_ping_pong,
    {loops.detected("l.max_identical_tool_run", "l.max_ping_pong")} AS loop_detected
FROM turns t
LEFT JOIN repeats r USING (app_id, session_id, turn_index)
LEFT JOIN loops l USING (app_id, session_id, turn_index)
WINDOW turn_order AS (PARTITION BY t.app_id, t.session_id ORDER BY t.turn_index)
"""


class TurnFeatures(Operator):
    """One row per turn of `turns`; batches are whole sessions so windows see every turn.

    Parameters (run config; their values are in `params`, part of the operator's fingerprint,
    and so of every attempt key, beside `version`): the loop thresholds of `loop_detected`.
    """

    name = "turn_features"
    version = "5"  # 4: a negative turn_index is rejected; 5: strict JSON payloads
    outputs = (TURN_FEATURES_TABLE,)
    inputs = ("raw_events", "turns")
    raw_columns = (*VALIDATION_COLUMNS, "tool_name")

    def __init__(self, identical_run_threshold: int = 3, ping_pong_threshold: int = 4) -> None:
        self.loops = LoopThresholds(identical_run_threshold, ping_pong_threshold)

    @property
    def params(self) -> dict[str, int]:
        return {
            "identical_run_threshold": self.loops.identical_run,
            "ping_pong_threshold": self.loops.ping_pong,
        }

    def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.sql(turn_features_sql(self.loops))
