"""`trajectory-assets rollback TABLE`: make a day's previous state current again.

Tables written by one operator were committed together, so they are restored together (each
with one Delta commit that touches no other day), or not at all when one of them has no
previous state.
"""

import click

from trajectory_assets.cli.common import (
    DAY,
    CliError,
    defs_option,
    lake_option,
    open_lake,
    operator_named,
    project,
    say,
)


@click.command(short_help="restore a partition's previous version")
@click.argument("table")
@lake_option
@defs_option
@click.option("--partition", type=DAY, required=True, help="the day to roll back")
@click.option(
    "--as-of",
    "as_of",
    type=int,
    help="restore the day as it was at this table version (default: before its last change)",
)
def rollback(
    table: str, lake: str, defs: tuple[str, ...], partition: str, as_of: int | None
) -> None:
    """Restore a partition's previous version (and its siblings')."""
    where = open_lake(lake, must_exist=True)
    registry = project(defs, where).registry
    if table not in registry.tables:
        raise CliError(f"unknown table {table!r}; tables are: {', '.join(registry.tables)}")
    op = operator_named(registry, table)

    from trajectory_assets.errors import ConcurrentWriterError, NoPreviousVersionError
    from trajectory_assets.lake import delta_commit
    from trajectory_assets.lake.catalog import Catalog

    catalog = Catalog(where, registry.tables)
    try:
        for name in op.output_names:  # check every sibling before changing any
            delta_commit.previous_state(where, catalog.get(name), partition, as_of=as_of)
        restored = [
            delta_commit.restore_day(
                where, catalog.get(name), partition, {"action": "rollback"}, as_of=as_of
            )
            for name in op.output_names
        ]
    except (NoPreviousVersionError, ConcurrentWriterError) as exc:
        raise CliError(str(exc)) from None
    for r in restored:
        now = f"now version {r.version}" if r.version is not None else "already current"
        say(
            f"{r.table} dt={partition}: restored the day as of table version {r.as_of} "
            f"({now}, {r.rows:,} rows)"
        )
