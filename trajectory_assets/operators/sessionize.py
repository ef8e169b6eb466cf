"""sessions, turns, errors and rejected_events from one read of a batch of whole sessions.

The four tables share the same validated, de-duplicated event stream, so they are produced by
one operator (one Dagster multi-asset) and can never disagree about which events counted.
"""

import pyarrow as pa

from trajectory_assets.engine.batch import Batch
from trajectory_assets.engine.operator import OpContext, Operator
from trajectory_assets.operators.events import CLEAN, REJECTED, SESSION, payload

LLM = "event_type = 'llm_call'"
TOOL = "event_type = 'tool_call'"
DURATION = "(epoch_us(max(ts)) - epoch_us(min(ts))) / 1000.0"


SPAN_AND_COUNTS = f"""
    min(ts) AS started_at, max(ts) AS ended_at, {DURATION} AS duration_ms,
    count(*) AS n_events,
    count(*) FILTER (WHERE {LLM}) AS n_llm_calls,
    count(*) FILTER (WHERE {TOOL}) AS n_tool_calls,
    count(*) FILTER (WHERE error_type IS NOT NULL) AS n_errors,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    coalesce(sum(cache_tokens), 0) AS cache_tokens"""
"""Aggregates sessions and turns share, so the two tables count events the same way."""


def _distinct_sorted(column: str, condition: str = "true") -> str:
    return f"coalesce(list_sort(list_distinct(list({column}) FILTER (WHERE {condition}))), [])"


def _last_of(event_type: str) -> str:
    """The last event of a type in each session (event order)."""
    return f"""
        SELECT * FROM clean WHERE event_type = '{event_type}'
        QUALIFY row_number() OVER (PARTITION BY {SESSION} ORDER BY rn DESC) = 1
    """


SESSIONS = f"""
WITH agg AS (
    SELECT dt, app_id, session_id,
        {_distinct_sorted("agent_id")} AS agent_ids,
        {_distinct_sorted("model", LLM)} AS models,
        {SPAN_AND_COUNTS},
        count(DISTINCT turn_index) AS n_turns,
        quantile_cont(ttft_ms, 0.5) FILTER (WHERE {LLM}) AS ttft_ms_p50,
        quantile_cont(latency_ms, 0.5) FILTER (WHERE {LLM}) AS latency_ms_p50,
        quantile_cont(latency_ms, 0.95) FILTER (WHERE {LLM}) AS latency_ms_p95,
        coalesce(sum(tool_latency_ms), 0.0) AS tool_latency_ms_total
    FROM clean GROUP BY dt, app_id, session_id
),
last_end AS ({_last_of("session_end")}),
last_eval AS ({_last_of("eval_result")})
SELECT agg.*,
    coalesce({payload("status", "last_end.payload")}, 'unknown') AS status,
    {payload("benchmark", "last_eval.payload")} AS eval_benchmark,
    {payload("task_id", "last_eval.payload")} AS eval_task_id,
    CASE WHEN last_eval.event_id IS NOT NULL
         THEN coalesce({payload("run_id", "last_eval.payload")}, 'default') END AS eval_run_id,
    CASE WHEN last_eval.event_id IS NOT NULL
         THEN coalesce(last_eval.model, 'unknown') END AS eval_model,
    TRY_CAST({payload("passed", "last_eval.payload")} AS BOOLEAN) AS eval_passed,
    TRY_CAST({payload("score", "last_eval.payload")} AS DOUBLE) AS eval_score
FROM agg
LEFT JOIN last_end USING (app_id, session_id)
LEFT JOIN last_eval USING (app_id, session_id)
"""

TURNS = f"""
SELECT dt, app_id, session_id, turn_index,
    first(agent_id ORDER BY rn) FILTER (WHERE agent_id IS NOT NULL) AS agent_id,
    first(model ORDER BY rn) FILTER (WHERE {LLM}) AS model,
    {SPAN_AND_COUNTS},
    first(ttft_ms ORDER BY rn) FILTER (WHERE {LLM}) AS ttft_ms,
    coalesce(sum(latency_ms) FILTER (WHERE {LLM}), 0.0) AS latency_ms_total,
    coalesce(sum(tool_latency_ms), 0.0) AS tool_latency_ms_total,
    {_distinct_sorted("tool_name", TOOL)} AS tools
FROM clean WHERE turn_index IS NOT NULL
GROUP BY dt, app_id, session_id, turn_index
"""

ERRORS = f"""
SELECT dt, app_id, error_type, session_id, turn_index, event_id, ts, error_code, event_type,
    tool_name, model, message, prev_event_type,
    last_call_rn IS NULL OR last_call_rn <= rn AS is_terminal, artifacts
FROM (
    SELECT *, {payload("message")} AS message,
        lag(event_type) OVER (PARTITION BY {SESSION} ORDER BY rn) AS prev_event_type,
        max(rn) FILTER (WHERE event_type IN ('llm_call', 'tool_call'))
            OVER (PARTITION BY {SESSION}) AS last_call_rn
    FROM clean
) WHERE error_type IS NOT NULL
"""
"""An error is terminal when no llm_call or tool_call comes after it; an erroring call is its
own last call, so it is terminal when nothing follows it."""


class Sessionize(Operator):
    """One read of raw events → sessions (per session), turns (per session and turn),
    errors (per error event) and rejected_events (per invalid raw row)."""

    name = "sessionize"
    version = "1"
    outputs = ("sessions", "turns", "errors", "rejected_events")
    inputs = ("raw_events",)
    requires = "session"

    def transform(self, ctx: OpContext, batch: Batch) -> dict[str, pa.Table]:
        batch.duckdb().execute(f"CREATE OR REPLACE TEMP TABLE clean AS {CLEAN}")
        return {
            "sessions": batch.sql(SESSIONS),
            "turns": batch.sql(TURNS),
            "errors": batch.sql(ERRORS),
            "rejected_events": batch.sql(REJECTED),
        }
