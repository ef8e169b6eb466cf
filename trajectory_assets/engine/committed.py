"""How a day's tables were computed, as their commits say: an operator's parameters then.

A run's config may set an operator's parameters for that run only (a wider `window_days`): a
day computed again for another reason than a change of them (a forgotten session) keeps them.
"""

import json
from collections.abc import Collection, Iterable
from typing import Any

from trajectory_assets.engine.registry import Registry
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta_history import commits
from trajectory_assets.operator import Operator


def committed_operators(catalog: Catalog, op: Operator, days: Iterable[str]) -> dict[str, Operator]:
    """`op` configured as it was when each day was committed, read from the table's log (newest
    first, until every day's attempt is found); a day whose parameters are not in the log (any
    more), or no longer taken, is left out."""
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
        params = commit.metadata.get("operator_params")  # None: an older release's commit
        for day in wanted.pop(commit.metadata.get("attempt", ""), []):
            try:
                if params is not None:
                    found[day] = op.configure(**json.loads(params))
            except (TypeError, ValueError):
                continue
    return found


def other_parameters(
    catalog: Catalog, registry: Registry, days: Collection[str]
) -> dict[str, dict[str, dict[str, Any]]]:
    """Each day's operators whose tables were committed with other parameters than the loaded
    ones, with those: day -> operator name -> parameters (run config's form)."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for op in registry.operators:
        if not op.params:
            continue
        for day, then in committed_operators(catalog, op, days).items():
            if dict(then.params) != dict(op.params):
                found.setdefault(day, {})[op.name] = dict(then.params)
    return found
