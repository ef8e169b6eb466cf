"""The results document: every repetition as measured, and the medians the targets are read from.

`benchmarks/results/<date>-<machine>.json` is rewritten after every measurement, complete and
valid each time (`complete` says whether the run reached its end), so a run stopped after its
small sizes, or interrupted, still leaves results to read. Its shape is the `Results` TypedDict.
"""

import os
import platform
import statistics
from collections.abc import Iterable
from typing import Any, TypedDict

import psutil

from benchmarks.lakes import LakeInfo
from benchmarks.opens import OpenAudit
from benchmarks.procs import Measured
from benchmarks.runlog import RunPhases
from benchmarks.settings import PEER, parse_size
from benchmarks.verify import TableCheck

MB = 2**20


class RunRecord(TypedDict):
    """One repetition of one runner on one lake."""

    size: str
    layout: str
    runner: str
    rep: int
    events: int
    raw_files: int
    wall_s: float
    events_per_s: float
    driver_peak_rss_mb: float
    tree_peak_rss_mb: float
    tree_max_processes: int
    samples: int
    machine_cpu_busy: float
    load_avg_1m_after: float
    leftovers_killed: int
    phases: dict[str, float]
    """Flat `name: seconds`: for ours `start_and_load`, `step/<op>`, `phase/<name>` (totals
    over the steps), `run_end_to_exit`; for the peer and the floor their own marks."""
    run: RunPhases | None
    """Ours only: everything read from the run's event log (per step, per asset)."""


class SummaryRow(TypedDict):
    """Medians over the repetitions of one runner on one lake."""

    size: str
    layout: str
    runner: str
    reps: int
    events: int
    raw_files: int
    wall_s: float
    wall_s_all: list[float]
    events_per_s: float
    ratio_to_peer: float | None
    driver_peak_rss_mb: float
    driver_peak_rss_mb_max: float
    tree_peak_rss_mb: float
    phases: dict[str, float]
    checks_share: float | None
    """phase/checks over the wall time (median of the repetitions); None if not recorded."""


class TargetResult(TypedDict):
    target: str
    limit: str
    layout: str
    runner: str
    value: float | None
    met: bool | None
    """None: the sizes (or figures) it needs were not measured."""
    detail: str


class Results(TypedDict):
    date: str
    machine: str
    complete: bool
    total_s: float
    host: dict[str, Any]
    config: dict[str, Any]
    lakes: dict[str, LakeInfo]
    price_models: list[str]
    runs: list[RunRecord]
    verification: dict[str, dict[str, dict[str, TableCheck]]]
    """lake -> runner -> table -> check."""
    opens: list[OpenAudit]
    summary: list[SummaryRow]
    targets: list[TargetResult]


def run_record(
    lake: LakeInfo,
    runner: str,
    rep: int,
    measured: Measured,
    phases: dict[str, float],
    run: RunPhases | None,
) -> RunRecord:
    return RunRecord(
        size=lake["size"],
        layout=lake["layout"],
        runner=runner,
        rep=rep,
        events=lake["events"],
        raw_files=lake["files"],
        wall_s=round(measured.wall_s, 3),
        events_per_s=round(lake["events"] / measured.wall_s, 1),
        driver_peak_rss_mb=round(measured.driver_peak_rss_bytes / MB, 1),
        tree_peak_rss_mb=round(measured.tree_peak_rss_bytes / MB, 1),
        tree_max_processes=measured.tree_max_processes,
        samples=measured.samples,
        machine_cpu_busy=measured.machine_cpu_busy,
        load_avg_1m_after=measured.load_avg_1m_after,
        leftovers_killed=measured.leftovers_killed,
        phases={k: round(v, 3) for k, v in phases.items()},
        run=run,
    )


def summarize(runs: Iterable[RunRecord]) -> list[SummaryRow]:
    """Medians per (size, layout, runner), with the ratio to the peer of the same lake."""
    groups: dict[tuple[str, str, str], list[RunRecord]] = {}
    for run in runs:
        groups.setdefault((run["size"], run["layout"], run["runner"]), []).append(run)
    rows: list[SummaryRow] = []
    for (size, layout, runner), reps in groups.items():
        wall = statistics.median(r["wall_s"] for r in reps)
        names = dict.fromkeys(name for r in reps for name in r["phases"])
        phases = {
            n: round(statistics.median(r["phases"][n] for r in reps if n in r["phases"]), 3)
            for n in names
        }
        shares = [
            r["phases"]["phase/checks"] / r["wall_s"] for r in reps if "phase/checks" in r["phases"]
        ]
        rows.append(
            SummaryRow(
                size=size,
                layout=layout,
                runner=runner,
                reps=len(reps),
                events=reps[0]["events"],
                raw_files=reps[0]["raw_files"],
                wall_s=round(wall, 3),
                wall_s_all=[r["wall_s"] for r in reps],
                events_per_s=round(reps[0]["events"] / wall, 1),
                ratio_to_peer=None,
                driver_peak_rss_mb=round(
                    statistics.median(r["driver_peak_rss_mb"] for r in reps), 1
                ),
                driver_peak_rss_mb_max=max(r["driver_peak_rss_mb"] for r in reps),
                tree_peak_rss_mb=round(statistics.median(r["tree_peak_rss_mb"] for r in reps), 1),
                phases=phases,
                checks_share=round(statistics.median(shares), 4) if shares else None,
            )
        )
    peer = {(r["size"], r["layout"]): r["wall_s"] for r in rows if r["runner"] == PEER}
    for row in rows:
        base = peer.get((row["size"], row["layout"]))
        row["ratio_to_peer"] = round(row["wall_s"] / base, 3) if base else None
    rows.sort(key=lambda r: (parse_size(r["size"]), r["layout"], r["runner"]))
    return rows


def find(summary: Iterable[SummaryRow], size: str, layout: str, runner: str) -> SummaryRow | None:
    return next(
        (r for r in summary if (r["size"], r["layout"], r["runner"]) == (size, layout, runner)),
        None,
    )


def host_info() -> dict[str, Any]:
    """The machine and the versions that shape the figures."""
    from importlib.metadata import version

    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            model = next((ln.split(":", 1)[1].strip() for ln in handle if "model name" in ln), "")
    except OSError:
        pass
    packages = ("duckdb", "pyarrow", "ray", "dagster", "deltalake", "polars", "psutil")
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {name: version(name) for name in packages},
    }
