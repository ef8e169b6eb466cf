"""`make bench`: the user path against the DuckDB peer and the scan floor, on lakes of 0.1M-10M
raw events in two layouts. See benchmarks/README.md.

    python -m benchmarks.run                         # everything the BENCH_* variables say
    BENCH_SIZES=0.1M,1M BENCH_REPS=1 make bench      # quick
    python -m benchmarks.run chart results/<file>.json   # redraw a results file's PNG
    python -m benchmarks.run profile --size 1M --layout split   # pyinstrument, one inline run

For each size and layout: the lake (generated once, cached), then each repetition runs the peer,
`trajectory-assets materialize` on Ray and in-process, and the floor, each in a fresh process;
after the first repetition our tables are compared with the peer's; on the smallest lake one
more, traced, run of each runtime counts raw file opens. The results JSON is rewritten after
every measurement, so a partial run leaves valid results.
"""

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from benchmarks.floor import run_floor
from benchmarks.lakes import LakeInfo, ensure_lake
from benchmarks.opens import audit_opens
from benchmarks.peer import PeerInputs, prepare_inputs, run_peer
from benchmarks.report import paths, print_report, write
from benchmarks.results import Results, RunRecord, host_info, run_record, summarize
from benchmarks.runlog import flat_phases
from benchmarks.settings import (
    FLOOR,
    HELP,
    OURS,
    PEER,
    RESULTS,
    BenchConfig,
    env,
    load_config,
    log,
    parse_size,
    size_label,
)
from benchmarks.targets import evaluate
from benchmarks.user_path import prepare, run_user_path
from benchmarks.verify import mismatches, verify


def bench(config: BenchConfig) -> Results:
    date = dt.date.today().isoformat()
    json_path, png_path = paths(date, config.machine)
    results = Results(
        date=date,
        machine=config.machine,
        complete=False,
        total_s=0.0,
        host=host_info(),
        config=config.to_json(),
        lakes={},
        price_models=[],
        runs=[],
        verification={},
        opens=[],
        summary=[],
        targets=[],
    )
    started = time.perf_counter()

    def save(chart: bool = False) -> None:
        results["summary"] = summarize(results["runs"])
        results["targets"] = evaluate(results["summary"], results["opens"], config.layouts)
        results["total_s"] = round(time.perf_counter() - started, 1)
        write(results, json_path, png_path if chart else None)

    log(f"{config}; results -> {json_path}")
    smallest = min(config.sizes, key=parse_size)
    for size in config.sizes:
        for layout in config.layouts:
            lake = ensure_lake(size, layout, config.days)
            results["lakes"][lake["name"]] = lake
            inputs = prepare_inputs(lake) if PEER in config.runners else None
            if inputs is not None:
                results["price_models"] = inputs["models"]
            for rep in range(config.reps[size]):
                for runner in config.runners:
                    results["runs"].append(measure(runner, lake, rep, inputs, config.interval_s))
                    if rep == 0 and runner in OURS:
                        report = verify(runner, lake["name"])
                        results["verification"].setdefault(lake["name"], {})[runner] = report
                        problems = mismatches(report)
                        if problems:
                            save()
                            raise SystemExit(
                                f"BENCHMARK STOPPED: {runner} and the DuckDB peer disagree on "
                                f"{lake['name']}:\n{problems}\n(outputs kept in "
                                "benchmarks/.lakes/_work/)"
                            )
                    save()
            if config.audit_opens and size == smallest:
                for runner in (r for r in config.runners if r in (PEER, *OURS)):
                    audit = audit_opens(runner, lake, config.interval_s, inputs)
                    if audit is not None:
                        results["opens"].append(audit)
                        save()
            save(chart=True)
    results["complete"] = True
    save(chart=True)
    print_report(results)
    log(f"wrote {json_path} and {png_path}")
    return results


def measure(
    runner: str, lake: LakeInfo, rep: int, inputs: PeerInputs | None, interval: float
) -> RunRecord:
    """One timed repetition of one runner, in a fresh process."""
    if runner in OURS:
        run = run_user_path(runner, lake, interval)
        record = run_record(
            lake, runner, rep, run["measured"], flat_phases(run["phases"]), run["phases"]
        )
    elif runner == PEER:
        assert inputs is not None
        peer = run_peer(lake, inputs, interval)
        record = run_record(lake, runner, rep, peer["measured"], peer["phases"], None)
    elif runner == FLOOR:
        floor = run_floor(lake, interval)
        record = run_record(lake, runner, rep, floor["measured"], floor["phases"], None)
    else:
        raise ValueError(f"unknown runner {runner!r}")
    log(
        f"{lake['name']} {runner} rep {rep}: {record['wall_s']:.1f} s, "
        f"{record['events_per_s']:,.0f} events/s, driver {record['driver_peak_rss_mb']:,.0f} MB, "
        f"tree {record['tree_peak_rss_mb']:,.0f} MB"
    )
    return record


def redraw(path: Path) -> None:
    from benchmarks.chart import draw

    results = json.loads(path.read_text())
    draw(results["summary"], path.with_suffix(".png"))
    log(f"wrote {path.with_suffix('.png')}")


def profile(size: str, layout: str, runtime: str, machine: str) -> None:
    """The user path's driver process under pyinstrument (`pip install pyinstrument`): with
    `inline` that is all the work; with `ray`, the driver's share."""
    try:
        import pyinstrument  # noqa: F401
    except ImportError:
        raise SystemExit(
            "profiling needs pyinstrument: .venv/bin/pip install pyinstrument"
        ) from None
    from benchmarks.user_path import child_env

    lake = ensure_lake(size, layout, int(env("BENCH_DAYS")))
    _work, home, command = prepare(runtime, lake)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"{dt.date.today().isoformat()}-{machine}-profile-{runtime}-{lake['name']}.txt"
    # `main`, not the script's `run`, whose fast exit (os._exit) would skip pyinstrument's report
    program = "import sys; from trajectory_assets.cli.main import main; sys.exit(main())"
    profiled = [sys.executable, "-m", "pyinstrument", "-r", "text", "-o", str(out), "-c", program]
    profiled += command[1:]  # the arguments after the script
    log(f"profiling: {' '.join(profiled)}")
    subprocess.run(profiled, env=child_env(home, "/tmp"), check=True)
    log(f"wrote {out}")


def main(argv: Sequence[str] | None = None) -> None:
    variables = "\n".join(
        f"  {k:<15} {v} (default {env(k) or 'host name'})" for k, v in HELP.items()
    )
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n")[0],
        epilog=f"environment variables:\n{variables}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "command", nargs="?", default="bench", choices=["bench", "chart", "profile"]
    )
    parser.add_argument("results", nargs="?", type=Path, help="chart: the results JSON")
    parser.add_argument("--size", default="1M", help="profile: lake size")
    parser.add_argument("--layout", default="single", choices=["single", "split"])
    parser.add_argument("--runtime", default="inline", choices=list(OURS))
    args = parser.parse_args(argv)
    if args.command == "chart":
        if args.results is None:
            parser.error("chart needs the results JSON")
        redraw(args.results)
    elif args.command == "profile":
        config = load_config()
        profile(size_label(parse_size(args.size)), args.layout, args.runtime, config.machine)
    else:
        bench(load_config())


if __name__ == "__main__":
    main()
