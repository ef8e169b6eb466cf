"""`make bench`: how fast, and in how much memory, every Tier B table is computed.

For each lake size (generated once by trajectory_assets.synth and cached under
benchmarks/.lakes/<size>/), each repetition runs, each in a fresh child process:

- ray:    run_operator for every operator over every day, RayRuntime on a local Ray (all cores);
- inline: the same with InlineRuntime;
- duckdb: the peer, benchmarks/reference_duckdb.sql (plain DuckDB SQL from the raw Parquet);
- floor:  reading every raw column once with pyarrow and nothing else.

The parent samples the memory of each child's process tree (benchmarks/procmem.py). The first
repetition of each size checks that ray and inline produce the same tables as the peer (row
counts, a checksum of the key columns, and every value) and stops the benchmark if not.

Then a Dagster-level benchmark: a 30-day backfill as one run (BackfillPolicy.single_run()) versus
30 single-partition runs, both through `dagster.materialize` on one DagsterInstance.

Writes benchmarks/results/<date>-<machine>.json and .png. See benchmarks/README.md.

    python benchmarks/run.py                         # everything (or `make bench`)
    BENCH_SIZES=0.1M,1M BENCH_REPS=1 make bench      # quick
    python benchmarks/run.py profile --size 1M       # pyinstrument profile of one inline run
    python benchmarks/run.py chart results.json      # redraw the PNG of a results file
"""

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LAKES = HERE / ".lakes"
WORK = LAKES / "_work"
RESULTS = HERE / "results"
SQL = HERE / "reference_duckdb.sql"

RUNTIMES = ("duckdb", "ray", "inline", "floor")  # the peer first: the others are checked against it
OURS = ("ray", "inline")
EVENTS_PER_SESSION = 21.07  # measured average of the synth generator (seed 7, default apps)
LAKE_START = dt.date(2026, 1, 1)
SEED = 7

DEFAULTS = {
    "BENCH_SIZES": "0.1M,0.3M,1M,3M,10M",
    "BENCH_REPS": "3",
    "BENCH_RUNTIMES": ",".join(RUNTIMES),
    "BENCH_DAYS": "10",
    "BENCH_DAGSTER": "1",
    "BENCH_DAGSTER_DAYS": "30",
    "BENCH_DAGSTER_SESSIONS": "100",
    "BENCH_DAGSTER_RUNTIME": "ray",
    "BENCH_DAGSTER_REPS": "",  # empty: BENCH_REPS
    "BENCH_INTERVAL": "0.2",
    "BENCH_MACHINE": "",  # empty: the host name
}


def env(name: str) -> str:
    return os.environ.get(name) or DEFAULTS[name]


