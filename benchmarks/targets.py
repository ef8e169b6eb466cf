"""The performance targets of the user path, evaluated from a results document; none is
weakened here.

On `make bench` (2 cores; medians of the repetitions; the peer timed in the same run), per layout:

- user path / peer <= 0.8 at 1M, 3M and 10M events, and <= 1.0 for a single day of ~100k
  events (`0.1M`), for the Ray runtime and for the in-process one;
- checks <= 5% of a run's wall time (`phase/checks` over the wall time, at every size);
- raw files opened once per run (every raw file opened, none twice: `opens`);
- linear: wall time 10M / 1M < 11, for every runtime;
- driver peak memory flat within 20%: the largest over the smallest median driver peak RSS
  from 1M to 10M <= 1.2.

A target whose sizes (or figures) were not measured has `met: None`; its `detail` then gives
the same figure at the sizes that were, where there is one, marked indicative.
"""

from collections.abc import Sequence

from benchmarks.opens import OpenAudit
from benchmarks.results import SummaryRow, TargetResult, find
from benchmarks.settings import OURS, parse_size

RATIO_SIZES = ("1M", "3M", "10M")
RATIO_LIMIT = 0.8
SINGLE_DAY = "0.1M"
SINGLE_DAY_LIMIT = 1.0
CHECKS_LIMIT = 0.05
LINEAR_LIMIT = 11.0
FLAT_LIMIT = 1.2


def evaluate(
    summary: Sequence[SummaryRow], opens: Sequence[OpenAudit], layouts: Sequence[str]
) -> list[TargetResult]:
    targets: list[TargetResult] = []
    for layout in layouts:
        for runner in OURS:
            targets += ratio_targets(summary, layout, runner)
            targets.append(checks_target(summary, layout, runner))
            targets.append(linear_target(summary, layout, runner))
            targets.append(flat_memory_target(summary, layout, runner))
            targets.append(opens_target(opens, layout, runner))
    return targets


def _target(
    target: str,
    limit: str,
    layout: str,
    runner: str,
    value: float | None,
    met: bool | None,
    detail: str = "",
) -> TargetResult:
    return TargetResult(
        target=target,
        limit=limit,
        layout=layout,
        runner=runner,
        value=value,
        met=met,
        detail=detail,
    )


def ratio_targets(summary: Sequence[SummaryRow], layout: str, runner: str) -> list[TargetResult]:
    out: list[TargetResult] = []
    for size, limit in [(SINGLE_DAY, SINGLE_DAY_LIMIT)] + [(s, RATIO_LIMIT) for s in RATIO_SIZES]:
        row = find(summary, size, layout, runner)
        value = row["ratio_to_peer"] if row else None
        detail = ""
        if value is None and size == SINGLE_DAY:
            days = [
                r
                for r in summary
                if r["layout"] == layout
                and r["runner"] == runner
                and parse_size(r["size"]) < 1_000_000
                and r["ratio_to_peer"] is not None
            ]
            if days:
                detail = f"indicative: {days[0]['ratio_to_peer']} at {days[0]['size']}"
        out.append(
            _target(
                f"wall / peer at {size}",
                f"<= {limit}",
                layout,
                runner,
                value,
                None if value is None else value <= limit,
                detail,
            )
        )
    return out


def checks_target(summary: Sequence[SummaryRow], layout: str, runner: str) -> TargetResult:
    rows = [r for r in summary if r["layout"] == layout and r["runner"] == runner]
    shares = [(r["checks_share"], r["size"]) for r in rows if r["checks_share"] is not None]
    name, limit = "checks / wall (largest over sizes)", f"<= {CHECKS_LIMIT:.0%}"
    if not rows:
        return _target(name, limit, layout, runner, None, None, "no run")
    if not shares:
        return _target(
            name,
            limit,
            layout,
            runner,
            None,
            None,
            "the runs record no phase/checks: not measurable",
        )
    value, size = max(shares)
    return _target(name, limit, layout, runner, value, value <= CHECKS_LIMIT, f"largest at {size}")


def linear_target(summary: Sequence[SummaryRow], layout: str, runner: str) -> TargetResult:
    small, big = find(summary, "1M", layout, runner), find(summary, "10M", layout, runner)
    name, limit = "wall 10M / 1M (linear time)", f"< {LINEAR_LIMIT:g}"
    if small and big:
        value = round(big["wall_s"] / small["wall_s"], 3)
        return _target(name, limit, layout, runner, value, value < LINEAR_LIMIT)
    rows = _multi_day(summary, layout, runner)
    detail = ""
    if len(rows) >= 2:
        lo, hi = rows[0], rows[-1]
        factor = parse_size(hi["size"]) / parse_size(lo["size"])
        detail = (
            f"indicative: {hi['size']}/{lo['size']} = "
            f"{hi['wall_s'] / lo['wall_s']:.2f} for {factor:g}x the events"
        )
    return _target(name, limit, layout, runner, None, None, detail)


def flat_memory_target(summary: Sequence[SummaryRow], layout: str, runner: str) -> TargetResult:
    rows = _multi_day(summary, layout, runner)
    name, limit = "driver peak RSS, largest / smallest, 1M..10M", f"<= {FLAT_LIMIT:g}"
    peaks = [r["driver_peak_rss_mb"] for r in rows]
    sizes = {r["size"] for r in rows}
    value = round(max(peaks) / min(peaks), 3) if len(peaks) >= 2 and min(peaks) > 0 else None
    span = f"{rows[0]['size']}..{rows[-1]['size']}" if rows else ""
    if {"1M", "10M"} <= sizes and value is not None:
        return _target(name, limit, layout, runner, value, value <= FLAT_LIMIT, span)
    detail = f"indicative: {value} over {span}" if value is not None else ""
    return _target(name, limit, layout, runner, None, None, detail)


def opens_target(opens: Sequence[OpenAudit], layout: str, runner: str) -> TargetResult:
    name, limit = "raw file opens per raw file", "= 1"
    audit = next((a for a in opens if a["runner"] == runner and a["lake"].startswith(layout)), None)
    if audit is None:
        return _target(name, limit, layout, runner, None, None, "not traced")
    met = audit["max_opens_per_file"] == 1 and audit["files_opened"] == audit["raw_files"]
    detail = (
        f"{audit['lake']}: {audit['opens']:,} opens of {audit['files_opened']:,} of "
        f"{audit['raw_files']:,} files, {audit['files_opened_more_than_once']:,} opened "
        "more than once; by step: "
        + ", ".join(f"{step} {n:,}" for step, n in audit["opens_by_step"].items())
    )
    value = round(audit["opens"] / audit["raw_files"], 3) if audit["raw_files"] else None
    return _target(name, limit, layout, runner, value, met, detail)


def _multi_day(summary: Sequence[SummaryRow], layout: str, runner: str) -> list[SummaryRow]:
    rows = [
        r
        for r in summary
        if r["layout"] == layout and r["runner"] == runner and parse_size(r["size"]) >= 1_000_000
    ]
    return sorted(rows, key=lambda r: parse_size(r["size"]))
