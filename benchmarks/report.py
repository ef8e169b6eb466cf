"""Writing the results (JSON, chart) and printing them as tables a person reads at the end.

The JSON is written to a temporary name and renamed, so a reader (or an interrupted run) never
sees half a document.
"""

import json
from collections.abc import Sequence
from pathlib import Path

from benchmarks.chart import draw
from benchmarks.results import Results, SummaryRow, TargetResult
from benchmarks.settings import OURS, RESULTS

STATE = {True: "met", False: "MISSED", None: "not measured"}


def paths(date: str, machine: str) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    return RESULTS / f"{date}-{machine}.json", RESULTS / f"{date}-{machine}.png"


def write(results: Results, json_path: Path, png_path: Path | None = None) -> None:
    partial = json_path.with_suffix(".json.tmp")
    partial.write_text(json.dumps(results, indent=2) + "\n")
    partial.replace(json_path)
    if png_path is not None and results["summary"]:
        draw(results["summary"], png_path)


def print_report(results: Results) -> None:
    print()
    print(summary_table(results["summary"]))
    print()
    print(phase_table(results["summary"]))
    print()
    print(targets_table(results["targets"]))


def summary_table(summary: Sequence[SummaryRow]) -> str:
    lines = [
        "size   layout  runner  reps     wall s   events/s  / peer  driver MB  tree MB",
    ]
    for r in summary:
        ratio = f"{r['ratio_to_peer']:.2f}" if r["ratio_to_peer"] is not None else "-"
        lines.append(
            f"{r['size']:<6} {r['layout']:<7} {r['runner']:<7} {r['reps']:>4} "
            f"{r['wall_s']:>10.1f} {r['events_per_s']:>10,.0f} {ratio:>7} "
            f"{r['driver_peak_rss_mb']:>10,.0f} {r['tree_peak_rss_mb']:>8,.0f}"
        )
    return "\n".join(lines)


def phase_table(summary: Sequence[SummaryRow]) -> str:
    """Median seconds per phase of the user path: one line per lake and runtime."""
    ours = [r for r in summary if r["runner"] in OURS]
    if not ours:
        return ""
    names = list(dict.fromkeys(n for r in ours for n in r["phases"]))
    lines = ["phases of the user path, median seconds (phase/* are totals inside the steps):"]
    for r in ours:
        cells = ", ".join(f"{n} {r['phases'][n]:.1f}" for n in names if n in r["phases"])
        share = f"; checks {r['checks_share']:.1%}" if r["checks_share"] is not None else ""
        lines.append(f"  {r['size']} {r['layout']} {r['runner']}: {cells}{share}")
    return "\n".join(lines)


def targets_table(targets: Sequence[TargetResult]) -> str:
    lines = ["targets:"]
    for t in targets:
        value = "-" if t["value"] is None else f"{t['value']:g}"
        detail = f"  ({t['detail']})" if t["detail"] else ""
        lines.append(
            f"  {STATE[t['met']]:>12}  {t['layout']:<6} {t['runner']:<6} {t['target']} "
            f"{t['limit']}: {value}{detail}"
        )
    return "\n".join(lines)