def log(message: str) -> None:
    stamp = dt.datetime.now().strftime("%H:%M:%S")
    print(f"[bench {stamp}] {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Lakes


def parse_size(text: str) -> int:
    text = text.strip().upper()
    mult = {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1)
    number = text[:-1] if text[-1:] in "KM" else text
    return round(float(number) * mult)


def size_label(events: int) -> str:
    if events >= 1_000_000:
        return f"{events / 1_000_000:g}M"
    return f"{events / 1_000:g}K"


def lake_config(events: int, days: int) -> dict[str, Any]:
    sessions_per_day = max(1, round(events / EVENTS_PER_SESSION / days))
    return {
        "start": LAKE_START.isoformat(),
        "days": days,
        "sessions_per_day": sessions_per_day,
        "seed": SEED,
        "files_per_session": 1,
        "invalid_rate": 0.002,
        "duplicate_rate": 0.003,
    }


def ensure_lake(name: str, config: dict[str, Any]) -> dict[str, Any]:
    """The cached raw lake `benchmarks/.lakes/<name>` for `config`, generated if missing."""
    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.synth import SynthConfig, generate_lake

    folder = LAKES / name
    marker = folder / "lake.json"
    if marker.exists():
        info = json.loads(marker.read_text())
        if info["config"] == config:
            return info
        log(f"lake {name}: cached with another configuration, regenerating")
    partial = LAKES / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    partial.mkdir(parents=True)
    synth = SynthConfig(
        start=dt.date.fromisoformat(config["start"]),
        days=config["days"],
        sessions_per_day=config["sessions_per_day"],
        seed=config["seed"],
        files_per_session=config["files_per_session"],
        invalid_rate=config["invalid_rate"],
        duplicate_rate=config["duplicate_rate"],
    )
    log(f"lake {name}: generating {config['days']} days x {config['sessions_per_day']} sessions")
    started = time.perf_counter()
    summary = generate_lake(Lake(str(partial)), synth, progress=lambda s: log(f"  {s}"))
    seconds = time.perf_counter() - started
    info = {
        "config": config,
        "days": list(summary.days),
        "sessions": summary.sessions,
        "events": summary.events,
        "files": summary.files,
        "invalid_rows": summary.invalid_rows,
        "duplicate_rows": summary.duplicate_rows,
        "bytes": summary.bytes,
        "generate_s": round(seconds, 1),
    }
    (partial / "lake.json").write_text(json.dumps(info, indent=2))
    partial.rename(folder)
    log(f"lake {name}: {summary.events:,} events in {summary.files:,} files, {seconds:.0f} s")
    return info


def fresh_work(name: str, lake: str) -> Path:
    """A lake folder whose raw_events is the cached lake's (a symlink) and nothing else: every
    Tier B table, staging folder, lease and peer output of an earlier run is removed."""
    work = WORK / name
    work.mkdir(parents=True, exist_ok=True)
    raw = work / "raw_events"
    target = LAKES / lake / "raw_events"
    for entry in work.iterdir():
        if entry.name == "raw_events" and entry.is_symlink() and entry.resolve() == target:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    if not raw.exists():
        raw.symlink_to(target, target_is_directory=True)
    return work


# ----------------------------------------------------------------------------------------------
# One measurement, in a child process


def raw_file_list(root: Path) -> list[str]:
    """Raw data files relative to the lake root, by the engine's rules (lake/raw.py): *.parquet,
    no `_`/`.`-prefixed folder or file."""
    out = []
    base = root / "raw_events"
    for folder, dirs, files in os.walk(base, followlinks=True):
        dirs[:] = sorted(d for d in dirs if not d.startswith(("_", ".")))
        rel = os.path.relpath(folder, root)
        out.extend(
            f"{rel}/{f}"
            for f in sorted(files)
            if f.endswith(".parquet") and not f.startswith(("_", "."))
        )
    return out


FLOOR_CHUNK = 5000
"""Files per pyarrow dataset in the floor: one dataset keeps every file's metadata (~60 KB here)
until it is dropped, 3.2 GB for a 1M-event lake and ~30 GB for 10M; chunks keep it flat."""


def split_sql(text: str) -> tuple[str, str, str]:
    """reference_duckdb.sql as (before, the load statement, after), cut at `-- @@load`/`@@end`."""
    head, _, rest = text.partition("-- @@load")
    load, _, tail = rest.partition("-- @@end")
    if not load:
        raise SystemExit(f"{SQL} lacks its `-- @@load` ... `-- @@end` section")
    return head, load.split("\n", 1)[1], tail


def own_peak_rss() -> int:
    """This process's peak RSS since its exec: VmHWM of its own address space. Not
    `getrusage().ru_maxrss`, which Linux carries over exec from the forked copy of the parent, so
    a child of a big parent would report at least the parent's peak."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def child_measure(runtime: str, work: str, result_path: str) -> None:
    phases: dict[str, float] = {}
    rows: dict[str, int] = {}
    extra: dict[str, Any] = {}
    if runtime in OURS:
        from trajectory_assets.engine.job import run_operator
        from trajectory_assets.engine.runtimes.inline import InlineRuntime
        from trajectory_assets.engine.runtimes.ray import RayRuntime
        from trajectory_assets.lake.fs import Lake
        from trajectory_assets.lake.raw import list_days
        from trajectory_assets.operators import OPERATORS

        started = time.perf_counter()
        lake = Lake(work)
        days = list_days(lake)
        the_runtime: Any = RayRuntime() if runtime == "ray" else InlineRuntime()
        if runtime == "ray":
            t = time.perf_counter()
            the_runtime.start()
            phases["ray_start"] = time.perf_counter() - t
            import ray

            extra["ray_cpus"] = ray.cluster_resources().get("CPU")
        batches = 0
        for op in OPERATORS:
            t = time.perf_counter()
            result = run_operator(op, lake, days, the_runtime, progress=lambda _: None)
            phases[op.name] = time.perf_counter() - t
            batches += sum(d.batches for d in result.days.values())
            for table in op.outputs:
                rows[table] = result.rows(table)
        wall = time.perf_counter() - started
        extra["batches"] = batches
        if runtime == "ray":
            t = time.perf_counter()
            the_runtime.stop()
            extra["ray_stop_s_not_in_wall"] = time.perf_counter() - t
    elif runtime == "duckdb":
        import duckdb

        os.chdir(work)
        os.makedirs("reference", exist_ok=True)  # COPY ... PARTITION_BY creates only the last level
        before, load, after = split_sql(SQL.read_text())
        started = time.perf_counter()
        files = raw_file_list(Path("."))
        by_day: dict[str, list[str]] = {}
        for f in files:
            by_day.setdefault(f.split("/")[1], []).append(f)
        phases["list_files"] = time.perf_counter() - started
        con = duckdb.connect()
        con.execute(before)
        t = time.perf_counter()
        for day_files in by_day.values():
            con.execute("SET VARIABLE raw_files = ?", [day_files])
            con.execute(load)
        phases["load"] = time.perf_counter() - t
        t = time.perf_counter()
        con.execute(after)
        phases["compute"] = time.perf_counter() - t
        wall = time.perf_counter() - started
        extra["threads"] = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
        extra["load_statements"] = len(by_day)
        con.close()
        check = duckdb.connect()
        for table in sorted(os.listdir("reference")):
            pattern = f"reference/{table}/**/*.parquet"
            query = f"SELECT count(*) FROM read_parquet('{pattern}')"
            rows[table] = check.execute(query).fetchall()[0][0]
    elif runtime == "floor":
        import pyarrow.dataset as ds

        started = time.perf_counter()
        files = [os.path.join(work, f) for f in raw_file_list(Path(work))]
        n = 0
        for i in range(0, len(files), FLOOR_CHUNK):
            dataset = ds.dataset(files[i : i + FLOOR_CHUNK], format="parquet")
            for batch in dataset.to_batches(use_threads=True):
                n += batch.num_rows
        wall = time.perf_counter() - started
        rows["raw_events"] = n
    else:
        raise SystemExit(f"unknown runtime {runtime!r}")
    own = own_peak_rss()
    Path(result_path).write_text(
        json.dumps(
            {
                "wall_s": wall,
                "phases": phases,
                "rows": rows,
                "driver_peak_rss_bytes": own,
                **extra,
            }
        )
    )


def cpu_times() -> tuple[int, int]:
    """(total, idle + iowait) jiffies of all CPUs, from /proc/stat."""
    with open("/proc/stat") as handle:
        fields = [int(v) for v in handle.readline().split()[1:]]
    return sum(fields), fields[3] + fields[4]


def spawn(
    args: Sequence[str],
    log_path: Path,
    *,
    ray_marker: bool,
    extra_env: dict[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run `run.py <args>` in a child, sampling its tree; returns (child's result, memory)."""
    from procmem import TreeSampler, marked_processes

    result_path = log_path.with_suffix(".result.json")
    result_path.unlink(missing_ok=True)
    child_env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", **(extra_env or {}))
    marker = None
    if ray_marker:  # a short private Ray temp dir (socket paths are limited to 107 bytes)
        marker = tempfile.mkdtemp(prefix="tab", dir="/tmp")
        child_env["RAY_TMPDIR"] = marker
    interval = float(env("BENCH_INTERVAL"))
    cpu_before = cpu_times()
    with open(log_path, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "run.py"), *args, str(result_path)],
            env=child_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=str(ROOT),
        )
        with TreeSampler(proc.pid, marker, interval) as sampler:
            rc = proc.wait()
    cpu_after = cpu_times()
    leftovers = []
    if marker is not None:
        leftovers = marked_processes(marker)
        for pid in leftovers:  # Ray processes of this child that outlived it: ours, by pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        shutil.rmtree(marker, ignore_errors=True)
    if rc != 0 or not result_path.exists():
        tail = log_path.read_text()[-4000:]
        raise SystemExit(f"benchmark child {' '.join(args)} failed (exit {rc}):\n{tail}")
    peaks = sampler.peaks
    memory = {
        "driver_peak_rss_sampled_bytes": peaks.driver_rss,
        "tree_peak_rss_bytes": peaks.tree_rss,
        "tree_peak_pss_bytes": peaks.tree_pss,
        "tree_max_processes": peaks.max_processes,
        "tree_processes_seen": len(peaks.processes_seen),
        "samples": peaks.samples,
        "leftover_processes_killed": len(leftovers),
        # how busy the whole machine was meanwhile (this run and everything else): on a shared
        # machine, read wall times against it
        "machine_cpu_busy": round(
            1 - (cpu_after[1] - cpu_before[1]) / max(1, cpu_after[0] - cpu_before[0]), 3
        ),
        "load_avg_1m_after": round(os.getloadavg()[0], 2),
    }
    return json.loads(result_path.read_text()), memory


