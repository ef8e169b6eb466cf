"""`trajectory-assets demo`: a sample lake and every Tier B table for its days, in one command."""

import datetime as dt
import os
import posixpath
import re
import shlex
from typing import TYPE_CHECKING

import click

from trajectory_assets.cli.common import (
    DEFAULT_APPS,
    REPORT,
    CliError,
    num_cpus_option,
    open_lake,
    project,
    runtime_option,
    say,
    sigterm_as_ctrl_c,
    split_list,
    tables_for,
)
from trajectory_assets.cli.generate import write_sample
from trajectory_assets.cli.instance import dagster_home
from trajectory_assets.cli.materialize import run_days

if TYPE_CHECKING:
    from trajectory_assets.lake.fs import Lake


@click.command(short_help="sample lake + every Tier B asset for several days")
@click.option("--lake", default="demo/lake", show_default=True, help="lake root")
@click.option("--days", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--sessions-per-day", type=click.IntRange(min=1), default=1000, show_default=True)
@runtime_option
@num_cpus_option
@click.option("--regenerate", is_flag=True, help="write a new sample lake")
def demo(
    lake: str,
    days: int,
    sessions_per_day: int,
    runtime: str,
    num_cpus: int | None,
    regenerate: bool,
) -> None:
    """Sample lake + every Tier B asset for several days (the days before today)."""
    click.get_current_context().with_resource(sigterm_as_ctrl_c())
    from trajectory_assets.lake.reports import report_files
    from trajectory_assets.synth import SynthConfig

    dagster_home("the demo's runs are recorded in a Dagster instance")  # before any writing
    sample = open_lake(lake, must_exist=False)
    today = dt.datetime.now(dt.UTC).date()
    wanted = [(today - dt.timedelta(days=days - i)).isoformat() for i in range(days)]
    fs = sample.fs
    if fs.exists(sample.path("raw_events")) and not regenerate:
        raw = sample.display("raw_events")
        say(f"reusing the sample lake at {raw} (--regenerate for a new one)")
        from trajectory_assets.lake.raw import list_days

        present = list_days(sample)
        if not set(wanted) <= set(present):
            raise CliError(
                f"the sample lake has days {present}, the demo needs {wanted}: "
                "run with --regenerate"
            )
    else:
        if fs.exists(sample.root):
            if kept := _not_sample_data(sample):
                old = OLD_SAMPLE.fullmatch(posixpath.basename(kept))
                raise CliError(
                    f"{sample.display()} holds data the sample did not write ({kept}): "
                    "--regenerate deletes the whole lake, so it makes a sample in a lake of "
                    "its own only; give the demo another --lake"
                    + (
                        " (a sample lake of a release before 0.5.6 named its files so, as "
                        "other writers do: if this is one, delete the folder yourself)"
                        if old
                        else ""
                    )
                )
            _delete(sample)
        config = SynthConfig(
            start=dt.date.fromisoformat(wanted[0]),
            days=days,
            apps=tuple(split_list(DEFAULT_APPS)),
            sessions_per_day=sessions_per_day,
            seed=7,
            invalid_rate=0.002,
            duplicate_rate=0.003,
            files_per_session=1,
        )
        write_sample(sample, config)
    the_project = project()
    tables = [*tables_for(the_project.registry, []), REPORT]
    run_days(lake, wanted, the_project, runtime=runtime, tables=tables, num_cpus=num_cpus)
    _observe_raw(sample)
    say()
    say(f"lake:   {sample.display()}")
    say(f"tables: {sample.display('<table>')} (Delta Lake tables, partitioned by dt)")
    say(f"report: {sample.display(report_files(wanted[-1]).html)}")
    say(f'query:  trajectory-assets query --lake {lake} "SELECT * FROM sessions LIMIT 5"')
    say(f"UI:     {_ui_command(sample)}   (then open http://127.0.0.1:3000)")


CHECKOUT_MARK = "trajectory_assets/definitions.py"
"""A file only the project's own checkout has beside its Makefile and workspace.yaml (a team's
Dagster project may have those two as well)."""


def _ui_command(sample: "Lake") -> str:
    """`make ui` in the project's checkout where it shows this lake and instance (the
    Makefile's), else the command that does, with both spelled out: with the checkout's
    workspace (the example's code location too), or the package's definitions where it is
    installed without one."""
    home = os.environ.get("DAGSTER_HOME", "")
    checkout = all(map(os.path.isfile, ("Makefile", "workspace.yaml", CHECKOUT_MARK)))
    makefiles = (os.path.abspath("demo/lake"), os.path.abspath(".dagster_home"))
    if checkout and (sample.display(), home) == makefiles:
        return "make ui"
    lake, instance = shlex.quote(sample.display()), shlex.quote(home)
    code = "-w workspace.yaml" if checkout else "-m trajectory_assets.definitions"
    return (
        f"TRAJECTORY_ASSETS_LAKE={lake} DAGSTER_HOME={instance} dagster dev {code} "
        "-h 127.0.0.1 -p 3000"
    )


SAMPLE_FILE = re.compile(r"sample-(retry-)?\d+\.parquet")
OLD_SAMPLE = re.compile(r"part-(retry-)?\d+\.parquet")  # also other writers' names: not deleted
"""The names of the raw files `generate` writes (`synth.write`); an import's, a logger's and
`serve`'s are `ev-<digest>.parquet`, a team's own writer's anything (`part-0.parquet`, as
pyarrow's `write_dataset` and `generate` before 0.5.6 named theirs)."""


def _not_sample_data(sample: "Lake") -> str | None:
    """What of the lake `demo --regenerate` would delete that neither the sample generator nor
    a run wrote, if anything: a user's imported or logged data, input kept aside, a file or
    setting of their own (`prices.yaml`, operator parameters). A hidden file (a write killed
    midway left its temporary file; `.DS_Store`) is no data."""
    from trajectory_assets.lake.config import CONFIG, read_config
    from trajectory_assets.lake.layout import RAW_TABLE, REPORTS
    from trajectory_assets.lake.quarantine import REJECTED
    from trajectory_assets.lake.wal import WAL

    fs = sample.fs
    for kept in (WAL, f"{REJECTED}/ingest", f"{REJECTED}/otlp", f"{REJECTED}/serve"):
        if fs.exists(sample.path(kept)):
            return sample.display(kept)
    for entry in fs.ls(sample.root, detail=True):
        name = posixpath.basename(entry["name"].rstrip("/"))
        table = entry["type"] == "directory" and fs.exists(sample.path(name, "_delta_log"))
        derived = table or name in (CONFIG, RAW_TABLE, REPORTS)  # what generate and runs write
        if not derived and not name.startswith((".", "_")):
            return sample.display(name)
    config = read_config(sample)
    if config is not None and (config.params or config.defs):
        return f"{sample.display(CONFIG)}'s params or defs"
    if fs.exists(sample.path(RAW_TABLE)):
        for path in fs.find(sample.path(RAW_TABLE)):
            name = posixpath.basename(path)
            if not name.startswith(".") and not SAMPLE_FILE.fullmatch(name):
                return sample.display_path(path)
    return None


def _delete(sample: "Lake") -> None:
    """Delete the sample lake holding the pool's slot: a run writing into it ends first (its
    files would land in a lake half deleted)."""
    import dagster as dg

    from trajectory_assets.cli.pool import holding_pool
    from trajectory_assets.defs.assets import POOL
    from trajectory_assets.lake.fs import delete_lake

    with (
        dg.DagsterInstance.get() as instance,
        holding_pool(instance, POOL, "demo: regenerate the sample lake"),
    ):
        delete_lake(sample)


def _observe_raw(sample: "Lake") -> None:
    """Record the raw days in the instance, so the UI shows raw_events observed, not "never
    observed", next to the tables it just materialized."""
    import dagster as dg

    from trajectory_assets.defs.partitions import daily, start_date_of
    from trajectory_assets.defs.sync import observe_raw

    with dg.DagsterInstance.get() as instance:
        observe_raw(instance, sample, daily(start_date_of(sample)))
