"""What a benchmark run measures (environment variables), where everything lives, the log.

Environment variables rather than flags, so `make bench` takes them as they are
(`BENCH_SIZES=0.1M,1M make bench`); `python -m benchmarks.run --help` lists them too.
"""

import datetime as dt
import os
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LAKES = HERE / ".lakes"
"""Generated raw lakes, cached between runs (git-ignored)."""
WORK = LAKES / "_work"
"""Fresh work lakes and Dagster homes of the repetitions; the last ones are kept to inspect."""
RESULTS = HERE / "results"

PEER = "duckdb"
FLOOR = "floor"
OURS = ("ray", "inline")
RUNNERS = (PEER, *OURS, FLOOR)
"""In the order each repetition runs them: the peer first, so its outputs are there to compare."""
LAYOUTS = ("single", "split")

DEFAULTS = {
    "BENCH_SIZES": "0.1M,1M,3M,10M",
    "BENCH_REPS": "3",
    "BENCH_RUNTIMES": ",".join(RUNNERS),
    "BENCH_LAYOUTS": ",".join(LAYOUTS),
    "BENCH_DAYS": "10",
    "BENCH_INTERVAL": "0.2",
    "BENCH_AUDIT": "1",
    "BENCH_MACHINE": "",
}
HELP = {
    "BENCH_SIZES": "raw events per lake (K/M suffixes); below 1M a lake is one day",
    "BENCH_REPS": "repetitions: one count, or one per size (3,3,3,1); medians are reported",
    "BENCH_RUNTIMES": "runners: duckdb (the peer), ray, inline, floor",
    "BENCH_LAYOUTS": "single (one file per session), split (2-3 files, re-sent events)",
    "BENCH_DAYS": "days of the lakes from 1M events on",
    "BENCH_INTERVAL": "seconds between memory samples",
    "BENCH_AUDIT": "1: count raw file opens with strace (smallest size, untimed); 0: skip",
    "BENCH_MACHINE": "name in the results' file names",
}


def log(message: str) -> None:
    """Progress on stderr, stamped: a full run takes hours and is read while it runs."""
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


def env(name: str) -> str:
    return os.environ.get(name) or DEFAULTS[name]


def parse_size(text: str) -> int:
    """`0.1M` -> 100000, `50K` -> 50000, `2000` -> 2000."""
    text = text.strip().upper()
    multiplier = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in ("K", "M") else text
    return round(float(number) * multiplier)


def size_label(events: int) -> str:
    return f"{events / 1_000_000:g}M"


@dataclass(frozen=True)
class BenchConfig:
    """One benchmark run's choices; recorded in the results as they were."""

    sizes: tuple[str, ...]
    reps: dict[str, int]
    runners: tuple[str, ...]
    layouts: tuple[str, ...]
    days: int
    interval_s: float
    audit_opens: bool
    machine: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def load_config() -> BenchConfig:
    """The configuration from the environment; SystemExit naming the variable when it is wrong."""
    sizes = tuple(
        dict.fromkeys(size_label(parse_size(s)) for s in env("BENCH_SIZES").split(",") if s)
    )
    if not sizes:
        raise SystemExit("BENCH_SIZES names no size")
    runners = tuple(r for r in RUNNERS if r in _items("BENCH_RUNTIMES"))
    unknown = set(_items("BENCH_RUNTIMES")) - set(RUNNERS)
    if unknown or not runners:
        raise SystemExit(f"BENCH_RUNTIMES: unknown {sorted(unknown)}; choose from {RUNNERS}")
    if any(r in OURS for r in runners) and PEER not in runners:
        raise SystemExit("ray and inline are compared with the peer: keep duckdb in BENCH_RUNTIMES")
    layouts = tuple(layout for layout in LAYOUTS if layout in _items("BENCH_LAYOUTS"))
    if not layouts or set(_items("BENCH_LAYOUTS")) - set(LAYOUTS):
        raise SystemExit(f"BENCH_LAYOUTS: choose from {LAYOUTS}")
    return BenchConfig(
        sizes=sizes,
        reps=per_size_reps(env("BENCH_REPS"), sizes),
        runners=runners,
        layouts=layouts,
        days=int(env("BENCH_DAYS")),
        interval_s=float(env("BENCH_INTERVAL")),
        audit_opens=env("BENCH_AUDIT") not in ("0", "false", "no"),
        machine=env("BENCH_MACHINE") or socket.gethostname(),
    )


def per_size_reps(text: str, sizes: tuple[str, ...]) -> dict[str, int]:
    """BENCH_REPS: one count for every size ("3"), or one per size of BENCH_SIZES ("3,3,3,1")."""
    counts = [int(c) for c in text.split(",") if c.strip()]
    if len(counts) == 1:
        counts *= len(sizes)
    if len(counts) != len(sizes) or min(counts, default=1) < 1:
        raise SystemExit(f"BENCH_REPS={text!r}: give one count, or one per size of {sizes}")
    return dict(zip(sizes, counts, strict=True))


def _items(name: str) -> list[str]:
    return [item.strip() for item in env(name).split(",") if item.strip()]
