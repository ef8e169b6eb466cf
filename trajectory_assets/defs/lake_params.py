"""The lake's operator parameters (`params` in `<lake>/trajectory_assets.json`) applied to the
operators that every code location, command and notebook of the lake loads.

A parameter set in one code location's Python alone was not the command line's: `materialize
--missing` computed the days with the code's defaults, then the location's sensor found them
stale and computed them again with its own, and each undid the other. Kept in the lake, the
value is everyone's. A run's config still sets a value for that run only.

Values are checked as a run's config is checked (types, an operator's own limits), and a
mistake is a SettingError naming the file and the key.
"""

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from trajectory_assets.defs.config import with_params
from trajectory_assets.errors import RunConfigError, SettingError
from trajectory_assets.lake.config import CONFIG, read_config
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operator import Operator

log = logging.getLogger(__name__)


def with_lake_params(
    operators: Sequence[Operator],
    params: Mapping[str, Mapping[str, Any]],
    where: str,
    *,
    every_operator: bool,
) -> list[Operator]:
    """The operators, each with the lake's parameters for it. `every_operator`: these are all
    the lake's operators, so a section naming none of them is a mistake (a code location holds
    some of them only, and leaves the others' sections to theirs)."""
    unknown = unknown_sections(operators, params)
    if every_operator and unknown:
        with_params = ", ".join(sorted(op.name for op in operators if op.params)) or "none"
        raise SettingError(
            f"{where}: params names no operator of this lake: {', '.join(unknown)} "
            f"(the operators with parameters: {with_params}); an operator of your own module "
            'is known with it: --defs MODULE, TRAJECTORY_ASSETS_DEFS, or "defs" in this file'
        )
    return [
        _configured(op, params[op.name], where) if op.name in params else op for op in operators
    ]


def unknown_sections(operators: Sequence[Operator], params: Mapping[str, Any]) -> list[str]:
    """The sections of the lake's params that name none of the operators."""
    return sorted(set(params) - {op.name for op in operators})


def _configured(op: Operator, section: Mapping[str, Any], where: str) -> Operator:
    try:
        return with_params(op, section)
    except RunConfigError as exc:
        raise SettingError(f"{where}: params.{exc}") from None


def lake_params(lake: Lake) -> tuple[dict[str, dict[str, Any]], str]:
    """The lake's parameters and where they are kept, as a code location loads them: a lake
    it cannot reach gives none, with a warning, as its partitions' start (it must load)."""
    try:
        config = read_config(lake)
    except OSError as exc:
        log.warning(
            "cannot read the lake at %s (%s); operators keep their code's parameters", lake.uri, exc
        )
        return {}, ""
    return (config.params if config is not None else {}), lake.display(CONFIG)


def params_changed(lake: Lake, loaded: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why a code location must be reloaded before it computes: the lake's params are not the
    ones it loaded (edited since, or unreadable then). A location computes with the values it
    loaded (its launchpad spells them out, so a run cannot tell them from a user's), while the
    command line reads them anew: the two computed each other's days again."""
    try:
        config = read_config(lake)
    except OSError:  # unreadable now: the run, or the tick, meets it for itself
        return None
    except SettingError as exc:  # edited into a mistake since: one line, not a traceback
        return f"{exc}; fix it, then reload this code location (UI: Deployment, Reload)"
    now = config.params if config is not None else {}
    if now == loaded:
        return None
    return (
        f"the lake's params in {lake.display(CONFIG)} changed since this code location loaded "
        f"({json.dumps(loaded, sort_keys=True)} then, {json.dumps(now, sort_keys=True)} now): "
        "reload it (UI: Deployment, Reload) for its runs to compute with them"
    )
