"""Running the command line in a subprocess, as a user's script does."""

import os
import subprocess
import sys
from pathlib import Path

from tests.lakes import DAY1

CLI = [sys.executable, "-m", "trajectory_assets.cli"]


def run(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "DAGSTER_HOME": str(home), **env}
    return subprocess.run(args, capture_output=True, text=True, env=environment, timeout=300)


def generate(lake: Path, home: Path, days: int = 1, sessions_per_day: int = 10) -> None:
    done = run(
        [
            *CLI,
            "generate",
            "--lake",
            str(lake),
            "--start",
            DAY1,
            "--days",
            str(days),
            "--sessions-per-day",
            str(sessions_per_day),
        ],
        home,
    )
    assert done.returncode == 0, done.stderr
