"""`trajectory-assets tables`: each Tier B table with its days, rows and table version."""

import json
from typing import TypedDict

import click

from trajectory_assets.cli.common import (
    CliError,
    defs_option,
    lake_option,
    open_lake,
    project,
    say,
    warn_of_unfinished_forgets,
)


class TableLine(TypedDict):
    """A table in `tables --format json`: one object per line, as `query` writes them."""

    table: str
    days: int
    rows: int
    version: int | None  # None: never committed
    first_day: str | None
    last_day: str | None


@click.command(short_help="list Tier B tables with their days and rows")
@lake_option
@defs_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="table: a line per table, for reading; json: one object per line, for scripts",
)
def tables(lake: str, defs: tuple[str, ...], fmt: str) -> None:
    """List Tier B tables with their days, rows and current Delta version."""
    from trajectory_assets.errors import BrokenTableError
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.layout import RAW_TABLE

    where = open_lake(lake, must_exist=True)
    warn_of_unfinished_forgets(where)
    catalog = Catalog(where, project(defs, where, reader=True).registry.tables)
    broken, lines = [], []
    for table in catalog.list():
        if table == RAW_TABLE:
            continue
        try:
            snapshot = catalog.snapshot(table)
        except BrokenTableError as exc:  # the others are still worth listing
            broken.append(str(exc))
            continue
        days = snapshot.days()
        line = TableLine(
            table=table,
            days=len(days),
            rows=sum(f.rows for f in snapshot.files),
            version=snapshot.version if snapshot.version >= 0 else None,
            first_day=days[0] if days else None,
            last_day=days[-1] if days else None,
        )
        lines.append(line)
    width = max([18, *(len(line["table"]) for line in lines)])  # a team's long names line up too
    for line in lines:
        say(json.dumps(line) if fmt == "json" else _readable(line, width))
    if broken:
        raise CliError("; ".join(broken))


def _readable(line: TableLine, width: int) -> str:
    first, last = line["first_day"], line["last_day"]
    span = f"{first} .. {last}" if first else "not materialized"
    version = "" if line["version"] is None else f"v{line['version']}"
    name, days, rows = line["table"], line["days"], line["rows"]
    return f"{name:<{width}} {days:>4} day(s)  {rows:>12,} rows  {version:>6}  {span}"
