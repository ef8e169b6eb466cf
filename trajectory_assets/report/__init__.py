"""The daily report: one HTML page and one PNG chart per day, from that day's Tier B tables.

`render_daily_report(day, tables)` is a pure function: it takes the day's tables as Arrow
(any of `sessions`, `llm_calls`, `tool_stats`, `eval_runs`, `model_comparisons`; a missing one
counts as empty) and returns the page, the chart and a few headline numbers for the
materialization's metadata. Writing them into the lake, and the Dagster asset and command line
around it, are the caller's.

The page is self-contained (the chart is embedded as a data URI), so it can be opened from the
lake, an object store or an e-mail alike. Sections: sessions and cost by app, latency
percentiles by model, top failing tools, eval pass rates with 95% Wilson intervals and paired
model comparisons, loops detected. Matplotlib (Agg, no pyplot state) is imported only here.
"""

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from trajectory_assets.engine.batch import Batch
from trajectory_assets.operators import TIER_B

REPORT_TABLES = ("sessions", "llm_calls", "tool_stats", "eval_runs", "model_comparisons")
TOP_TOOLS = 10
TOP_LOOPS = 10


@dataclass(frozen=True)
class DailyReport:
    day: str
    html: str
    png: bytes
    summary: dict[str, Any] = field(default_factory=dict)
    """Headline numbers (sessions, cost_usd, llm_calls_unpriced, loops_detected, ...)."""


def render_daily_report(day: str, tables: Mapping[str, pa.Table]) -> DailyReport:
    """The report of `day` from its tables (see the module docstring)."""
    batch = Batch({name: _table(name, tables) for name in REPORT_TABLES})
    try:
        data = _Data(
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
    png = _chart(day, data)
    summary = {
        "sessions": int(data.totals["sessions"]),
        "cost_usd": data.totals["cost_usd"],
        "llm_calls": int(data.totals["llm_calls"]),
        "llm_calls_unpriced": int(data.totals["llm_calls_unpriced"]),
        "loops_detected": int(data.totals["loops_detected"]),
        "failing_tools": sum(1 for t in data.tools if t["n_errors"]),
        "eval_runs": len(data.evals),
    }
    return DailyReport(day, _page(day, data, png), png, summary)


def _table(name: str, tables: Mapping[str, pa.Table]) -> pa.Table:
    schema = TIER_B[name].schema
    table = tables.get(name)
    if table is None:
        return schema.empty_table()
    return table.select(schema.names).cast(schema)


@dataclass(frozen=True)
class _Data:
    by_app: list[dict[str, Any]]
    by_model: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    evals: list[dict[str, Any]]
    comparisons: list[dict[str, Any]]
    loops: list[dict[str, Any]]
    totals: dict[str, Any]


TOTALS = """
SELECT (SELECT count(*) FROM sessions) AS sessions,
    (SELECT sum(cost_usd) FROM sessions) AS cost_usd,
    (SELECT count(*) FROM llm_calls) AS llm_calls,
    (SELECT coalesce(sum(n_llm_calls_unpriced), 0) FROM sessions) AS llm_calls_unpriced,
    (SELECT count(*) FILTER (WHERE loop_detected) FROM sessions) AS loops_detected
"""

BY_APP = """
SELECT app_id, count(*) AS sessions, sum(cost_usd) AS cost_usd,
    sum(cost_usd) / nullif(count(cost_usd), 0) AS cost_per_session,
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
    round(pass_rate * n_attempts)::BIGINT AS n_passed, cost_usd, cost_per_passed_task
FROM eval_runs ORDER BY benchmark, model, run_id
"""

COMPARISONS = """
SELECT benchmark, model_a, model_b, n_tasks, pass_at_1_a, pass_at_1_b, diff, diff_se,
    diff_ci_low, diff_ci_high, mean_cost_diff
FROM model_comparisons ORDER BY benchmark, model_a, model_b
"""

LOOPS = f"""
SELECT app_id, session_id, max_identical_tool_run, max_ping_pong, n_tool_calls, status
FROM sessions WHERE loop_detected
ORDER BY greatest(max_identical_tool_run, max_ping_pong) DESC, app_id, session_id
LIMIT {TOP_LOOPS}
"""


def _with_intervals(evals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """95% Wilson score interval of each run's pass rate (scipy's binomtest)."""
    if not evals:
        return evals
    from scipy import stats

    for e in evals:
        n, k = int(e["n_attempts"]), int(e["n_passed"])
        if n > 0:
            ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
            e["ci_low"], e["ci_high"] = float(ci.low), float(ci.high)
        else:
            e["ci_low"] = e["ci_high"] = None
    return evals


# --- chart -----------------------------------------------------------------------------------


def _label(text: Any) -> str:
    """Text for matplotlib, where `$` would start mathtext."""
    return str(text).replace("$", r"\$")


def _chart(day: str, data: _Data) -> bytes:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 9), dpi=100, layout="constrained")
    fig.suptitle(f"trajectory-assets daily report, {day}", fontsize=14)
    cost_ax, latency_ax, tools_ax, eval_ax = fig.subplots(2, 2).flat

    apps = data.by_app
    cost_ax.set_title("Sessions and cost by app")
    if apps:
        names = [_label(a["app_id"]) for a in apps]
        costs = [a["cost_usd"] or 0.0 for a in apps]
        bars = cost_ax.bar(names, costs, color="#4c72b0")
        for bar, a in zip(bars, apps, strict=True):
            cost_ax.annotate(
                f"{a['sessions']} sessions",
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=8,
            )
        cost_ax.set_ylabel("cost (USD)")
        cost_ax.tick_params(axis="x", labelrotation=20)
    else:
        _empty(cost_ax)

    models = [m for m in data.by_model if m["latency_p50"] is not None][:12]
    latency_ax.set_title("LLM latency by model (ms)")
    if models:
        positions = list(range(len(models)))
        p50 = [m["latency_p50"] for m in models]
        p95 = [m["latency_p95"] for m in models]
        latency_ax.barh([p + 0.2 for p in positions], p50, height=0.4, label="p50")
        latency_ax.barh([p - 0.2 for p in positions], p95, height=0.4, label="p95")
        latency_ax.set_yticks(positions, [_label(m["model"]) for m in models])
        latency_ax.invert_yaxis()
        latency_ax.legend(loc="lower right")
    else:
        _empty(latency_ax)

    tools_ax.set_title(f"Top failing tools (errors; top {TOP_TOOLS})")
    if data.tools:
        labels = [_label(f"{t['app_id']} / {t['tool_name']}") for t in data.tools]
        tools_ax.barh(labels, [t["n_errors"] for t in data.tools], color="#c44e52")
        for i, t in enumerate(data.tools):
            tools_ax.annotate(
                f" {t['failure_rate']:.0%} of {t['n_calls']}",
                (t["n_errors"], i),
                va="center",
                fontsize=8,
            )
        tools_ax.invert_yaxis()
        tools_ax.margins(x=0.25)
        tools_ax.set_xlabel("failed calls")
    else:
        _empty(tools_ax)

    evals = [e for e in data.evals if e["ci_low"] is not None][:16]
    eval_ax.set_title("Eval pass rate with 95% Wilson interval")
    if evals:
        ys = list(range(len(evals)))
        rates = [e["pass_rate"] for e in evals]
        errors = [
            [r - e["ci_low"] for r, e in zip(rates, evals, strict=True)],
            [e["ci_high"] - r for r, e in zip(rates, evals, strict=True)],
        ]
        eval_ax.errorbar(rates, ys, xerr=errors, fmt="o", capsize=3, color="#55a868")
        eval_ax.set_yticks(
            ys, [_label(f"{e['benchmark']} / {e['model']} / {e['run_id']}") for e in evals]
        )
        eval_ax.set_xlim(0, 1)
        eval_ax.invert_yaxis()
        eval_ax.set_xlabel("pass rate (attempts)")
    else:
        _empty(eval_ax)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _empty(ax: Any) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])