def measure(runtime: str, size: str, rep: int, lake: dict[str, Any]) -> dict[str, Any]:
    work = fresh_work(runtime, size)
    log_path = WORK / f"{runtime}.log"
    result, memory = spawn(["_measure", runtime, str(work)], log_path, ray_marker=runtime == "ray")
    events = lake["events"]
    if runtime == "floor" and result["rows"]["raw_events"] != events:
        raise SystemExit(f"floor read {result['rows']['raw_events']} rows, the lake has {events}")
    run = {
        "size": size,
        "runtime": runtime,
        "rep": rep,
        "events": events,
        "events_per_s": events / result["wall_s"],
        **result,
        **memory,
    }
    log(
        f"{size} {runtime} rep {rep}: {result['wall_s']:.1f} s, "
        f"{events / result['wall_s']:,.0f} events/s, driver "
        f"{result['driver_peak_rss_bytes'] / 2**20:,.0f} MiB, tree "
        f"{memory['tree_peak_rss_bytes'] / 2**20:,.0f} MiB RSS / "
        f"{memory['tree_peak_pss_bytes'] / 2**20:,.0f} MiB PSS"
    )
    return run


# ----------------------------------------------------------------------------------------------
# Equality with the peer


def _files_ours(work: Path, table: str) -> list[str]:
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.fs import Lake

    return Catalog(Lake(str(work))).files(table)


