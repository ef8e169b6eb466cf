"""`trajectory-assets tables`: each Tier B table with its days and rows."""

import click

from trajectory_assets.cli.common import lake_option, open_lake, say


@click.command(short_help="list Tier B tables with their days and rows")
@lake_option
def tables(lake: str) -> None:
    """List Tier B tables with their days and rows."""
    from trajectory_assets.lake.catalog import Catalog

    catalog = Catalog(open_lake(lake, must_exist=True))
    for table in catalog.list():
        if table == "raw_events":
            continue
        days = catalog.days(table)
        rows = sum((catalog.manifest(table, d) or {}).get("rows", 0) for d in days)
        span = f"{days[0]} .. {days[-1]}" if days else "not materialized"
        say(f"{table:<16} {len(days):>4} day(s)  {rows:>12,} rows  {span}")
