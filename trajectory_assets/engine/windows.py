"""Rolling windows seen from the days they read: which later days pool a given day.

Day D of an operator with `lookback_days` reads the days before D of its main input, so a row
of D may be made from a session of an earlier day: a session forgotten there is in D's rows
too, until D is computed again.
"""

from collections.abc import Collection
from dataclasses import dataclass

from trajectory_assets.engine.committed import committed_operators
from trajectory_assets.engine.lineage import day_keys, in_lake, is_current
from trajectory_assets.engine.registry import Registry
from trajectory_assets.errors import MissingUpstreamError
from trajectory_assets.lake.bad_file_rules import OnBadFile
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.layout import RAW_TABLE
from trajectory_assets.operator import Operator


@dataclass(frozen=True)
class Pooling:
    """Later days whose rows pool some given days, and the tables that hold such rows there."""

    days: list[str]
    tables: list[str]


def pooling(
    catalog: Catalog, registry: Registry, days: Collection[str], on_bad_file: OnBadFile
) -> Pooling:
    """The days after the first of `days`, not among them, whose committed rows of a rolling
    window may read one of `days`, and the windows' tables with those computed from them.

    A day's window is the one it was committed with (its parameters, in the table's log) or
    the one the loaded operator computes now, whichever reaches. Where the log no longer says
    (Delta's log retention, files of several writers), a day the loaded
    operator would not compute as it stands (`on_bad_file`: the run's rule, part of its key)
    was computed otherwise, perhaps with a wider window, and counts too."""
    found: set[str] = set()
    windows: set[str] = set()
    first = min(days, default=None)
    for op in registry.operators:
        if first is None or op.inputs[0] == RAW_TABLE or not (op.lookback_days or op.params):
            continue  # no window can read an earlier day (a window's input is a table)
        table = op.output_names[0]
        later = [d for d in catalog.days(table) if d > first and d not in days]
        committed = committed_operators(catalog, op, later)
        loaded = in_lake(catalog.lake, [op])[0]
        pools = [
            day
            for day in later
            if set(days) & set(op.input_days(day)[:-1])
            or (day in committed and set(days) & set(committed[day].input_days(day)[:-1]))
            or (day not in committed and not _as_loaded(loaded, catalog, day, on_bad_file))
        ]
        if pools:
            found.update(pools)
            windows.update(op.output_names)
    return Pooling(sorted(found), sorted(_downstream(registry, windows)))


def _as_loaded(op: Operator, catalog: Catalog, day: str, on_bad_file: OnBadFile) -> bool:
    """The day holds what `op`, as loaded, computes from its inputs as they stand."""
    try:
        key = day_keys([op], catalog, day, [], on_bad_file).keys[op.name]
    except MissingUpstreamError:  # a day of its window is gone (rolled back): not as it stands
        return False
    return is_current(op, catalog, day, key)


def _downstream(registry: Registry, tables: set[str]) -> set[str]:
    """`tables` and every table computed from them, in this code location."""
    found = set(tables)
    for op in registry.operators:  # dependency order
        if found & set(op.inputs):
            found.update(op.output_names)
    return found
