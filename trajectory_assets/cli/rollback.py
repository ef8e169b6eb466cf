"""`trajectory-assets rollback TABLE`: make a day's previous state current again.

Tables written by one operator were committed together, so they are restored together (each
with one Delta commit that touches no other day), or not at all when one of them has no
previous state.
"""

import os
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING

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
    tell,
)
from trajectory_assets.cli.instance import dagster_home
from trajectory_assets.cli.outcome import FAILED_CHECK, check_failures
from trajectory_assets.cli.pool_held import pool_held

if TYPE_CHECKING:
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.operator import Operator


@click.command(short_help="restore a partition's previous version")
@click.argument("table")
@lake_option
@defs_option
@click.option("--partition", type=DAY, required=True, help="the day to roll back")
@click.option(
    "--as-of",
    "as_of",
    type=click.IntRange(min=0),
    help="restore the day as it was at this version of TABLE, its siblings to the same state "
    "(default: before its last change)",
)
@click.option(
    "--allow-other-lake", is_flag=True, help="record it though the instance records another lake"
)
def rollback(
    table: str,
    lake: str,
    defs: tuple[str, ...],
    partition: str,
    as_of: int | None,
    allow_other_lake: bool,
) -> None:
    """Restore a partition's previous version (and its siblings')."""
    where = open_lake(lake, must_exist=True)
    registry = project(defs, where).registry
    if table not in registry.tables:
        raise CliError(f"unknown table {table!r}; tables are: {', '.join(registry.tables)}")
    _bind(where, allow_other_lake)  # before anything changes: the rollback is recorded there
    op = operator_named(registry, table)

    from trajectory_assets.errors import ConcurrentWriterError, NoPreviousVersionError
    from trajectory_assets.lake import delta_commit, delta_history
    from trajectory_assets.lake.catalog import Catalog

    catalog = Catalog(where, registry.tables)
    metadata = {"action": "rollback", delta_history.ROLLBACK_ID: uuid.uuid4().hex}
    try:
        _targets(where, catalog, op.output_names, table, partition, as_of)  # fails before waiting
        seen = _last_changes(where, op.output_names, partition)
        with pool_held("rollback"):  # a run in flight ends first: it would overwrite the day
            if changed := sorted(
                _last_changes(where, op.output_names, partition).items() - seen.items()
            ):
                raise CliError(
                    f"{', '.join(f'{t} (version {v})' for t, v in changed)} dt={partition} "
                    "committed again while the rollback waited for the run holding the pool: "
                    "nothing was restored; look at the day, and roll back again to undo that"
                )
            target, versions = _targets(where, catalog, op.output_names, table, partition, as_of)
            restored = [
                delta_commit.restore_day(
                    where, catalog.get(name), partition, metadata, as_of=versions[name]
                )
                for name in op.output_names
            ]
    except (NoPreviousVersionError, ConcurrentWriterError) as exc:
        raise CliError(str(exc)) from None
    for r in restored:
        now = f"now version {r.version}" if r.version is not None else "already current"
        same = f", the state of {table} version {target}" if r.table != table else ""
        say(
            f"{r.table} dt={partition}: restored the day as it was at {r.table} version "
            f"{r.as_of}{same} ({now}, {r.rows:,} rows)"
        )
    catalog = Catalog(where, registry.tables)  # as restored
    _record(where, catalog, op, partition, as_of)
    failed = _failed_checks(catalog, op, partition)
    for line in failed:
        tell(line)
    if any(line.startswith(f"{FAILED_CHECK} (ERROR)") for line in failed):
        raise CliError(
            "the restored day fails asset check(s) of ERROR severity, listed above (with the "
            "default thresholds); it stays restored"
        )


def _targets(
    lake: "Lake",
    catalog: "Catalog",
    tables: Sequence[str],
    table: str,
    day: str,
    as_of: int | None,
) -> tuple[int, dict[str, int]]:
    """The named table's version to restore and each sibling's own version of that state:
    version numbers drift apart, and a sibling's own last change may be older (a day without
    errors, unchanged). Raises NoPreviousVersionError, of the named table first, before any
    change."""
    from trajectory_assets.lake import delta_commit

    target, _ = delta_commit.previous_state(lake, catalog.get(table), day, as_of=as_of)
    versions = {
        name: target
        if name == table
        else delta_commit.sibling_version(lake, table, name, day, target)
        for name in tables
    }
    for name in set(tables) - {table}:
        delta_commit.previous_state(lake, catalog.get(name), day, as_of=versions[name])
    return target, versions


def _last_changes(lake: "Lake", tables: Sequence[str], day: str) -> dict[str, int | None]:
    """Each table's last commit of the day: a run's commit may change some of an operator's
    tables and not others (a day without errors stays as it was)."""
    from trajectory_assets.lake.delta_history import commits

    return {t: next((c.version for c in commits(lake, t) if day in c.days), None) for t in tables}


def _bind(lake: "Lake", allow_other_lake: bool) -> None:
    """Refuse a DAGSTER_HOME that records another lake, as materialize does."""
    if not os.environ.get("DAGSTER_HOME"):
        return
    dagster_home("the rollback is recorded in the Dagster instance")  # made, as materialize does
    import dagster as dg

    from trajectory_assets.defs.instance import bind
    from trajectory_assets.errors import OtherLakeError

    with dg.DagsterInstance.get() as instance:
        try:
            bind(instance, lake.display(), allow_other_lake=allow_other_lake)
        except OtherLakeError as exc:
            raise CliError(f"{exc}; nothing was restored") from None


def _record(lake: "Lake", catalog: "Catalog", op: "Operator", day: str, as_of: int | None) -> None:
    """Tell the Dagster instance (DAGSTER_HOME), so the UI shows the restored day and marks
    what was computed from it stale; without an instance, `sync` does it later."""
    if not os.environ.get("DAGSTER_HOME"):
        tell("note: DAGSTER_HOME is not set: `trajectory-assets sync` records the rollback later")
        return
    import dagster as dg

    from trajectory_assets.defs.sync import made_by, record_day

    with dg.DagsterInstance.get() as instance:  # its lake checked by _bind
        back = f"table version {as_of}" if as_of is not None else "its previous version"
        for table in op.output_names:  # made by an older operator: stale in the UI too
            made = made_by(lake, op, table, [day]).get(day)
            snapshot = catalog.snapshot(table)
            record_day(instance, lake, snapshot, day, f"rollback to {back}", made)
    say(f"recorded in the Dagster instance: {', '.join(op.output_names)} dt={day}")


def _failed_checks(catalog: "Catalog", op: "Operator", day: str) -> list[str]:
    """The restored day checked as a run checks its days: the failed checks, a line each.

    The outcomes are not recorded: Dagster keeps one evaluation per check, day and run, and
    outside a run there is one run id for all. The UI shows the day's checks as not evaluated
    (an evaluation counts only for the materialization it checked) until they run again
    (the asset's *Execute checks*, or its next materialization)."""
    from trajectory_assets.defs.check_context import CheckContext, default_thresholds
    from trajectory_assets.defs.checks import checks_for, evaluate_all
    from trajectory_assets.defs.evaluations import evaluation

    try:
        outcomes = evaluate_all(
            checks_for([op]), CheckContext(catalog, default_thresholds()), lambda check: [day]
        )
    except Exception as exc:  # the day is restored and recorded: the checks are a bonus
        tell(f"note: the restored day's checks could not run ({exc}); a materialization runs them")
        return []
    return check_failures(evaluation(c, d, o) for c, days in outcomes for d, o in days.items())
