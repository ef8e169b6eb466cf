"""The report's HTML page: headline numbers, the chart embedded as a data URI, and one table a
section, so the page is self-contained and opens from the lake, an object store or an e-mail.
"""

import base64
import html
from collections.abc import Mapping, Sequence
from decimal import Decimal

from trajectory_assets.report.data import ComparisonRow, ReportData


def _fmt(value: object, kind: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, Decimal):  # DuckDB's sums of integers
        value = int(value) if value == value.to_integral_value() else float(value)
    if not isinstance(value, int | float):
        return html.escape(str(value))
    if kind == "usd":
        sign = "-" if value < 0 else ""  # -$0.0107, a cost difference
        if 0 < abs(value) < 0.00005:  # a real cost, not a free call
            return f"{sign}&lt;$0.0001"
        return f"{sign}${abs(value):,.4f}"
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "ms":
        return f"{value:,.1f}"
    if kind in ("pp", "pp_size"):  # of rates shown in %: in percentage points
        return f"{value * 100:{'+' if kind == 'pp' else ''}.1f} pp"
    if isinstance(value, float):
        return f"{value:,.3f}"
    return f"{value:,}"


def _html_table(
    columns: Sequence[tuple[str, str, str]], rows: Sequence[Mapping[str, object]], empty: str
) -> str:
    """columns: (header, key, format kind)."""
    if not rows:
        return f'<p class="empty">{html.escape(empty)}</p>'
    head = "".join(f"<th>{html.escape(h)}</th>" for h, _, _ in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(r.get(k), kind)}</td>" for _, k, kind in columns) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.8em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 4px 10px; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.empty, .note { color: #888; } .kpi { display: inline-block; margin-right: 2.5em; }
