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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeGuard

from trajectory_assets.engine.registry import Registry
from trajectory_assets.errors import DefinitionError, SettingError
from trajectory_assets.lake.config import CONFIG, read_config
from trajectory_assets.lake.layout import RAW_TABLE
from trajectory_assets.operator import Operator
from trajectory_assets.operators import OPERATORS

if TYPE_CHECKING:
    import dagster as dg

    from trajectory_assets.lake.fs import Lake

DEFS_ENV = "TRAJECTORY_ASSETS_DEFS"


BUILTIN_NODE = "tier_b"  # the built-in tables' multi-asset (and its job's config key)


@dataclass(frozen=True)
class Module:
    """A module of a team's own operators, and the name of its tables' multi-asset: the one
    its own code location (`defs`) gives them, so that the command line takes the launchpad
    config the UI shows; else the module's name with `_` for `.`."""

    name: str
    operators: tuple[Operator, ...]
    node: str
    checks: "tuple[dg.AssetChecksDefinition, ...]" = ()  # its `defs`' own, on its tables


@dataclass(frozen=True)
class Project:
    modules: tuple[Module, ...]
    params: "Mapping[str, Mapping[str, Any]]" = field(default_factory=dict)
    params_from: str = ""  # where `params` is kept: the lake's config file, for its errors
    unloaded: tuple[str, ...] = ()  # the lake config's modules a reader could not import
    reader: bool = False  # computes nothing: parameters of operators it does not know are others'

    @property
    def extensions(self) -> list[Operator]:
        return [op for m in self.modules for op in m.operators]

    @property
    def registry(self) -> Registry:
        """Every operator: the built-in ones and the extensions, with the lake's parameters."""
        operators = [*OPERATORS, *self.extensions]
        if self.params:
            from trajectory_assets.defs.lake_params import with_lake_params

            operators = with_lake_params(  # params of an unloaded module's are its own
                operators,
                self.params,
                self.params_from,
                every_operator=not (self.unloaded or self.reader),
            )
        return Registry.build(operators)

    def assets(
        self, resources: "dict[str, dg.ConfigurableResource]"
    ) -> "list[dg.AssetsDefinition | dg.SourceAsset]":
        """Every asset of the built-in code location and of each module's, built for the lake
        the resources name (its own partitions), as each location defines them."""
        from trajectory_assets.defs.definitions import build_definitions

        made = [
            build_definitions(
                OPERATORS, name=BUILTIN_NODE, raw_source=True, report=True, resources=resources
            )
        ]
        for module in self.modules:  # a module may read the tables of any other
            upstream = [*OPERATORS, *(op for op in self.extensions if op not in module.operators)]
            made.append(
                build_definitions(
                    module.operators, upstream=upstream, name=module.node, resources=resources
                )
            )
        return [a for defs in made for a in (defs.assets or [])]  # type: ignore[misc]

    def asset_checks(self) -> "list[dg.AssetChecksDefinition]":
        """The modules' own asset checks on their tables (see `_checks`)."""
        return [c for m in self.modules for c in m.checks]


def for_lake(lake: "Lake | None", modules: Sequence[str] = (), *, reader: bool = False) -> Project:
    """The project of a lake: these modules, TRAJECTORY_ASSETS_DEFS's and the lake's config's
    (what every command and `connect` load). `reader`: a module the lake's config names that
    is not installed here is left out (`unloaded`): another team's, whose tables a reader of
    the built-in ones does not need; and so are the lake's parameters of operators not loaded
    (a team's module named by its own `--defs` alone: every reader of the lake was refused)."""
    config = read_config(lake) if lake is not None else None
    if lake is None or config is None:
        return load(modules)
    return load(modules, config.defs, config.params, lake.display(CONFIG), reader=reader)


def load(
    modules: Sequence[str] = (),
    lake_defs: Sequence[str] = (),
    params: "Mapping[str, Mapping[str, Any]] | None" = None,
    params_from: str = "",
    *,
    reader: bool = False,
) -> Project:
    """The project with these modules, those of TRAJECTORY_ASSETS_DEFS and the lake's own, and
    the lake's operator parameters."""
    from_env = [m.strip() for m in os.environ.get(DEFS_ENV, "").split(",") if m.strip()]
    origins = {name: "the lake's trajectory_assets.json" for name in lake_defs}
    origins |= {name: DEFS_ENV for name in from_env} | {name: "--defs or defs=" for name in modules}
    found: list[Module] = []
    unloaded: list[str] = []
    origins_given = {*modules, *from_env}  # a reader's own modules must load
    for name in dict.fromkeys([*modules, *from_env, *lake_defs]):
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            if reader and name not in origins_given and _not_installed(name, exc):
                unloaded.append(name)
                continue
            raise DefinitionError(
                f"cannot import the definitions module {name!r} (named by {origins[name]}): "
                f"{exc}{_how_to_import(name, exc)}"
            ) from exc
        except DefinitionError as exc:  # its code location's: no frame of ours is of use
            raise DefinitionError(f"the definitions module {name!r}: {exc}") from exc
        except SettingError as exc:  # the lake's, read by its code location: named, not its code
            raise SettingError(f"the definitions module {name!r}: {exc}") from exc
        except Exception as exc:  # its own code failed: a syntax error, or raised at import
            raise DefinitionError(
                f"the definitions module {name!r} failed while importing: {_where(exc)}"
                f"{type(exc).__name__}: {exc}"
            ) from exc
        ops = getattr(module, "operators", None)
        if _op_class(ops):
            raise DefinitionError(
                f"module {name!r}: `operators` is the class {ops.__name__}: make it a list of "
                f"instances, as `operators = [{ops.__name__}()]`"
            )
        if ops is not None and not isinstance(ops, list | tuple):
            raise DefinitionError(
                f"module {name!r}: `operators` is a {type(ops).__name__}, not a list of "
                "trajectory_assets.Operator"
            )
        classes = [
            f"{i} is the class {op.__name__}" for i, op in enumerate(ops or (), 1) if _op_class(op)
        ]
        if classes:
            raise DefinitionError(
                f"module {name!r}: in its `operators` list, item {', item '.join(classes)}: "
                "list instances, as `MyOperator()`"
            )
        if not ops or not all(isinstance(op, Operator) for op in ops):
            raise DefinitionError(
                f"module {name!r} has no `operators` list of trajectory_assets.Operator"
            )
        found.append(Module(name, tuple(ops), _node_name(name, module, ops), _checks(module, ops)))
    if unloaded:  # a reader: the lake's modules that read a left-out module's tables go too
        found, unreadable = _readable(found, [n for n in lake_defs if n not in origins_given])
        unloaded += unreadable
    _check_node_names(found)
    _check_listed_once(found)
    project = Project(tuple(found), params or {}, params_from, tuple(unloaded), reader)
    project.registry  # noqa: B018 - checks the definitions now, with a clear message
    return project


