"""`render_daily_report`: the day's tables in, the page, the chart and the headline numbers out.

A pure function: writing the files into the lake, and the Dagster asset and command line
around it, are the caller's.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

from trajectory_assets.report.chart import render_chart
from trajectory_assets.report.data import gather_data
from trajectory_assets.report.page import render_page

REPORT_VERSION = 9  # 2: unpriced calls of eval runs, every failing tool counted; 3: window_days;
# 4: the cost of calls none of which has a price is unknown, not $0; 5: cost bars across;
# 6: one model's spellings are one row; 7: sessions that ended on an error; 8: rejected rows;
# 9: rejected rows of no app, an unreadable value's rule named by its column
"""Bump when what the page or the chart shows changes: pages drawn by another version are drawn
again, even from the same tables."""


@dataclass(frozen=True)
class DailyReport:
    day: str
    html: str
    png: bytes
    summary: dict[str, str | int | float | None] = field(default_factory=dict)
    """Headline numbers (sessions, cost_usd, llm_calls_unpriced, loops_detected, ...)."""


def render_daily_report(day: str, tables: Mapping[str, pa.Table]) -> DailyReport:
    """The report of `day` from its tables (see the package docstring)."""
    data = gather_data(tables)
    png = render_chart(day, data)
    summary: dict[str, str | int | float | None] = {
        "sessions": int(data.totals["sessions"]),
        "cost_usd": data.totals["cost_usd"],
        "llm_calls": int(data.totals["llm_calls"]),
        "llm_calls_unpriced": int(data.totals["llm_calls_unpriced"]),
        "loops_detected": int(data.totals["loops_detected"]),
        "ended_on_error": int(data.totals["ended_on_error"]),
        "rejected_rows": int(data.totals["rejected_rows"]),
        "failing_tools": int(data.totals["failing_tools"]),
        "eval_runs": len(data.evals),
    }
    return DailyReport(day, render_page(day, data, png), png, summary)
