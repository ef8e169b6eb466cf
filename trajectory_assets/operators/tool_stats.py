"""tool_stats: the health of each tool of an app over a day, from `tool_calls`.

Two phases, since a tool is used by sessions of many batches: each batch emits one partial row
per (app, tool, session) with its counts and the raw latencies and error types (a percentile or
a most frequent value does not merge from partial ones), and one merge per day folds them into
one row per (app, tool). `n_sessions` counts distinct sessions, so the result does not depend on
how sessions were dealt into batches.
"""

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.operator import OpContext, Operator
from trajectory_assets.operators.events import not_blank
from trajectory_assets.schema import APP_ID, STRINGS, TableSpec, column

TOOL_STATS = pa.schema(
    [
        column("dt", pa.string(), "The day of the calls' sessions (YYYY-MM-DD)."),
        APP_ID,
        column(
            "tool_name",
            pa.string(),
            "The tool (`unknown` for calls with a null or blank `tool_name`, pooled with a tool "
            "that is named `unknown`).",
        ),
        column("n_calls", pa.int64(), "The tool's calls in the app that day."),
        column("n_errors", pa.int64(), "The tool's calls with a non-null `error_type`."),
        column("failure_rate", pa.float64(), "`n_errors / n_calls`."),
        column(
            "latency_ms_p50",
            pa.float64(),
            "Median `tool_latency_ms` of the tool's calls, ms (null when none has one).",
        ),
        column(
            "latency_ms_p95",
            pa.float64(),
            "95th percentile of `tool_latency_ms` of the tool's calls, ms "
            "(null when none has one).",
        ),
        column("n_sessions", pa.int64(), "Distinct sessions that called the tool."),
        column(
            "terminal_error_share",
            pa.float64(),
            "Erroring calls with `is_terminal` / `n_errors` (null when `n_errors` is 0).",
        ),
        column(
            "top_error_type",
            pa.string(),
            "Most frequent `error_type` of the tool's calls; ties go to the smallest "
            "name; null when none.",
        ),
    ]
)

TOOL_STATS_PARTIALS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("tool_name", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("n_calls", pa.int64()),
        pa.field("n_errors", pa.int64()),
        pa.field("n_terminal_errors", pa.int64()),
        pa.field("latencies_ms", pa.list_(pa.float64())),
        pa.field("error_types", STRINGS),
    ]
)
"""Phase one of `tool_stats`: one row per (app, tool, session) and batch, with the raw latencies
and error types (percentiles and modes do not merge from partial ones); merged once per day."""


TOOL_STATS_TABLE = TableSpec(
    "tool_stats",
    TOOL_STATS,
    partition_by=("app_id",),
    keys=("app_id", "tool_name"),
    description="One row per (app, tool) of the day: calls, failure rate, latency p50/p95.",
)


PARTIALS_SQL = f"""
SELECT dt, app_id, coalesce({not_blank("tool_name")}, 'unknown') AS tool_name, session_id,
    count(*) AS n_calls,
    count(*) FILTER (WHERE error_type IS NOT NULL) AS n_errors,
    count(*) FILTER (WHERE error_type IS NOT NULL AND is_terminal) AS n_terminal_errors,
    coalesce(list(tool_latency_ms) FILTER (WHERE tool_latency_ms IS NOT NULL), [])
        AS latencies_ms,
    coalesce(list(error_type) FILTER (WHERE error_type IS NOT NULL), []) AS error_types
FROM tool_calls
GROUP BY ALL
"""

MERGE_SQL = """
WITH tools AS (
    SELECT dt, app_id, tool_name,
        sum(n_calls) AS n_calls, sum(n_errors) AS n_errors,
        sum(n_terminal_errors) AS n_terminal_errors,
        count(DISTINCT session_id) AS n_sessions
    FROM _partials GROUP BY dt, app_id, tool_name
),
latencies AS (
    SELECT dt, app_id, tool_name,
        quantile_cont(latency, 0.5) AS p50, quantile_cont(latency, 0.95) AS p95
    FROM (SELECT dt, app_id, tool_name, unnest(latencies_ms) AS latency FROM _partials)
    GROUP BY dt, app_id, tool_name
),
top_errors AS (
    SELECT dt, app_id, tool_name, error_type FROM (
        SELECT dt, app_id, tool_name, error_type, count(*) AS n
        FROM (SELECT dt, app_id, tool_name, unnest(error_types) AS error_type FROM _partials)
        GROUP BY dt, app_id, tool_name, error_type
    )
    QUALIFY row_number() OVER (
        PARTITION BY dt, app_id, tool_name ORDER BY n DESC, error_type ASC
    ) = 1
)
SELECT t.dt, t.app_id, t.tool_name, t.n_calls, t.n_errors,
    t.n_errors / nullif(t.n_calls, 0) AS failure_rate,
    l.p50 AS latency_ms_p50, l.p95 AS latency_ms_p95,
    t.n_sessions,
    t.n_terminal_errors / nullif(t.n_errors, 0) AS terminal_error_share,
    e.error_type AS top_error_type
FROM tools t
LEFT JOIN latencies l USING (dt, app_id, tool_name)
LEFT JOIN top_errors e USING (dt, app_id, tool_name)
"""


class ToolStats(Operator):
    """One row per (app, tool) of a day: calls, failures, latency percentiles, sessions."""

    name = "tool_stats"
    version = "2"  # 2: a blank tool name is `unknown` (it was a tool named "")
    outputs = (TOOL_STATS_TABLE,)
    inputs = ("tool_calls",)
    partial_schema = TOOL_STATS_PARTIALS

    def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.sql(PARTIALS_SQL)

    def merge(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.sql(MERGE_SQL)
