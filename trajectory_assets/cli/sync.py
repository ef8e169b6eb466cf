"""`trajectory-assets sync`: make the Dagster instance show what the lake holds."""

from collections.abc import Mapping

import click

from trajectory_assets.cli.common import CliError, defs_option, lake_option, open_lake, project, say
from trajectory_assets.cli.instance import dagster_home


@click.command(short_help="record in the Dagster instance what the lake holds")
@lake_option
@defs_option
@click.option(
    "--allow-other-lake", is_flag=True, help="sync even though the instance records another lake"
)
@click.option(
    "--rebind",
    is_flag=True,
    help="make this the instance's lake (it moved): its days are recorded again from it",
)
def sync(lake: str, defs: tuple[str, ...], allow_other_lake: bool, rebind: bool) -> None:
    """Bring the DAGSTER_HOME instance up to date with the lake: its raw days as observations,
    every table day it has no (or an older, or another lake's) record of as a materialization.
    Nothing is computed; for a new or lost instance, a lake filled elsewhere, or one that
    moved (--rebind)."""
    import dagster as dg

    from trajectory_assets.defs import instance as instance_lake
    from trajectory_assets.defs.partitions import daily, start_date_of
    from trajectory_assets.defs.sync import sync as sync_instance
    from trajectory_assets.errors import OtherLakeError

    dagster_home("which Dagster instance should show the lake?")
    where = open_lake(lake, must_exist=True)
    instance = dg.DagsterInstance.get()
    if rebind:
        before = instance_lake.rebind(instance, where.display())
        if before not in (None, where.display()):
            say(f"the instance's lake is now {where.display()} (it was {before})")
    try:
        instance_lake.bind(instance, where.display(), allow_other_lake=allow_other_lake)
    except OtherLakeError as exc:
        raise CliError(str(exc)) from None
    partitions = daily(start_date_of(where))
    report = sync_instance(instance, where, project(defs, where).registry, partitions)
    say(f"raw_events: {report.raw_days} day(s) observed now (new or changed)")
    for line in recorded_lines(report.recorded, report.current):
        say(line)
    if report.outside:
        say(f"{report.outside} table day(s) before the first partition were left out")


def recorded_lines(recorded: Mapping[str, int], current: Mapping[str, int]) -> list[str]:
    """A line per table, in columns however long a name of one's own is."""
    width = max([18, *(len(t) for t in recorded)])
    return [
        f"{t:<{width}} {recorded[t]:>5} day(s) recorded now, {current[t]:>5} already known"
        for t in sorted(recorded)
    ]