def _files_peer(work: Path, table: str) -> list[str]:
    folder = work / "reference" / table
    return sorted(str(p) for p in folder.rglob("*.parquet")) if folder.exists() else []


def compare_table(table: str, ours: list[str], peer: list[str]) -> dict[str, Any]:
    """Row counts, key checksums, column types, and every value of every row (joined on the
    keys; doubles equal within 1e-9 relative) of our table against the peer's."""
    import duckdb

    from trajectory_assets.schema import TIER_B

    spec = TIER_B[table]
    keys = list(dict.fromkeys(["dt", *spec.keys]))
    columns = spec.schema.names
    con = duckdb.connect()
    for name, files in (("ours", ours), ("peer", peer)):
        if files:
            con.execute(f"SET VARIABLE {name}_files = ?", [files])
            con.execute(
                f"CREATE TEMP VIEW {name} AS SELECT {', '.join(columns)} FROM "
                f"read_parquet(getvariable('{name}_files'), hive_partitioning = false)"
            )
    have = {n for n, f in (("ours", ours), ("peer", peer)) if f}
    out: dict[str, Any] = {}
    key_sum = f"coalesce(sum(hash({', '.join(keys)}))::HUGEINT, 0)"
    for name in ("ours", "peer"):
        if name in have:
            n, checksum = con.execute(f"SELECT count(*), {key_sum} FROM {name}").fetchall()[0]
        else:
            n, checksum = 0, 0
        out[f"rows_{name}"] = int(n)
        out[f"key_checksum_{name}"] = str(checksum)
    problems: list[str] = []
    if out["rows_ours"] != out["rows_peer"]:
        problems.append(f"rows {out['rows_ours']} (ours) != {out['rows_peer']} (peer)")
    if out["key_checksum_ours"] != out["key_checksum_peer"]:
        problems.append("key checksums differ")
    if have == {"ours", "peer"}:
        types = {n: [r[1] for r in con.sql(f"DESCRIBE {n}").fetchall()] for n in have}
        if types["ours"] != types["peer"]:
            diff = [
                f"{c}: {a} vs {b}"
                for c, a, b in zip(columns, types["ours"], types["peer"], strict=True)
                if a != b
            ]
            problems.append(f"column types differ: {diff}")
        doubles = {f.name for f in spec.schema if str(f.type) == "double"}

        def same(c: str) -> str:
            if c in doubles:
                return (
                    f"((o.{c} IS NULL AND p.{c} IS NULL) OR coalesce(abs(o.{c} - p.{c}) "
                    f"<= 1e-9 * greatest(1.0, abs(o.{c})), false))"
                )
            return f"o.{c} IS NOT DISTINCT FROM p.{c}"

        on = " AND ".join(f"o.{k} IS NOT DISTINCT FROM p.{k}" for k in keys)
        both = "o.__in AND p.__in"
        counts = ", ".join(
            f'count(*) FILTER (WHERE {both} AND NOT {same(c)}) AS "{c}"'
            for c in columns
            if c not in keys
        )
        query = f"""
            SELECT count(*) FILTER (WHERE p.__in IS NULL) AS only_ours,
                   count(*) FILTER (WHERE o.__in IS NULL) AS only_peer, {counts}
            FROM (SELECT *, true AS __in FROM ours) o
            FULL OUTER JOIN (SELECT *, true AS __in FROM peer) p ON {on}
        """
        cursor = con.execute(query)
        names = [d[0] for d in cursor.description or ()]
        values = dict(zip(names, cursor.fetchall()[0], strict=True))
        out["only_ours"] = values.pop("only_ours")
        out["only_peer"] = values.pop("only_peer")
        out["differing_values"] = {c: n for c, n in values.items() if n}
        if out["only_ours"] or out["only_peer"]:
            problems.append(
                f"rows only in ours {out['only_ours']}, only in peer {out['only_peer']}"
            )
        if out["differing_values"]:
            problems.append(f"values differ: {out['differing_values']}")
    con.close()
    out["equal"] = not problems
    out["problems"] = problems
    return out


