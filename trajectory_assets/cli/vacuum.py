"""`trajectory-assets vacuum`: delete table files older versions no longer need."""

import click
from rich.filesize import decimal

from trajectory_assets.cli.common import (
    CliError,
    defs_option,
    lake_option,
    open_lake,
    project,
    say,
)
from trajectory_assets.cli.pool_held import pool_held


@click.command(short_help="delete files of table versions older than a horizon")
@lake_option
@defs_option
@click.option(
    "--retention-hours",
    type=click.FloatRange(min=0),
    help="keep what versions younger than this need (default: the "
    "TRAJECTORY_ASSETS_RETENTION_HOURS setting, 168)",
)
@click.option("--table", "names", multiple=True, help="only these tables (repeat; default: all)")
@click.option(
    "--full",
    is_flag=True,
    help="also delete files no version ever committed (left by killed or failed runs) once "
    "they are older than the horizon too (--retention-hours 0: all of them); with DAGSTER_HOME "
    "set, a materialization in flight is waited for",
)
def vacuum(
    lake: str,
    defs: tuple[str, ...],
    retention_hours: float | None,
    names: tuple[str, ...],
    full: bool,
) -> None:
    """Delete the files of table versions older than the horizon: time travel and rollback then
    reach back only that far."""
    from trajectory_assets.defs.settings import retention_hours as default_hours
    from trajectory_assets.lake import delta_history
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.layout import RAW_TABLE

    where = open_lake(lake, must_exist=True)
    catalog = Catalog(where, project(defs, where).registry.tables)
    tables = [t for t in catalog.list() if t != RAW_TABLE]
    unknown = [n for n in names if n not in tables]
    if unknown:
        raise CliError(f"unknown table(s) {', '.join(unknown)}; tables are: {', '.join(tables)}")
    hours = default_hours() if retention_hours is None else retention_hours
    whole = delta_history.whole_hours(hours)
    if hours != whole:
        say(f"Delta keeps whole hours: the horizon {hours:g} h is rounded up to {whole} h")
    with pool_held("vacuum"):  # a run in flight ends first: its files to commit are no leftovers
        for name in names or tables:
            done = delta_history.vacuum(where, name, hours, full=full)
            say(
                f"{name}: deleted {len(done.files)} file(s), {decimal(done.bytes)}, that only "
                f"versions older than {done.hours} h need"
            )
