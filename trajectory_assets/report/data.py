"""The numbers of the daily report: SQL over the day's Tier B tables, read into `ReportData`.

Each query is one section of the page (and of the chart); a table the caller did not pass
counts as empty, so a day with no evals still gets a report.
"""

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.operators import TIER_B

REPORT_TABLES = ("sessions", "llm_calls", "tool_stats", "eval_runs", "model_comparisons")
TOP_TOOLS = 10
TOP_LOOPS = 10


@dataclass(frozen=True)
class ReportData:
    """One list of rows per section; `totals` is the headline row."""

    by_app: list[dict[str, Any]]
    by_model: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    evals: list[dict[str, Any]]
    comparisons: list[dict[str, Any]]
    loops: list[dict[str, Any]]
    totals: dict[str, Any]


def gather_data(tables: Mapping[str, pa.Table]) -> ReportData:
    """Runs every section's query over the given tables (see the module docstring)."""
    batch = Batch({name: _table(name, tables) for name in REPORT_TABLES})
    try:
        return ReportData(
            by_app=batch.sql(BY_APP).to_pylist(),
            by_model=batch.sql(BY_MODEL).to_pylist(),
            tools=batch.sql(TOOLS).to_pylist(),
            evals=_with_intervals(batch.sql(EVALS).to_pylist()),
            comparisons=batch.sql(COMPARISONS).to_pylist(),
            loops=batch.sql(LOOPS).to_pylist(),
            totals=batch.sql(TOTALS).to_pylist()[0],
        )
    finally:
        batch.close()


def _table(name: str, tables: Mapping[str, pa.Table]) -> pa.Table:
    schema = TIER_B[name].schema
    table = tables.get(name)
    if table is None:
        return schema.empty_table()
    return table.select(schema.names).cast(schema)


KNOWN_COST = """CASE WHEN sum(n_llm_calls) > 0 AND sum(n_llm_calls) = sum(n_llm_calls_unpriced)
    THEN NULL ELSE sum(cost_usd) END"""
"""Sessions' cost: null when they made calls and none has a price (sessions without calls cost
0, and their sum read $0 for a day of unpriced calls alone), else what the priced ones cost."""

TOTALS = f"""
SELECT (SELECT count(*) FROM sessions) AS sessions,
    (SELECT {KNOWN_COST} FROM sessions) AS cost_usd,
    (SELECT count(*) FROM llm_calls) AS llm_calls,
    (SELECT coalesce(sum(n_llm_calls_unpriced), 0) FROM sessions) AS llm_calls_unpriced,
    (SELECT count(*) FILTER (WHERE loop_detected) FROM sessions) AS loops_detected,
    (SELECT count(*) FROM tool_stats WHERE n_errors > 0) AS failing_tools
"""

BY_APP = f"""
SELECT app_id, count(*) AS sessions, {KNOWN_COST} AS cost_usd,
    sum(cost_usd) / nullif(count(cost_usd) FILTER (WHERE n_llm_calls > 0), 0)
        AS cost_per_session,
    coalesce(sum(n_llm_calls_unpriced), 0) AS llm_calls_unpriced,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    count(*) FILTER (WHERE n_errors > 0) AS error_sessions,
    count(*) FILTER (WHERE loop_detected) AS loop_sessions
FROM sessions GROUP BY app_id ORDER BY app_id
"""

BY_MODEL = """
SELECT coalesce(model, 'unknown') AS model, count(*) AS calls,
    quantile_cont(latency_ms, 0.5) AS latency_p50,
    quantile_cont(latency_ms, 0.95) AS latency_p95,
    quantile_cont(latency_ms, 0.99) AS latency_p99,
    quantile_cont(ttft_ms, 0.5) AS ttft_p50,
    sum(cost_usd) AS cost_usd,
    count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced
FROM llm_calls GROUP BY ALL ORDER BY calls DESC, model
"""

TOOLS = f"""
SELECT app_id, tool_name, n_calls, n_errors, failure_rate, latency_ms_p50, latency_ms_p95,
    n_sessions, terminal_error_share, top_error_type
FROM tool_stats WHERE n_errors > 0
ORDER BY n_errors DESC, failure_rate DESC, app_id, tool_name
LIMIT {TOP_TOOLS}
"""

EVALS = """
SELECT benchmark, model, run_id, n_attempts, n_tasks, pass_rate, pass_at_1,
    round(pass_rate * n_attempts)::BIGINT AS n_passed, cost_usd, cost_per_passed_task,
    n_llm_calls_unpriced AS llm_calls_unpriced
FROM eval_runs ORDER BY benchmark, model, run_id
"""

COMPARISONS = """
SELECT benchmark, model_a, model_b, n_tasks, pass_at_1_a, pass_at_1_b, diff, diff_se,
    diff_ci_low, diff_ci_high, mean_cost_diff, window_days
FROM model_comparisons ORDER BY benchmark, model_a, model_b
"""

LOOPS = f"""
SELECT app_id, session_id, max_identical_tool_run, max_ping_pong, n_tool_calls, status
FROM sessions WHERE loop_detected
ORDER BY greatest(max_identical_tool_run, max_ping_pong) DESC, app_id, session_id
LIMIT {TOP_LOOPS}
"""


def _with_intervals(evals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """95% Wilson score interval of each run's pass rate (see `wilson_interval`)."""
    for e in evals:
        n, k = int(e["n_attempts"]), int(e["n_passed"])
        e["ci_low"], e["ci_high"] = wilson_interval(k, n) if n > 0 else (None, None)
    return evals


Z_975 = NormalDist().inv_cdf(0.975)


def wilson_interval(passed: int, attempts: int) -> tuple[float, float]:
    """The 95% Wilson score interval of `passed` out of `attempts`, the closed
    form scipy's `binomtest(...).proportion_ci(method="wilson")` computes: importing
    scipy.stats for it would cost the daily report most of a second."""
    p, z = passed / attempts, Z_975
    z2n = z * z / attempts
    center = (p + z2n / 2) / (1 + z2n)
    half = z / (1 + z2n) * math.sqrt(p * (1 - p) / attempts + z2n / (4 * attempts))
    # exact at the ends: rounding left 0 of 10 from 2.8e-17 and 15 of 15 to 0.9999999999999999,
    # an interval that missed its own rate (the chart's error bar came out negative)
    low = 0.0 if passed == 0 else min(p, max(0.0, center - half))
    high = 1.0 if passed == attempts else max(p, min(1.0, center + half))
    return low, high