def verify(runtime: str, size: str) -> dict[str, Any]:
    from trajectory_assets.schema import TIER_B

    ours_work, peer_work = WORK / runtime, WORK / "duckdb"
    report = {
        table: compare_table(table, _files_ours(ours_work, table), _files_peer(peer_work, table))
        for table in TIER_B
    }
    bad = {t: r["problems"] for t, r in report.items() if not r["equal"]}
    if bad:
        lines = "\n".join(f"  {t}: {'; '.join(p)}" for t, p in bad.items())
        raise SystemExit(
            f"BENCHMARK STOPPED: {runtime} and the DuckDB peer disagree at {size}:\n{lines}\n"
            f"(outputs kept in {ours_work} and {peer_work / 'reference'})"
        )
    total = sum(r["rows_ours"] for r in report.values())
    log(f"{size} {runtime}: all {len(report)} tables equal to the peer ({total:,} rows)")
    return report


# ----------------------------------------------------------------------------------------------
# Dagster: one run for a 30-day range versus 30 single-day runs


def child_dagster(mode: str, work: str, runtime: str, result_path: str) -> None:
    import dagster as dg

    from trajectory_assets.defs.assets import TIER_B_ASSETS
    from trajectory_assets.defs.raw import raw_events
    from trajectory_assets.defs.resources import LakeResource, RayResource
    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.lake.raw import list_days

    instance = dg.DagsterInstance.get()  # DAGSTER_HOME, shared by both modes
    days = list_days(Lake(work))
    selection = dg.AssetSelection.all() - dg.AssetSelection.assets("raw_events")
    assets = [raw_events, *TIER_B_ASSETS]

    def materialize(**kwargs: Any) -> int:
        result = dg.materialize(
            assets,
            selection=selection,
            resources={"lake": LakeResource(root=work), "ray": RayResource(runtime=runtime)},  # type: ignore[arg-type]
            instance=instance,
            **kwargs,
        )
        if not result.success:
            raise SystemExit("dagster run failed")
        return len(result.get_asset_materialization_events())

    runs: list[float] = []
    materializations = 0
    started = time.perf_counter()
    if mode == "single":
        tags = {
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        }
        materializations += materialize(tags=tags)
        runs.append(time.perf_counter() - started)
    else:
        for day in days:
            t = time.perf_counter()
            materializations += materialize(partition_key=day)
            runs.append(time.perf_counter() - t)
    wall = time.perf_counter() - started
    own = own_peak_rss()
    Path(result_path).write_text(
        json.dumps(
            {
                "wall_s": wall,
                "runs": len(runs),
                "run_seconds": runs,
                "days": len(days),
                "materializations": materializations,
                "driver_peak_rss_bytes": own,
            }
        )
    )


def dagster_bench(reps: int, days: int, sessions: int, runtime: str) -> dict[str, Any]:
    from trajectory_assets.schema import TABLES

    name = f"dagster-{days}d-{sessions}s"
    config = lake_config(round(days * sessions * EVENTS_PER_SESSION), days)
    config["sessions_per_day"] = sessions
    lake = ensure_lake(name, config)
    home = WORK / "dagster_home"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    modes: dict[str, list[dict[str, Any]]] = {"single": [], "separate": []}
    for rep in range(reps):
        for mode in modes:
            work = fresh_work(f"dagster-{mode}", name)
            result, memory = spawn(
                ["_dagster", mode, str(work), runtime],
                WORK / f"dagster-{mode}.log",
                ray_marker=runtime == "ray",
                extra_env={
                    "DAGSTER_HOME": str(home),
                    "TRAJECTORY_ASSETS_START_DATE": LAKE_START.isoformat(),
                },
            )
            expected = len(TABLES) * lake["config"]["days"]
            if result["materializations"] != expected:
                raise SystemExit(
                    f"dagster {mode}: {result['materializations']} materializations, "
                    f"expected {expected}"
                )
            modes[mode].append({"rep": rep, **result, **memory})
            log(
                f"dagster {mode} rep {rep}: {result['runs']} run(s), {result['wall_s']:.1f} s, "
                f"driver {result['driver_peak_rss_bytes'] / 2**20:,.0f} MiB"
            )
    single = statistics.median(r["wall_s"] for r in modes["single"])
    separate = statistics.median(r["wall_s"] for r in modes["separate"])
    return {
        "lake": {"name": name, **lake},
        "runtime": runtime,
        "reps": reps,
        "single_run_s": single,
        "separate_runs_s": separate,
        "speedup": separate / single,
        "separate_run_s_median": statistics.median(
            s for r in modes["separate"] for s in r["run_seconds"]
        ),
        "runs": modes,
    }


