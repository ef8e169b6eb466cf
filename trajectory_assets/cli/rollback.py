"""`trajectory-assets rollback TABLE`: make a day's previous version current again.

Tables written by one operator were committed together, so they are rolled back together, or
not at all when one of them has no previous version.
"""

import os

import click

from trajectory_assets.cli.common import DAY, CliError, lake_option, open_lake, say


@click.command(short_help="restore a partition's previous version")
@click.argument("table")
@lake_option
@click.option("--partition", type=DAY, required=True, help="the day to roll back")
def rollback(table: str, lake: str, partition: str) -> None:
    """Restore a partition's previous version (and its siblings')."""
    from trajectory_assets.operators import OPERATORS
    from trajectory_assets.schema import TABLES

    op = next((o for o in OPERATORS if table in o.outputs), None)
    if op is None:
        raise CliError(f"unknown table {table!r}; tables are: {', '.join(TABLES)}")
    where = open_lake(lake, must_exist=True)

    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.commit import rollback as restore
    from trajectory_assets.lake.commit import versions
    from trajectory_assets.lake.lease import LeaseHeldError, held

    missing = [t for t in op.outputs if not versions(where, t, partition)]
    if missing:  # siblings were committed together: roll back all of them or none
        raise CliError(f"{', '.join(missing)} dt={partition} has no previous version")
    try:
        with held(where, op.name, [partition], f"rollback-{os.getpid()}"):
            restored = {t: restore(where, t, partition) for t in op.outputs}
    except LeaseHeldError as exc:
        raise CliError(str(exc)) from None
    catalog = Catalog(where)
    for name in op.outputs:
        manifest = catalog.manifest(name, partition) or {}
        say(
            f"{name} dt={partition}: restored version {restored[name]} "
            f"({manifest.get('rows', 0):,} rows, committed {manifest.get('committed_at', '?')})"
        )
