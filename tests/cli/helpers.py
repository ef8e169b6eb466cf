"""Running the command line as a user's script does: in a subprocess of its own (`run`), or,
where the process itself is not what a test looks at, by `main` in the test's process
(`in_process`): the same code, without ~2-4 s of interpreter start and imports per command."""

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.lakes import DAY1
from trajectory_assets.cli import main
from trajectory_assets.cli.instance import INSTANCE_SETTINGS

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


def in_process(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`trajectory-assets ARGS` by `main`, with the environment and output streams it would have
    in a process of its own, all restored afterwards. What only a process shows (warnings printed
    by libraries at import, the exit handlers, signals) needs `run`."""
    saved = dict(os.environ)
    out, err = io.StringIO(), io.StringIO()
    try:
        os.environ.update({"DAGSTER_HOME": str(home), **env})
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(args)
            except SystemExit as exc:  # bad arguments: click's usage message, status 2
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def on_lake(
    command: str, lake: Path, home: Path, *args: str, process: bool = False, **env: str
) -> subprocess.CompletedProcess[str]:
    """`trajectory-assets COMMAND --lake LAKE ARGS...`, whatever its exit status; in a process
    of its own if `process`."""
    argv = [command, "--lake", str(lake), *args]
    return run([*CLI, *argv], home, **env) if process else in_process(argv, home, **env)


def generate(
    lake: Path, home: Path, days: int = 1, sessions_per_day: int = 10
) -> subprocess.CompletedProcess[str]:
    """`generate` from DAY1, which must succeed."""
    size = ("--days", str(days), "--sessions-per-day", str(sessions_per_day))
    done = on_lake("generate", lake, home, "--start", DAY1, *size)
    assert done.returncode == 0, done.stderr
    return done


def materialize(
    lake: Path,
    home: Path,
    *args: str,
    runtime: str | None = "inline",
    process: bool = False,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """`materialize` on the `runtime` (None: no --runtime, the command's default), whatever its
    exit status; in a process of its own if `process`."""
    runtime_args = ["--runtime", runtime] if runtime else []
    return on_lake("materialize", lake, home, *args, *runtime_args, process=process, **env)