# ----------------------------------------------------------------------------------------------
# Summary, targets, chart


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, Any]]]:
    summary: dict[str, dict[str, dict[str, Any]]] = {}
    for run in runs:
        summary.setdefault(run["size"], {}).setdefault(run["runtime"], {"_runs": []})
        summary[run["size"]][run["runtime"]]["_runs"].append(run)
    for by_runtime in summary.values():
        for runtime, entry in by_runtime.items():
            reps = entry.pop("_runs")
            wall = statistics.median(r["wall_s"] for r in reps)
            phases: dict[str, float] = {}
            for phase in reps[0]["phases"]:
                phases[phase] = round(statistics.median(r["phases"][phase] for r in reps), 3)
            entry.update(
                {
                    "reps": len(reps),
                    "events": reps[0]["events"],
                    "wall_s": round(wall, 3),
                    "wall_s_all": [round(r["wall_s"], 3) for r in reps],
                    "events_per_s": round(reps[0]["events"] / wall, 1),
                    "driver_peak_rss_mb": _mb(statistics.median(_driver(r) for r in reps)),
                    "driver_peak_rss_mb_max": _mb(max(_driver(r) for r in reps)),
                    "tree_peak_rss_mb": _mb(
                        statistics.median(r["tree_peak_rss_bytes"] for r in reps)
                    ),
                    "tree_peak_pss_mb": _mb(
                        statistics.median(r["tree_peak_pss_bytes"] for r in reps)
                    ),
                    "tree_max_processes": max(r["tree_max_processes"] for r in reps),
                    "phases_s": phases,
                    "rows": reps[0]["rows"],
                }
            )
            if runtime in ("ray", "inline"):
                entry["batches"] = reps[0].get("batches")
        peer = by_runtime.get("duckdb")
        for entry in by_runtime.values():
            entry["ratio_to_peer"] = round(entry["wall_s"] / peer["wall_s"], 3) if peer else None
    return summary


def _driver(run: dict[str, Any]) -> int:
    return int(run["driver_peak_rss_bytes"])


def _mb(value: float) -> float:
    return round(value / 2**20, 1)


def evaluate_targets(
    summary: dict[str, dict[str, dict[str, Any]]], dagster: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """The targets of the issue. `met` is None when the sizes it needs were not measured; then
    `indicative` holds the same figure at the sizes that were (smallest and largest)."""
    targets: list[dict[str, Any]] = []
    sizes = sorted(summary, key=parse_size)
    big, small = "10M", "1M"

    def get(size: str, runtime: str, key: str) -> Any:
        return summary.get(size, {}).get(runtime, {}).get(key)

    def add(name: str, limit: str, value: Any, ok: Callable[[Any], bool], indicative: Any) -> None:
        targets.append(
            {
                "target": name,
                "limit": limit,
                "value": value,
                "met": None if value is None else bool(ok(value)),
                "indicative": indicative if value is None else None,
            }
        )

    largest = sizes[-1] if sizes else None
    for runtime, limit in (("ray", 2.0), ("inline", 1.5)):
        add(
            f"{runtime} wall / DuckDB peer at 10M",
            f"<= {limit}",
            get(big, runtime, "ratio_to_peer"),
            lambda v, limit=limit: v <= limit,
            {"size": largest, "value": get(largest, runtime, "ratio_to_peer")} if largest else None,
        )
    for runtime in OURS:
        add(
            f"{runtime} driver peak RSS at 10M (MB)",
            "< 1536",
            get(big, runtime, "driver_peak_rss_mb"),
            lambda v: v < 1536,
            {"size": largest, "value": get(largest, runtime, "driver_peak_rss_mb")}
            if largest
            else None,
        )
        a, b = get(small, runtime, "driver_peak_rss_mb"), get(big, runtime, "driver_peak_rss_mb")
        lo, hi = (sizes[0], sizes[-1]) if len(sizes) > 1 else (None, None)
        lo_v, hi_v = get(lo, runtime, "driver_peak_rss_mb"), get(hi, runtime, "driver_peak_rss_mb")
        add(
            f"{runtime} driver peak RSS 10M / 1M",
            "<= 1.2",
            round(b / a, 3) if a and b else None,
            lambda v: v <= 1.2,
            {"sizes": [lo, hi], "value": round(hi_v / lo_v, 3)} if lo_v and hi_v else None,
        )
    for runtime in (*OURS, "duckdb"):
        a, b = get(small, runtime, "wall_s"), get(big, runtime, "wall_s")
        lo, hi = (sizes[0], sizes[-1]) if len(sizes) > 1 else (None, None)
        lo_v, hi_v = get(lo, runtime, "wall_s"), get(hi, runtime, "wall_s")
        factor = parse_size(hi) / parse_size(lo) if lo and hi else None
        add(
            f"{runtime} wall 10M / 1M (linear time)",
            "< 12",
            round(b / a, 3) if a and b else None,
            lambda v: v < 12,
            {"sizes": [lo, hi], "value": round(hi_v / lo_v, 3), "size_factor": factor}
            if lo_v and hi_v
            else None,
        )
    add(
        "dagster: 30 single-day runs / one 30-day run",
        ">= 5",
        round(dagster["speedup"], 3) if dagster else None,
        lambda v: v >= 5,
        None,
    )
    return targets


def draw(results: dict[str, Any], path: Path) -> None:
    from pngchart import write_chart

    speed: dict[str, list[tuple[float, float]]] = {}
    memory: dict[str, list[tuple[float, float]]] = {}
    for by_runtime in results["summary"].values():
        for runtime, entry in by_runtime.items():
            speed.setdefault(runtime, []).append((entry["events"], entry["events_per_s"]))
            memory.setdefault(runtime, []).append((entry["events"], entry["driver_peak_rss_mb"]))
    write_chart(
        str(path),
        [
            (
                "EVENTS/S BY RUNTIME (MEDIAN OF THE REPETITIONS)",
                "RAW EVENTS PER SECOND, LOG SCALE",
                speed,
                True,
            ),
            ("DRIVER PEAK RSS (MB)", "PEAK RESIDENT MEMORY OF THE DRIVER, MB", memory, False),
        ],
    )


def machine_info() -> dict[str, Any]:
    import dagster
    import duckdb
    import pyarrow
    import ray

    mem = 0
    with open("/proc/meminfo") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    model = ""
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "host": socket.gethostname(),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(mem / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": {
            "duckdb": duckdb.__version__,
            "pyarrow": pyarrow.__version__,
            "ray": ray.__version__,
            "dagster": dagster.__version__,
        },
    }