# --- page ------------------------------------------------------------------------------------


def _fmt(value: Any, kind: str = "") -> str:
    if value is None:
        return "—"
    if kind == "usd":
        return f"${value:,.4f}"
    if kind == "pct":
        return f"{value:.1%}"
    if kind == "ms":
        return f"{value:,.1f}"
    if kind == "diff":
        return f"{value:+.3f}"
    if isinstance(value, float):
        return f"{value:,.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _html_table(
    columns: Sequence[tuple[str, str, str]], rows: Sequence[Mapping[str, Any]], empty: str
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
.empty { color: #888; } .kpi { display: inline-block; margin-right: 2.5em; }
.kpi b { display: block; font-size: 1.4em; } img { max-width: 100%; }
"""


def _page(day: str, data: _Data, png: bytes) -> str:
    t = data.totals
    kpis = [
        ("sessions", _fmt(int(t["sessions"]))),
        ("cost", _fmt(t["cost_usd"], "usd")),
        ("llm calls", _fmt(int(t["llm_calls"]))),
        ("unpriced llm calls", _fmt(int(t["llm_calls_unpriced"]))),
        ("sessions with a loop", _fmt(int(t["loops_detected"]))),
    ]
    image = base64.b64encode(png).decode("ascii")
    sections = [
        f"<h1>Daily report — {html.escape(day)}</h1>",
        "".join(f'<span class="kpi"><b>{v}</b>{html.escape(k)}</span>' for k, v in kpis),
        f'<p><img alt="main chart of {html.escape(day)}" src="data:image/png;base64,{image}"></p>',
        "<h2>Sessions and cost by app</h2>",
        _html_table(
            [
                ("app", "app_id", ""),
                ("sessions", "sessions", ""),
                ("cost", "cost_usd", "usd"),
                ("cost / priced session", "cost_per_session", "usd"),
                ("unpriced llm calls", "llm_calls_unpriced", ""),
                ("input tokens", "input_tokens", ""),
                ("output tokens", "output_tokens", ""),
                ("sessions with errors", "error_sessions", ""),
                ("sessions with a loop", "loop_sessions", ""),
            ],
            data.by_app,
            "No sessions this day.",
        ),
        "<h2>Latency percentiles by model (ms)</h2>",
        _html_table(
            [
                ("model", "model", ""),
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
        f"<h2>Top failing tools (top {TOP_TOOLS} by failed calls)</h2>",
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
            ],
            data.evals,
            "No eval attempts this day.",
        ),
        "<h2>Model A vs model B on shared tasks (paired, task-clustered 95% interval)</h2>",
        _html_table(
            [
                ("benchmark", "benchmark", ""),
                ("model A", "model_a", ""),
                ("model B", "model_b", ""),
                ("shared tasks", "n_tasks", ""),
                ("pass@1 A", "pass_at_1_a", "pct"),
                ("pass@1 B", "pass_at_1_b", "pct"),
                ("A - B", "diff", "diff"),
                ("SE", "diff_se", ""),
                ("95% low", "diff_ci_low", "diff"),
                ("95% high", "diff_ci_high", "diff"),
                ("cost A - B / task", "mean_cost_diff", "usd"),
            ],
            data.comparisons,
            "No two models shared a task this day.",
        ),
        f"<h2>Loops detected (top {TOP_LOOPS} sessions)</h2>",
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
    ]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Daily report {html.escape(day)}</title><style>{_STYLE}</style></head>"
        f"<body>\n{body}\n</body></html>\n"
    )