def _readable(found: list[Module], optional: Sequence[str]) -> tuple[list[Module], list[str]]:
    """`found` less the `optional` modules whose operators read a table no other loaded
    operator writes (a module left out wrote it), and their names."""
    left_out: list[str] = []
    while True:
        written = {
            t
            for op in [*OPERATORS, *(o for m in found for o in m.operators)]
            for t in (op.output_names)
        }
        lacking = [
            m.name
            for m in found
            if m.name in optional
            and any(i not in written and i != RAW_TABLE for op in m.operators for i in op.inputs)
        ]
        if not lacking:
            return found, left_out
        left_out += lacking
        found = [m for m in found if m.name not in lacking]


def _not_installed(name: str, exc: ImportError) -> bool:
    """The module, or a package above it, is not there (not an import inside it that fails)."""
    return isinstance(exc, ModuleNotFoundError) and (
        exc.name == name or name.startswith(f"{exc.name}.")
    )


def _op_class(item: object) -> TypeGuard[type[Operator]]:
    return isinstance(item, type) and issubclass(item, Operator)


def _node_name(name: str, module: ModuleType, ops: Sequence[Operator]) -> str:
    """The name the module's own code location gives the multi-asset of its tables, if any."""
    outputs = {t for op in ops for t in op.output_names}
    for asset in getattr(getattr(module, "defs", None), "assets", None) or []:
        keys = {k.to_user_string() for k in getattr(asset, "keys", ())}
        node = getattr(getattr(asset, "node_def", None), "name", None)
        if keys and keys <= outputs and isinstance(node, str):
            return node
    return name.replace(".", "_")


def _checks(module: ModuleType, ops: Sequence[Operator]) -> "tuple[dg.AssetChecksDefinition, ...]":
    """The asset checks of the module's own code location (`defs`) on tables of the project
    (its own, or the built-in ones): a command line run of those tables evaluates them as a
    Dagster run does."""
    defs = getattr(module, "defs", None)
    if defs is None or not hasattr(defs, "asset_checks"):
        return ()
    import dagster as dg

    tables = {t for op in [*OPERATORS, *ops] for t in op.output_names}
    found = [*(defs.asset_checks or ()), *(defs.assets or ())]
    return tuple(
        c
        for c in found
        if isinstance(c, dg.AssetChecksDefinition)
        and not c.keys  # checks alone, not an asset with checks of its own
        and {k.asset_key.to_user_string() for k in c.check_keys} <= tables
    )


def _check_listed_once(modules: Sequence[Module]) -> None:
    """An operator listed by two modules (one imports the other's, or the built-in ones) was a
    "same name" error per operator, whose fix (rename it) is not the fix: list it once."""
    lister: dict[tuple[type[Operator], str], str] = {
        (type(op), op.name): "the built-in tables" for op in OPERATORS
    }
    for module in modules:
        for op in module.operators:
            other = lister.setdefault((type(op), op.name), f"module {module.name!r}")
            if other != f"module {module.name!r}":
                raise DefinitionError(
                    f"module {module.name!r} lists operator {op.name!r} ({type(op).__name__}), "
                    f"as {other} does: list each operator in one module's `operators` (a module "
                    "reads the tables of the others, and the built-in ones, without listing them)"
                )


def _check_node_names(modules: Sequence[Module]) -> None:
    taken = {BUILTIN_NODE: "the built-in tables"}
    for module in modules:
        other = taken.setdefault(module.node, f"module {module.name!r}")
        if other != f"module {module.name!r}":
            raise DefinitionError(
                f"module {module.name!r} names its tables' asset {module.node!r}, as {other} "
                "does: give each module's build_definitions a name of its own (name=...)"
            )


def _how_to_import(name: str, exc: ImportError) -> str:
    """What to do: a module name is dotted, not a path; a module that is not found needs to be
    importable; a module that is found but imports something missing needs that installed."""
    if name.endswith(".py") or "/" in name or "\\" in name:
        dotted = name.removesuffix(".py").replace("/", ".").replace("\\", ".").strip(".")
        return f"; name a module as Python imports it (e.g. {dotted!r}), not a file path"
    missing = getattr(exc, "name", None)
    itself = missing == name or name.startswith(f"{missing}.")
    if isinstance(exc, ModuleNotFoundError) and missing and not itself:
        return f"; the module imports {missing!r}, which is not installed here"
    return "; install it in this Python environment, or put its folder on PYTHONPATH"


def _where(exc: Exception) -> str:
    """`file:line: ` of the innermost frame of a module's failure (a SyntaxError says its own)."""
    if isinstance(exc, SyntaxError):
        return ""
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}: " if frames else ""