# ----------------------------------------------------------------------------------------------
# Entry points


def bench(args: argparse.Namespace) -> None:
    wanted = [] if args.sizes.strip().lower() == "none" else args.sizes.split(",")
    sizes = [size_label(parse_size(s)) for s in wanted if s.strip()]
    runtimes = [r for r in RUNTIMES if r in args.runtimes.split(",")]
    if any(r in OURS for r in runtimes) and "duckdb" not in runtimes:
        raise SystemExit("ray/inline are compared with the peer: keep duckdb in BENCH_RUNTIMES")
    reps = per_size_reps(args.reps, sizes)
    machine = args.machine or socket.gethostname()
    stamp = dt.date.today().isoformat()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_json = RESULTS / f"{stamp}-{machine}.json"
    out_png = RESULTS / f"{stamp}-{machine}.png"
    partial = out_json.with_suffix(".json.tmp")
    results: dict[str, Any] = {
        "date": stamp,
        "machine": machine,
        "host": machine_info(),
        "config": {
            "sizes": sizes,
            "reps": reps,
            "runtimes": runtimes,
            "days": args.days,
            "batch_bytes": "engine default (2 MiB)",
            "memory_sample_interval_s": float(env("BENCH_INTERVAL")),
            "dagster": bool(args.dagster),
        },
        "lakes": {},
        "runs": [],
        "verification": {},
    }
    log(f"sizes {sizes}, rep(s) {reps}, runtimes {runtimes}; results -> {out_json}")
    started = time.perf_counter()
    for size in sizes:
        lake = ensure_lake(size, lake_config(parse_size(size), args.days))
        results["lakes"][size] = lake
        for rep in range(reps[size]):
            for runtime in runtimes:
                results["runs"].append(measure(runtime, size, rep, lake))
                if rep == 0 and runtime in OURS:
                    results["verification"].setdefault(size, {})[runtime] = verify(runtime, size)
                partial.write_text(json.dumps(results, indent=2))
    results["summary"] = summarize(results["runs"])
    dagster = None
    if args.dagster:
        dagster = dagster_bench(
            args.dagster_reps or max(reps.values(), default=1),
            args.dagster_days,
            args.dagster_sessions,
            args.dagster_runtime,
        )
        results["dagster"] = dagster
    results["targets"] = evaluate_targets(results["summary"], dagster)
    results["total_s"] = round(time.perf_counter() - started, 1)
    out_json.write_text(json.dumps(results, indent=2))
    partial.unlink(missing_ok=True)
    draw(results, out_png)
    report(results)
    log(f"wrote {out_json} and {out_png}")


def per_size_reps(text: str, sizes: Sequence[str]) -> dict[str, int]:
    """BENCH_REPS: one count for every size ("3"), or one per size of BENCH_SIZES ("3,3,1")."""
    counts = [int(c) for c in text.split(",") if c.strip()]
    if len(counts) == 1:
        counts *= len(sizes)
    if len(counts) != len(sizes) or min(counts, default=1) < 1:
        raise SystemExit(f"BENCH_REPS={text!r}: give one count, or one per size of {sizes}")
    return dict(zip(sizes, counts, strict=True))


