"""Running the command line in a subprocess, as a user's script does."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.lakes import DAY1
from trajectory_assets.cli.common import INSTANCE_SETTINGS

CLI = [sys.executable, "-m", "trajectory_assets.cli"]


def new_dagster_home(path: Path) -> Path:
    """A Dagster instance folder as `make demo` sets one up: the project's instance settings in
    it (the command line would write them into an empty one, with a note on stderr)."""
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_SETTINGS, path / "dagster.yaml")
    return path


def run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DAGSTER_HOME": str(home), **env}
    return subprocess.run(args, capture_output=True, text=True, env=environment, timeout=300)


def on_lake(
    command: str, lake: Path, home: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """`trajectory-assets COMMAND --lake LAKE ARGS...`, whatever its exit status."""
    return run([*CLI, command, "--lake", str(lake), *args], home, **env)


def generate(
    lake: Path, home: Path, days: int = 1, sessions_per_day: int = 10
) -> subprocess.CompletedProcess[str]:
    """`generate` from DAY1, which must succeed."""
    size = ("--days", str(days), "--sessions-per-day", str(sessions_per_day))
    done = on_lake("generate", lake, home, "--start", DAY1, *size)
    assert done.returncode == 0, done.stderr
    return done


def materialize(
    lake: Path, home: Path, *args: str, runtime: str | None = "inline", **env: str
) -> subprocess.CompletedProcess[str]:
    """`materialize` on the `runtime` (None: no --runtime, the command's default), whatever its
    exit status."""
    runtime_args = ["--runtime", runtime] if runtime else []
    return on_lake("materialize", lake, home, *args, *runtime_args, **env)
