"""A project: the built-in operators plus the operators of a team's own modules.

A module extends the project by exposing `operators`, a list of `trajectory_assets.Operator`
(and usually `defs = trajectory_assets.build_definitions(operators, upstream=BUILTIN)` for its
code location). The command line and the notebook API find such modules in `--defs`, in the
`TRAJECTORY_ASSETS_DEFS` variable (comma-separated) and in the lake's own config, so a user
never edits this package to list, query or materialize their tables.
"""

import importlib
import os
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from trajectory_assets.engine.registry import Registry
from trajectory_assets.errors import DefinitionError
from trajectory_assets.operator import Operator
from trajectory_assets.operators import OPERATORS

if TYPE_CHECKING:
    import dagster as dg

DEFS_ENV = "TRAJECTORY_ASSETS_DEFS"


@dataclass(frozen=True)
class Project:
    modules: tuple[tuple[str, tuple[Operator, ...]], ...]  # (module, its operators)

    @property
    def extensions(self) -> list[Operator]:
        return [op for _, ops in self.modules for op in ops]

    @property
    def registry(self) -> Registry:
        """Every operator: the built-in ones and the extensions."""
        return Registry.build([*OPERATORS, *self.extensions])

    def assets(
        self, resources: "dict[str, dg.ConfigurableResource]"
    ) -> "list[dg.AssetsDefinition | dg.SourceAsset]":
        """Every asset of the built-in code location and of each module's, built for the lake
        the resources name (its own partitions), as each location defines them."""
        from trajectory_assets.defs.definitions import build_definitions

        made = [
            build_definitions(
                OPERATORS, name="tier_b", raw_source=True, report=True, resources=resources
            )
        ]
        for module, ops in self.modules:
            name = module.split(".")[0]
            made.append(build_definitions(ops, upstream=OPERATORS, name=name, resources=resources))
        return [a for defs in made for a in (defs.assets or [])]  # type: ignore[misc]


def load(modules: Sequence[str] = (), lake_defs: Sequence[str] = ()) -> Project:
    """The project with these modules, those of TRAJECTORY_ASSETS_DEFS and the lake's own."""
    from_env = [m.strip() for m in os.environ.get(DEFS_ENV, "").split(",") if m.strip()]
    origins = {name: "the lake's trajectory_assets.json" for name in lake_defs}
    origins |= {name: DEFS_ENV for name in from_env} | {name: "--defs" for name in modules}
    found: list[tuple[str, tuple[Operator, ...]]] = []
    for name in dict.fromkeys([*modules, *from_env, *lake_defs]):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise DefinitionError(
                f"cannot import the definitions module {name!r} (named by {origins[name]}): "
                f"{exc}; install it in this Python environment, or put its folder on PYTHONPATH"
            ) from exc
        except Exception as exc:  # its own code failed: a syntax error, or raised at import
            raise DefinitionError(
                f"the definitions module {name!r} failed while importing: {_where(exc)}"
                f"{type(exc).__name__}: {exc}"
            ) from exc
        ops = getattr(module, "operators", None)
        if not ops or not all(isinstance(op, Operator) for op in ops):
            raise DefinitionError(
                f"module {name!r} has no `operators` list of trajectory_assets.Operator"
            )
        found.append((name, tuple(ops)))
    project = Project(tuple(found))
    project.registry  # noqa: B018 - checks the definitions now, with a clear message
    return project


def _where(exc: Exception) -> str:
    """`file:line: ` of the innermost frame of a module's failure (a SyntaxError says its own)."""
    if isinstance(exc, SyntaxError):
        return ""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