def report(results: dict[str, Any]) -> None:
    print(f"\nrepetitions {results['config']['reps']}; ratio = wall / DuckDB peer wall")
    header = (
        f"{'size':>6} {'runtime':>8} {'wall s':>9} {'events/s':>10} {'ratio':>6} "
        f"{'driver MB':>10} {'tree RSS MB':>12} {'tree PSS MB':>12}"
    )
    print(header)
    for size in sorted(results["summary"], key=parse_size):
        for runtime, e in results["summary"][size].items():
            ratio = f"{e['ratio_to_peer']:.2f}" if e["ratio_to_peer"] is not None else "-"
            print(
                f"{size:>6} {runtime:>8} {e['wall_s']:>9.1f} {e['events_per_s']:>10,.0f} "
                f"{ratio:>6} {e['driver_peak_rss_mb']:>10,.0f} {e['tree_peak_rss_mb']:>12,.0f} "
                f"{e['tree_peak_pss_mb']:>12,.0f}"
            )
    if "dagster" in results:
        d = results["dagster"]
        print(
            f"\ndagster ({d['runtime']}, {d['lake']['events']:,} events over "
            f"{len(d['lake']['days'])} days): one run {d['single_run_s']:.1f} s, "
            f"{len(d['lake']['days'])} runs {d['separate_runs_s']:.1f} s, "
            f"speedup {d['speedup']:.1f}x"
        )
    print("\ntargets:")
    for t in results["targets"]:
        state = {True: "MET", False: "MISSED", None: "not measured"}[t["met"]]
        extra = f"  (indicative: {t['indicative']})" if t["indicative"] else ""
        print(f"  {state:>12}  {t['target']} {t['limit']}: {t['value']}{extra}")


def profile(args: argparse.Namespace) -> None:
    """One inline run of every operator under pyinstrument (pip install pyinstrument)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        raise SystemExit(
            "profiling needs pyinstrument: .venv/bin/pip install pyinstrument"
        ) from None
    from trajectory_assets.engine.job import run_operator
    from trajectory_assets.engine.runtimes.inline import InlineRuntime
    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.lake.raw import list_days
    from trajectory_assets.operators import OPERATORS

    size = size_label(parse_size(args.size))
    ensure_lake(size, lake_config(parse_size(size), args.days))
    work = fresh_work("profile", size)
    lake = Lake(str(work))
    days = list_days(lake)
    profiler = Profiler(interval=0.005)
    profiler.start()
    for op in OPERATORS:
        run_operator(op, lake, days, InlineRuntime(), progress=lambda _: None)
    profiler.stop()
    machine = args.machine or socket.gethostname()
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{dt.date.today().isoformat()}-{machine}-profile-inline-{size}.txt"
    path.write_text(profiler.output_text(unicode=False, color=False))
    print(profiler.output_text(unicode=False, color=False))
    log(f"wrote {path}")


def main(argv: Sequence[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "_measure":
        child_measure(*argv[1:])
        return
    if argv and argv[0] == "_dagster":
        child_dagster(*argv[1:])
        return
    if argv and argv[0] == "chart":
        draw(json.loads(Path(argv[1]).read_text()), Path(argv[1]).with_suffix(".png"))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", default="bench", choices=["bench", "profile"])
    parser.add_argument(
        "--sizes", default=env("BENCH_SIZES"), help="e.g. 0.1M,1M,10M; none: Dagster only"
    )
    parser.add_argument(
        "--reps", default=env("BENCH_REPS"), help="e.g. 3, or one per size: 3,3,3,1,1"
    )
    parser.add_argument("--runtimes", default=env("BENCH_RUNTIMES"))
    parser.add_argument("--days", type=int, default=int(env("BENCH_DAYS")))
    parser.add_argument("--dagster", type=int, default=int(env("BENCH_DAGSTER")))
    parser.add_argument("--dagster-days", type=int, default=int(env("BENCH_DAGSTER_DAYS")))
    parser.add_argument("--dagster-sessions", type=int, default=int(env("BENCH_DAGSTER_SESSIONS")))
    parser.add_argument(
        "--dagster-runtime", default=env("BENCH_DAGSTER_RUNTIME"), choices=["ray", "inline"]
    )
    parser.add_argument("--dagster-reps", type=int, default=int(env("BENCH_DAGSTER_REPS") or 0))
    parser.add_argument("--machine", default=env("BENCH_MACHINE"))
    parser.add_argument("--size", default="1M", help="profile: the lake size")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(HERE))
    if args.command == "profile":
        profile(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
