"""The results as one PNG next to the JSON (matplotlib, no display needed).

Four panels: wall time against lake size (log-log: a line of slope 1 is linear time); our wall
time over the peer's, with the targets' limits drawn; the driver's peak resident memory (a flat
line is the "flat memory" target); and where the user path's time goes at the largest size,
phase by phase, so the next bottleneck is the longest bar.
"""

from collections.abc import Sequence
from pathlib import Path

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from benchmarks.results import SummaryRow
from benchmarks.settings import OURS, parse_size
from benchmarks.targets import RATIO_LIMIT, SINGLE_DAY_LIMIT

COLORS = {"duckdb": "tab:gray", "ray": "tab:blue", "inline": "tab:orange", "floor": "tab:green"}
STYLES = {"single": "-", "split": "--"}


def draw(summary: Sequence[SummaryRow], path: Path) -> None:
    fig = Figure(figsize=(14, 10), layout="constrained")
    (wall, ratio), (memory, phases) = fig.subplots(2, 2)
    series: dict[tuple[str, str], list[SummaryRow]] = {}
    for row in summary:
        series.setdefault((row["runner"], row["layout"]), []).append(row)
    for (runner, layout), rows in sorted(series.items()):
        rows = sorted(rows, key=lambda r: r["events"])
        x = [r["events"] for r in rows]
        style = {"color": COLORS.get(runner), "linestyle": STYLES.get(layout, ":"), "marker": "o"}
        label = f"{runner} ({layout})"
        wall.plot(x, [r["wall_s"] for r in rows], label=label, **style)
        memory.plot(x, [r["driver_peak_rss_mb"] for r in rows], label=label, **style)
        if runner in OURS:
            ratio.plot(x, [r["ratio_to_peer"] for r in rows], label=label, **style)
    wall.set(
        xscale="log",
        yscale="log",
        title="Wall time, process start to exit (median)",
        xlabel="raw events",
        ylabel="seconds",
    )
    ratio.axhline(
        RATIO_LIMIT, color="tab:red", linewidth=1, label=f"target from 1M ({RATIO_LIMIT})"
    )
    ratio.axhline(
        SINGLE_DAY_LIMIT,
        color="tab:red",
        linewidth=1,
        linestyle=":",
        label=f"target, one day ({SINGLE_DAY_LIMIT})",
    )
    ratio.set(
        xscale="log", title="User path / DuckDB peer", xlabel="raw events", ylabel="wall time ratio"
    )
    memory.set(xscale="log", title="Driver peak RSS (median)", xlabel="raw events", ylabel="MB")
    for axes in (wall, ratio, memory):
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
    draw_phases(phases, summary)
    fig.savefig(path, dpi=100)


def draw_phases(axes: Axes, summary: Sequence[SummaryRow]) -> None:
    """Each phase of ray and inline per layout at the largest size, side by side (phases may
    nest, e.g. Ray's start inside the first batches, so they are not stacked)."""
    ours = [r for r in summary if r["runner"] in OURS]
    if not ours:
        axes.set_axis_off()
        return
    size = max((r["size"] for r in ours), key=parse_size)
    rows = sorted((r for r in ours if r["size"] == size), key=lambda r: (r["layout"], r["runner"]))
    names = list(dict.fromkeys(n for r in rows for n in r["phases"]))
    height = 0.8 / len(rows)
    for i, row in enumerate(rows):
        y = [k + i * height for k in range(len(names))]
        widths = [row["phases"].get(n, 0.0) for n in names]
        axes.barh(
            y,
            widths,
            height=height,
            color=COLORS.get(row["runner"]),
            hatch="//" if row["layout"] == "split" else None,
            edgecolor="white",
            label=f"{row['runner']} ({row['layout']})",
        )
    axes.set_yticks([k + 0.4 - height / 2 for k in range(len(names))], names, fontsize=8)
    axes.invert_yaxis()
    axes.set(title=f"Phases of the user path at {size} (median seconds)", xlabel="seconds")
    axes.grid(True, axis="x", alpha=0.3)
    axes.legend(fontsize=8)
