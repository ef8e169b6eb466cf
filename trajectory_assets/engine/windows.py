"""Rolling windows seen from the days they read: which later days pool a given day.

Day D of an operator with `lookback_days` reads the days before D of its main input, so a row
of D may be made from a session of an earlier day: a session forgotten there is in D's rows
too, until D is computed again.
"""

import json
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from trajectory_assets.engine.registry import Registry
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta_history import commits
from trajectory_assets.operator import Operator


@dataclass(frozen=True)
class Pooling:
    """Later days whose rows pool some given days, and the tables that hold such rows there."""

    days: list[str]
    tables: list[str]


def pooling(catalog: Catalog, registry: Registry, days: Collection[str]) -> Pooling:
    """The days after the first of `days`, not among them, whose committed rows of a rolling
    window read one of `days`: with the window the day was committed with (its parameters,
    in the table's log) or the one the loaded operator computes now, whichever reaches; and
    the windows' tables with those computed from them."""
    found: set[str] = set()
    windows: set[str] = set()
    first = min(days, default=None)
    for op in registry.operators:
        if first is None or not (op.lookback_days or op.params):  # no window, or no way to one
            continue
        table = op.output_names[0]
        later = [d for d in catalog.days(table) if d > first and d not in days]
        committed = _committed_operators(catalog, op, later)
        pools = [d for d in later if set(days) & _read_days(d, op, committed.get(d))]
        if pools:
            found.update(pools)
            windows.update(op.output_names)
    return Pooling(sorted(found), sorted(_downstream(registry, windows)))


def _read_days(day: str, op: Operator, committed: Operator | None) -> set[str]:
    """The days of the main input day `day` reads, as committed and as loaded now."""
    reads = set(op.input_days(day)[:-1])
    if committed is not None:
        reads |= set(committed.input_days(day)[:-1])
    return reads


def _committed_operators(
    catalog: Catalog, op: Operator, days: Iterable[str]
) -> dict[str, Operator]:
    """`op` configured as it was when each day was committed, read from the table's log (newest
    first, until every day's attempt is found); a day whose parameters are unknown (an older
    release's commit) or no longer taken is left out."""
    table = op.output_names[0]
    wanted: dict[str, list[str]] = {}
    for day in days:
        state = catalog.state(table, day)
        if state is not None and state.attempt is not None:
            wanted.setdefault(state.attempt, []).append(day)
    found: dict[str, Operator] = {}
    for commit in commits(catalog.lake, table):
        if not wanted:
            break
        for day in wanted.pop(commit.metadata.get("attempt", ""), []):
            try:
                params = json.loads(commit.metadata.get("operator_params", "{}"))
                found[day] = op.configure(**params)
            except (TypeError, ValueError):
                continue
    return found


def _downstream(registry: Registry, tables: set[str]) -> set[str]:
    """`tables` and every table computed from them, in this code location."""
    found = set(tables)
    for op in registry.operators:  # dependency order
        if found & set(op.inputs):
            found.update(op.output_names)
    return found