.kpi b { display: block; font-size: 1.4em; } img { max-width: 100%; }
"""


_UNPRICED = (
    '<p class="note">Costs add up the priced llm calls: where a row has unpriced ones (a model '
    "without a price), it cost more than shown; with none priced, it shows —.</p>"
)


def _shown_of(shown: int, total: int, what: str) -> str:
    """Says a section shows the first `shown` of `total` rows, when it does not show them all."""
    if shown >= total:
        return ""
    return f'<p class="note">The first {shown} of {total} {html.escape(what)}.</p>'


def _window(day: str, comparisons: Sequence[ComparisonRow]) -> str:
    """Which days the comparisons pool (model_comparisons' `window_days`, 1 by default; a
    row of a day written before the column has none)."""
    windows = sorted({w for r in comparisons if (w := r["window_days"])})
    if not windows:
        return ""
    if windows == [1]:
        return f'<p class="note">Each row pools the eval attempts of {html.escape(day)}.</p>'
    days = " or ".join(str(w) for w in windows)
    return (
        f'<p class="note">Each row pools the eval attempts of the {days} days ending '
        f"{html.escape(day)} (window_days).</p>"
    )


def render_page(day: str, data: ReportData, png: bytes) -> str:
    t = data.totals
    kpis = [
        ("sessions", _fmt(int(t["sessions"]))),
        ("cost", _fmt(t["cost_usd"], "usd")),
        ("llm calls", _fmt(int(t["llm_calls"]))),
        ("unpriced llm calls", _fmt(int(t["llm_calls_unpriced"]))),
        ("sessions with a loop", _fmt(int(t["loops_detected"]))),
        ("sessions ended on an error", _fmt(int(t["ended_on_error"]))),
        ("raw rows rejected", _fmt(int(t["rejected_rows"]))),
    ]
    image = base64.b64encode(png).decode("ascii")
    sections = [
        f"<h1>Daily report — {html.escape(day)} (UTC)</h1>",
        "".join(f'<span class="kpi"><b>{v}</b>{html.escape(k)}</span>' for k, v in kpis),
        f'<p><img alt="main chart of {html.escape(day)}" src="data:image/png;base64,{image}"></p>',
        "<h2>Sessions and cost by app</h2>",
        _html_table(
            [
                ("app", "app_id", ""),
                ("sessions", "sessions", ""),
                ("cost", "cost_usd", "usd"),
                ("cost / session with priced calls", "cost_per_session", "usd"),
                ("unpriced llm calls", "llm_calls_unpriced", ""),
                ("input tokens", "input_tokens", ""),
                ("output tokens", "output_tokens", ""),
                ("sessions with errors", "error_sessions", ""),
                ("sessions with a loop", "loop_sessions", ""),
            ],
            data.by_app,
            "No sessions this day.",
        ),
        _UNPRICED,
        "<h2>Latency percentiles by model (ms)</h2>",
        _html_table(
            [
                ("model", "model", ""),
                ("also named", "also_named", ""),
                ("calls", "calls", ""),
                ("p50", "latency_p50", "ms"),
                ("p95", "latency_p95", "ms"),
                ("p99", "latency_p99", "ms"),
                ("TTFT p50", "ttft_p50", "ms"),
                ("cost", "cost_usd", "usd"),
                ("unpriced calls", "unpriced", ""),
            ],
            data.by_model,
            "No llm calls this day.",
        ),
        "<h2>Top failing tools (by failed calls)</h2>",
        _shown_of(len(data.tools), int(t["failing_tools"]), "tools with a failed call"),
        _html_table(
            [
                ("app", "app_id", ""),
                ("tool", "tool_name", ""),
                ("calls", "n_calls", ""),
                ("errors", "n_errors", ""),
                ("failure rate", "failure_rate", "pct"),
                ("p50 ms", "latency_ms_p50", "ms"),
                ("p95 ms", "latency_ms_p95", "ms"),
                ("sessions", "n_sessions", ""),
                ("terminal share", "terminal_error_share", "pct"),
                ("top error", "top_error_type", ""),
            ],
            data.tools,
            "No tool failed this day.",
        ),
        "<h2>Eval pass rates (95% Wilson interval)</h2>",
        _html_table(
            [
                ("benchmark", "benchmark", ""),
                ("model", "model", ""),
                ("run", "run_id", ""),
                ("attempts", "n_attempts", ""),
                ("tasks", "n_tasks", ""),
                ("pass rate", "pass_rate", "pct"),
                ("95% low", "ci_low", "pct"),
                ("95% high", "ci_high", "pct"),
                ("pass@1", "pass_at_1", "pct"),
                ("cost", "cost_usd", "usd"),
                ("cost / passed task", "cost_per_passed_task", "usd"),
                ("unpriced llm calls", "llm_calls_unpriced", ""),
            ],
            data.evals,
            "No eval attempts this day.",
        ),
        _UNPRICED,
        "<h2>Model A vs model B on shared tasks (paired, task-clustered 95% interval)</h2>",
        _window(day, data.comparisons),
        _html_table(
            [
                ("benchmark", "benchmark", ""),
                ("model A", "model_a", ""),
                ("model B", "model_b", ""),
                ("shared tasks", "n_tasks", ""),
                ("pass@1 A", "pass_at_1_a", "pct"),
                ("pass@1 B", "pass_at_1_b", "pct"),
                ("A - B", "diff", "pp"),
                ("SE", "diff_se", "pp_size"),
                ("95% low", "diff_ci_low", "pp"),
                ("95% high", "diff_ci_high", "pp"),
                ("cost A - B / task", "mean_cost_diff", "usd"),
            ],
            data.comparisons,
            "No two models shared a task.",
        ),
        '<p class="note">An interval over a few shared tasks (under 5), or of zero width (the '
        "models agreed on every task), says little: see docs/rules.md.</p>"
        if data.comparisons
        else "",
        "<h2>Loops detected (longest runs first)</h2>",
        _shown_of(len(data.loops), int(t["loops_detected"]), "sessions with a loop"),
        _html_table(
            [
                ("app", "app_id", ""),
                ("session", "session_id", ""),
                ("longest identical run", "max_identical_tool_run", ""),
                ("longest ping-pong", "max_ping_pong", ""),
                ("tool calls", "n_tool_calls", ""),
                ("status", "status", ""),
            ],
            data.loops,
            "No loop detected this day.",
        ),
        "<h2>Sessions that ended on an error (costliest first)</h2>",
        _shown_of(len(data.ended), int(t["ended_on_error"]), "sessions that ended on an error"),
        _html_table(
            [
                ("app", "app_id", ""),
                ("session", "session_id", ""),
                ("turn", "turn_index", ""),
                ("error", "error_type", ""),
                ("at", "failed_at", ""),
                ("status", "status", ""),
                ("cost", "cost_usd", "usd"),
            ],
            data.ended,
            "No session ended on an error this day.",
        ),
        "<h2>Raw rows rejected, by app</h2>",
        _html_table(
            [
                ("app", "app_id", ""),
                ("rows", "rejected_rows", ""),
                ("reasons", "reasons", ""),
                ("most frequent reason", "top_reason", ""),
                ("its rows", "top_reason_rows", ""),
            ],
            data.rejected,
            "No raw row was rejected this day.",
        ),
        '<p class="note">Every row, with its file, row number and reasons, is in '
        "<code>rejected_events</code>.</p>"
        if data.rejected
        else "",
    ]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Daily report {html.escape(day)}</title><style>{_STYLE}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )
