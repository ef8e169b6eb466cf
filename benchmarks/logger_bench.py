"""The caller's cost of `EventLogger.log()`: per-call latency while the flush thread is writing.

    .venv/bin/python benchmarks/logger_bench.py [--events 200000] [--threads 1]

Each call is timed on its own with perf_counter_ns (the timer's own cost, a few tens of ns, is
included). The logger writes to a temporary local lake with its default flush settings scaled
down (flush every 20,000 events or 1 s), so storage work runs concurrently with the measurement,
as it would in a live agent. Results go to benchmarks/results/logger_bench.json.
"""

import argparse
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from trajectory_assets.ingest import EventLogger
from trajectory_assets.ingest.logger import Capture

RESULTS = Path(__file__).resolve().parent / "results" / "logger_bench.json"


def run(events: int, threads: int, capture: Capture) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as root:
        logger = EventLogger(
            root,
            "bench",
            capture=capture,
            flush_events=20_000,
            flush_interval_s=1.0,
        )
        per_thread = events // threads
        samples: list[list[int]] = [[] for _ in range(threads)]

        def work(t: int) -> None:
            session = logger.session(f"bench-{t}")
            timings = samples[t]
            clock = time.perf_counter_ns
            for i in range(per_thread):
                start = clock()
                session.llm_call(
                    "gpt-4o",
                    input_tokens=812,
                    output_tokens=64,
                    cache_tokens=512,
                    latency_ms=930.5,
                    payload={"step": i},
                )
                timings.append(clock() - start)
            session.end()

        started = time.perf_counter()
        workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        logging_s = time.perf_counter() - started
        close_started = time.perf_counter()
        logger.close(timeout=120)
        close_s = time.perf_counter() - close_started
        stats = logger.stats()
    us = sorted(x / 1000 for per in samples for x in per)
    return {
        "capture": capture,
        "threads": threads,
        "events": len(us),
        "log_call_us": {
            "median": statistics.median(us),
            "p90": us[int(len(us) * 0.90)],
            "p99": us[int(len(us) * 0.99)],
            "p999": us[int(len(us) * 0.999)],
            "max": us[-1],
            "mean": statistics.fmean(us),
        },
        "events_per_s_logged": len(us) / logging_s,
        "close_s": close_s,
        "written_events": stats["written_events"],
        "dropped": stats["dropped"],
        "write_failures": stats["write_failures"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    levels: tuple[Capture, ...] = ("full", "sampled", "metrics_only")
    results = [run(args.events, args.threads, c) for c in levels]
    results.append(run(args.events, max(4, args.threads), "full"))
    report = {
        "benchmark": "EventLogger.log() caller latency",
        "target": "median < 50 us",
        "python": sys.version.split()[0],
        "machine": platform.machine(),
        "results": results,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    for r in results:
        lat = r["log_call_us"]
        assert isinstance(lat, dict)
        print(
            f"{r['capture']:>12} threads={r['threads']}: median {lat['median']:.2f} us, "
            f"p99 {lat['p99']:.2f} us, max {lat['max']:.0f} us; "
            f"{r['written_events']:,} written, close {r['close_s']:.2f} s"
        )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
