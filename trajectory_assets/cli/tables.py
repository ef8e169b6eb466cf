"""`trajectory-assets tables`: each Tier B table with its days, rows and table version."""

import click

from trajectory_assets.cli.common import (
    CliError,
    defs_option,
    lake_option,
    open_lake,
    project,
    say,
)


@click.command(short_help="list Tier B tables with their days and rows")
@lake_option
@defs_option
def tables(lake: str, defs: tuple[str, ...]) -> None:
    """List Tier B tables with their days, rows and current Delta version."""
    from trajectory_assets.errors import BrokenTableError
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.layout import RAW_TABLE

    where = open_lake(lake, must_exist=True)
    catalog = Catalog(where, project(defs, where).registry.tables)
    broken = []
    for table in catalog.list():
        if table == RAW_TABLE:
            continue
        try:
            snapshot = catalog.snapshot(table)
        except BrokenTableError as exc:  # the others are still worth listing
            broken.append(str(exc))
            continue
        days = snapshot.days()
        rows = sum(f.rows for f in snapshot.files)
        span = f"{days[0]} .. {days[-1]}" if days else "not materialized"
        version = f"v{snapshot.version}" if snapshot.version >= 0 else ""
        say(f"{table:<18} {len(days):>4} day(s)  {rows:>12,} rows  {version:>6}  {span}")
    if broken:
        raise CliError("; ".join(broken))
