"""One repetition of the user path: `trajectory-assets materialize` in a fresh process.

Exactly what a user runs from a shell (or what the UI, the schedule or a backfill launch: one
Dagster run of every Tier B asset over the lake's days, checks and commits included), with:

- the tables named with `--assets`: every table, but not the daily report page, which the peer
  does not make (a user gets it by default; it is an asset of its own, after the tables);
- a fresh work lake (raw events linked, no table, no compaction, no checkpoint of an earlier run);
- a fresh `DAGSTER_HOME` holding the project's `dagster.yaml`, as `make demo` sets one up, and
  its databases, created untimed: a user's instance has them from its first command on, so a
  daily run does not pay for creating them (0.3-0.7 s on 2 cores, once per instance);
- the project's defaults: every `TRAJECTORY_ASSETS_*` variable of the caller's environment is
  left out, so the embedded local Ray gets every core;
- a private `RAY_TMPDIR` (short, under /tmp: Ray's socket paths must stay under 108 bytes), so
  the memory sampler finds this run's Ray processes and no other's.

The wall time runs from spawning the process to its exit; `runlog` then reads the phases from the
run's event log.
"""

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TypedDict

from benchmarks.lakes import LakeInfo, fresh_folder, fresh_work
from benchmarks.procs import Measured, log_tail, run_measured
from benchmarks.runlog import RunPhases, read_run
from benchmarks.settings import ROOT
from trajectory_assets.cli.instance import INSTANCE_SETTINGS
from trajectory_assets.operators import TABLES


class UserPathRun(TypedDict):
    """One `materialize` repetition: the command, what it cost and where its time went."""

    command: list[str]
    work: str
    measured: Measured
    phases: RunPhases


def cli() -> Path:
    """The `trajectory-assets` script of the interpreter running the benchmark (.venv/bin)."""
    return Path(sys.executable).parent / "trajectory-assets"


def materialize_command(work: Path, days: list[str], runtime: str) -> list[str]:
    span = ["--partition", days[0]] if len(days) == 1 else ["--from", days[0], "--to", days[-1]]
    tables = ["--assets", ",".join(TABLES)]
    return [str(cli()), "materialize", "--lake", str(work), *span, *tables, "--runtime", runtime]


def child_env(home: Path, ray_tmp: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAJECTORY_ASSETS_")}
    env.update(
        {
            "DAGSTER_HOME": str(home),
            "RAY_TMPDIR": ray_tmp,
            "RAY_USAGE_STATS_ENABLED": "0",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def prepare(runtime: str, lake: LakeInfo) -> tuple[Path, Path, list[str]]:
    """A fresh work lake and Dagster home for `runtime`, and the command to run there."""
    work = fresh_work(runtime, lake)
    home = fresh_folder(f"{runtime}-dagster-home")
    shutil.copy(INSTANCE_SETTINGS, home / "dagster.yaml")
    create_storage(home)
    return work, home, materialize_command(work, lake["days"], runtime)


def create_storage(home: Path) -> None:
    """Creates the databases of the instance at `home` (runs, event index, schedules), no run."""
    import dagster as dg

    instance = dg.DagsterInstance.from_config(str(home))
    try:
        instance.get_runs(limit=1)
    finally:
        instance.dispose()


def run_user_path(runtime: str, lake: LakeInfo, interval: float) -> UserPathRun:
    """Materializes every Tier B table of `lake` on `runtime` once; SystemExit if it fails."""
    work, home, command = prepare(runtime, lake)
    ray_tmp = tempfile.mkdtemp(prefix="bench-ray-", dir="/tmp")
    log_path = work.parent / f"{runtime}.log"
    try:
        measured = run_measured(
            command,
            env=child_env(home, ray_tmp),
            cwd=ROOT,
            log_path=log_path,
            interval=interval,
            marker=ray_tmp,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    if measured.exit_code != 0:
        raise SystemExit(
            f"BENCHMARK STOPPED: `{' '.join(command)}` exited with {measured.exit_code} "
            f"(log {log_path}):\n{log_tail(log_path)}"
        )
    phases = read_run(home, measured.started_at, measured.exited_at)
    return UserPathRun(command=command, work=str(work), measured=measured, phases=phases)
