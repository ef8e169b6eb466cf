"""The report's chart: one PNG, four panels (cost by app, latency by model, failing tools, eval
pass rates with their intervals), drawn with matplotlib's object API.

Matplotlib (Agg, no pyplot state) is imported only when a chart is drawn, so importing the
package and the Dagster definitions stays cheap.
"""

import io
from decimal import Decimal
from typing import Any, TypedDict

from trajectory_assets.report.data import AppRow, ReportData

TOP_APPS = 12
"""Bars of the cost panel: hundreds of apps (a tenant each) merge into a smear."""
LABEL_CHARACTERS = 32
"""A longer label (an app id of 120 characters) squeezed every panel of the chart."""
RUN_LABEL_CHARACTERS = 44
"""`benchmark / model / run`: each part tells runs apart."""


def label(text: str, limit: int = LABEL_CHARACTERS) -> str:
    """Text for matplotlib, where `$` would start mathtext, cut to `limit` characters in the
    middle: the end tells apart what shares a beginning (`benchmark / model / run`)."""
    if len(text) > limit:
        keep = limit - 1
        text = text[: keep // 2] + "…" + text[len(text) - (keep - keep // 2) :]
    return text.replace("$", r"\$")


def _first(shown: int, total: int) -> str:
    """` (first 16 of 20)` when a panel shows fewer rows than there are (the page lists them)."""
    return f" (first {shown} of {total})" if shown < total else ""


class AppBar(TypedDict):
    """A bar of the cost panel: an app's row, or the apps beyond the top ones together."""

    app_id: str
    sessions: int
    cost_usd: float | None
    llm_calls_unpriced: Decimal


def _sessions_note(app: AppBar) -> str:
    """A cost bar's note: its sessions, and what its cost leaves out (never a silent $0)."""
    sessions = app["sessions"]
    note = f"{sessions} session{'s' if sessions != 1 else ''}"
    unpriced = app["llm_calls_unpriced"]
    if app["cost_usd"] is None:
        return note + ", unpriced"
    return note + (f", {unpriced} unpriced call{'s' if unpriced != 1 else ''}" if unpriced else "")


def top_apps(apps: list[AppRow]) -> list[AppBar]:
    """The apps of most sessions, by name, and the others as one bar (the page lists them all)."""
    if len(apps) <= TOP_APPS:
        return list(apps)
    ranked = sorted(apps, key=lambda a: (-a["sessions"], a["app_id"]))
    top, rest = ranked[: TOP_APPS - 1], ranked[TOP_APPS - 1 :]
    other = AppBar(
        app_id=f"{len(rest)} other apps",
        sessions=sum(a["sessions"] for a in rest),
        cost_usd=None  # unknown when none of them has a priced call, as for one app
        if all(a["cost_usd"] is None for a in rest)
        else sum(a["cost_usd"] or 0.0 for a in rest),
        llm_calls_unpriced=sum((a["llm_calls_unpriced"] for a in rest), Decimal(0)),
    )
    return [*sorted(top, key=lambda a: a["app_id"]), other]


def render_chart(day: str, data: ReportData) -> bytes:
    """The PNG of the day: 1300 x 900 pixels, a "no data" panel where a section is empty."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(13, 9), dpi=100, layout="constrained")
    fig.suptitle(f"trajectory-assets daily report, {day}", fontsize=14)
    cost_ax, latency_ax, tools_ax, eval_ax = fig.subplots(2, 2).flat

    cost_panel(cost_ax, top_apps(data.by_app))

    timed = [m for m in data.by_model if m["latency_p50"] is not None]
    models = timed[:12]
    latency_ax.set_title(f"LLM latency by model (ms){_first(len(models), len(timed))}")
    if models:
        positions = list(range(len(models)))
        p50 = [m["latency_p50"] for m in models]
        p95 = [m["latency_p95"] for m in models]
        latency_ax.barh([p + 0.2 for p in positions], p50, height=0.4, label="p50")
        latency_ax.barh([p - 0.2 for p in positions], p95, height=0.4, label="p95")
        latency_ax.set_yticks(positions, [label(m["model"]) for m in models])
        latency_ax.invert_yaxis()
        latency_ax.locator_params(axis="x", nbins=5)  # five-digit ticks ran into each other
        latency_ax.legend(loc="lower right")
    else:
        _empty(latency_ax)

    failing = int(data.totals["failing_tools"])
    tools_ax.set_title(f"Failing tools (errors){_first(len(data.tools), failing)}")
    if data.tools:
        labels = [label(f"{t['app_id']} / {t['tool_name']}") for t in data.tools]
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

    rated = [
        (e, low, high)
        for e in data.evals
        if (low := e["ci_low"]) is not None and (high := e["ci_high"]) is not None
    ]
    evals = rated[:16]
    eval_ax.set_title(f"Eval pass rate, 95% Wilson{_first(len(evals), len(rated))}")
    if evals:
        ys = list(range(len(evals)))
        rates = [e["pass_rate"] for e, _, _ in evals]
        errors = [  # never below 0: matplotlib refuses a negative bar, and the page with it
            [max(0.0, r - low) for r, (_, low, _) in zip(rates, evals, strict=True)],
            [max(0.0, high - r) for r, (_, _, high) in zip(rates, evals, strict=True)],
        ]
        eval_ax.errorbar(rates, ys, xerr=errors, fmt="o", capsize=3, color="#55a868")
        eval_ax.set_yticks(
            ys,
            [
                label(f"{e['benchmark']} / {e['model']} / {e['run_id']}", RUN_LABEL_CHARACTERS)
                for e, _, _ in evals
            ],
        )
        eval_ax.set_xlim(0, 1)
        eval_ax.invert_yaxis()
        eval_ax.set_xlabel("pass rate (attempts)")
    else:
        _empty(eval_ax)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def cost_panel(ax: Any, apps: list[AppBar]) -> None:
    """A bar across for each app, its note beside it (notes above a dozen columns ran into each
    other), placed by position: by label, two ids cut alike shared one bar."""
    ax.set_title("Sessions and cost by app")
    if not apps:
        _empty(ax)
        return
    positions = list(range(len(apps)))
    costs = [a["cost_usd"] or 0.0 for a in apps]
    ax.barh(positions, costs, color="#4c72b0")
    for i, (cost, a) in enumerate(zip(costs, apps, strict=True)):
        ax.annotate(f" {_sessions_note(a)}", (cost, i), va="center", fontsize=8)
    ax.set_yticks(positions, [label(a["app_id"]) for a in apps])
    ax.invert_yaxis()
    ax.set_xlabel("cost (USD)")
    ax.margins(x=0.6)  # room for the notes beside the bars


def _empty(ax: Any) -> None:
    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes, color="gray")
    ax.set_xticks([])
    ax.set_yticks([])
