"""How a day's tables were computed, as their commits say: an operator's parameters then.

A run's config may set an operator's parameters for that run only (a wider `window_days`): a
day computed again for another reason than a change of them (a forgotten session) keeps them.
"""

import json
from collections.abc import Collection
from typing import Any

from trajectory_assets.engine.registry import Registry
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta_history import operator_commits
from trajectory_assets.operator import Operator


def committed_operators(
    catalog: Catalog, op: Operator, days: Collection[str]
) -> dict[str, Operator]:
    """`op` configured as it was when each day was committed (its parameters, in the commit
    that made the day what it is); a day whose commit is not in the log, an older release's
    commit without parameters, or parameters no longer taken, are left out."""
    found: dict[str, Operator] = {}
    for day, commit in operator_commits(catalog.lake, op.output_names[0], days).items():
        params = commit.metadata.get("operator_params")
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
            if then.params_text != op.params_text:
                found.setdefault(day, {})[op.name] = dict(then.params)
    return found
