"""A project: the built-in operators plus the operators of a team's own modules.

A module extends the project by exposing `operators`, a list of `trajectory_assets.Operator`
(and usually `defs = trajectory_assets.build_definitions(operators, upstream=BUILTIN)` for its code
location). The command line and the notebook API find such modules in `--defs`, in the
`TRAJECTORY_ASSETS_DEFS` variable (comma-separated) and in the lake's own config, so a user
never edits this package to list, query or materialize their tables.
"""

import importlib
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trajectory_assets.engine.operator import Operator
from trajectory_assets.engine.registry import DefinitionError, Registry
from trajectory_assets.operators import OPERATORS

if TYPE_CHECKING:
    import dagster as dg

DEFS_ENV = "TRAJECTORY_ASSETS_DEFS"


@dataclass(frozen=True)
class Project:
    modules: tuple[str, ...]
    extensions: tuple[Operator, ...]

    @property
    def registry(self) -> Registry:
        """Every operator: the built-in ones and the extensions."""
        return Registry.build([*OPERATORS, *self.extensions])

    def assets(self) -> "list[dg.AssetsDefinition | dg.SourceAsset]":
        """The assets of the built-in code location and of each extension, as they load there."""
        from trajectory_assets.definitions import defs

        found = list(defs.assets or [])
        for module in self.modules:
            loaded = importlib.import_module(module)
            extension = getattr(loaded, "defs", None)
            found += list(getattr(extension, "assets", None) or [])
        return found  # type: ignore[return-value]


def load(modules: Sequence[str] = ()) -> Project:
    """The project with these modules (and those named by TRAJECTORY_ASSETS_DEFS)."""
    names = [*modules, *(m.strip() for m in os.environ.get(DEFS_ENV, "").split(",") if m.strip())]
    names = list(dict.fromkeys(names))
    extensions: list[Operator] = []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise DefinitionError(f"cannot import the definitions module {name!r}: {exc}") from exc
        found = getattr(module, "operators", None)
        if not found or not all(isinstance(op, Operator) for op in found):
            raise DefinitionError(
                f"module {name!r} has no `operators` list of trajectory_assets.Operator"
            )
        extensions += list(found)
    project = Project(tuple(names), tuple(extensions))
    project.registry  # noqa: B018 - checks the definitions now, with a clear message
    return project
