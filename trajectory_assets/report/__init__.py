"""The daily report: one HTML page and one PNG chart per day, from that day's Tier B tables.

`render_daily_report(day, tables)` is a pure function: it takes the day's tables as Arrow
(any of `sessions`, `llm_calls`, `tool_stats`, `eval_runs`, `model_comparisons`, `errors`,
`rejected_events`; a missing one counts as empty) and returns the page, the chart and a few
headline numbers for the materialization's metadata. Writing them into the lake, and the
Dagster asset and command line around it, are the caller's.

The page is self-contained (the chart is embedded as a data URI), so it can be opened from the
lake, an object store or an e-mail alike. Sections: sessions and cost by app, latency
percentiles by model, top failing tools, eval pass rates with 95% Wilson intervals and paired
model comparisons, loops detected, sessions that ended on an error, raw rows rejected by
app. Matplotlib (Agg, no pyplot
state) is imported only by `chart`.

Modules: `data` (the queries and what they return), `intervals` (Wilson intervals, the checks'
too), `chart` (the PNG), `page` (the HTML), `daily` (the three together).
"""

from trajectory_assets.report.daily import REPORT_VERSION, DailyReport, render_daily_report
from trajectory_assets.report.data import REPORT_TABLES, columns_read

__all__ = ["REPORT_TABLES", "REPORT_VERSION", "DailyReport", "columns_read", "render_daily_report"]
