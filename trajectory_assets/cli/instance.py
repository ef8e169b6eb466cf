"""The Dagster instance a command records its runs in: DAGSTER_HOME checked, made with the
project's settings where it has none, and opened with the run's output left to the terminal."""

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import click

from trajectory_assets.cli.common import CliError

if TYPE_CHECKING:
    import dagster as dg


INSTANCE_SETTINGS = Path(__file__).parents[1] / "defs" / "dagster_local.yaml"
"""The instance settings `make demo` uses, written into a DAGSTER_HOME that has none: without
them a run has no pool limit (two runs of one instance would compute the same days at once)
and Dagster prints its telemetry notice into the command's output."""


def dagster_home_setting(unset: str) -> str:
    """DAGSTER_HOME as set, or a CliError for a value a run cannot use (Dagster itself refuses a
    relative path, with a traceback); nothing is made."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise CliError(f"DAGSTER_HOME is not set: {unset}")
    if not os.path.isabs(home):
        raise CliError(
            f"DAGSTER_HOME must be an absolute path, not {home!r}: "
            f'export DAGSTER_HOME="{os.path.abspath(home)}"'
        )
    if os.path.exists(home) and not os.path.isdir(home):
        raise CliError(f"DAGSTER_HOME={home} is a file, not a folder for the Dagster instance")
    return home


def dagster_home(unset: str) -> str:
    """The DAGSTER_HOME folder the instance lives in, created if missing, with the project's
    instance settings where it has none; `unset` says why the command needs one."""
    home = dagster_home_setting(unset)
    os.makedirs(home, exist_ok=True)
    settings = os.path.join(home, "dagster.yaml")
    if not os.path.exists(settings):
        shutil.copyfile(INSTANCE_SETTINGS, settings)
        click.echo(
            f"note: {home} had no dagster.yaml: wrote the project's instance settings there "
            "(SQLite storage, at most 4 runs at once, one step at a time in every pool without "
            "a limit of its own, a team's pools too; telemetry off); edit it as you wish",
            err=True,
        )
    return home


NOT_CAPTURED = {
    "module": "dagster._core.storage.noop_compute_log_manager",
    "class": "NoOpComputeLogManager",
}


def run_instance(home: str) -> "dg.DagsterInstance":
    """The instance of DAGSTER_HOME for runs in this process, their output left to the terminal.
    Dagster captures a run's stdout and stderr in files that it mirrors back through a `tail -F`
    and a Python watcher per stream, children in the command's process group: a terminal's
    Ctrl+C interrupted them too, and each watcher printed its traceback. The run's events (the
    UI's run log) are recorded as always; the UI has no raw stdout/stderr of such a run."""
    import dagster as dg
    from dagster._core.instance.ref import InstanceRef  # overrides: not exported

    ref = InstanceRef.from_dir(home, overrides={"compute_logs": NOT_CAPTURED})
    return dg.DagsterInstance.from_ref(ref)
