"""Operators as assets from YAML: a Dagster component type beside `build_definitions`.

A project laid out for `dg` (a `defs/` folder of `defs.yaml` files) gets a team's operators as
daily-partitioned assets by naming them in a `defs.yaml`, without a Python module of its own:

    type: trajectory_assets.defs.component.OperatorAssets
    attributes:
      name: team_metrics
      operators:
        - team_metrics.operators:SlowTurns
        - team_metrics.operators:ModelUsage
      params:
        slow_turns: {ttft_ms: 1500.0}

The component only turns these strings into operators and calls `build_definitions`, whose
arguments are its attributes (`lake` and `runtime` make the resources), so both routes give the
same assets, checks, job, schedule, sensor and resources. A path that cannot be
imported, or names something that is not an operator, fails the load with a `DefinitionError`
naming the path, as a bad operator does in the Python route.

`dg` imports this module (the package's `dagster_dg_cli.registry_modules` entry point) whenever it
lists component types, so the engine and the definitions load only when a component builds.
(No postponed annotations here: Dagster and pydantic read the fields' annotations at runtime.)
"""

import importlib
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import dagster as dg
from pydantic import BaseModel, Field

from trajectory_assets.engine.runtimes.names import RuntimeName
from trajectory_assets.errors import DefinitionError, RunConfigError

if TYPE_CHECKING:
    from trajectory_assets.operator import Operator

BUILTIN = "trajectory_assets.operators:OPERATORS"
"""The built-in operators: what a team's tables read unless `upstream` says otherwise."""


class OperatorAssetsScaffoldParams(BaseModel):
    """What `dg scaffold defs ... --json-params` may fill in the new defs.yaml."""

    operators: list[str] | None = Field(
        default=None,
        description="The operators the new defs.yaml names, as `package.module:Name` paths "
        "(default: a placeholder to replace).",
    )


class OperatorAssetsScaffolder(dg.Scaffolder[OperatorAssetsScaffoldParams]):
    """Writes a defs.yaml with every attribute a user fills in, rather than Dagster's default
    empty `attributes: {}`, which would not load (`name` and `operators` are required)."""

    @classmethod
    def get_scaffold_params(cls) -> type[OperatorAssetsScaffoldParams]:
        return OperatorAssetsScaffoldParams

    def scaffold(self, request: dg.ScaffoldRequest[OperatorAssetsScaffoldParams]) -> None:
        operators = (request.params.operators if request.params else None) or [
            "my_package.operators:MyOperator"
        ]
        lines = [
            f"type: {request.type_name}",
            "attributes:",
            "  # the multi-asset, its job (<name>_daily) and schedule; the asset group by default",
            f"  name: {request.target_path.name}",
            "  # `package.module:Name`: an Operator class (built with no arguments), an Operator,",
            "  # or a list of them",
            "  operators:",
            *[f"    - {path}" for path in operators],
            "  # the operators whose tables these read (default: the built-in ones)",
            f"  # upstream: [{BUILTIN}]",
            "  # operator parameters other than their defaults, by operator name",
            "  # params:",
            "  #   my_operator: {threshold: 1.0}",
            "  # the lake (default: TRAJECTORY_ASSETS_LAKE) and runtime (auto, ray or inline)",
            "  # lake: s3://bucket/lake",
            "  # runtime: auto",
            "  # start_date: 2026-01-01      # the first daily partition (default: the lake's)",
            "  # blocking_checks: false      # true: a failed ERROR check fails the run",
            "  # raw_source: false           # true in the component of the built-in operators",
            "  # report: false               # true in the component of the built-in operators",
            "  # cron: 30 0 * * *            # the daily schedule (UTC)",
            "  # schedule_running: false     # true: the schedule is on once the location loads",
            "  # sensor_running: false       # true: so is the sensor of late raw data",
            "  # in_process_executor: true   # false where the code location has its own",
            "",
        ]
        request.target_path.mkdir(parents=True, exist_ok=True)
        (request.target_path / "defs.yaml").write_text("\n".join(lines), encoding="utf-8")


@dg.scaffold_with(OperatorAssetsScaffolder)
class OperatorAssets(dg.Component, dg.Model, dg.Resolvable):
    """A team's operators as daily-partitioned Dagster assets: the YAML form of
    `trajectory_assets.build_definitions(operators, upstream=..., name=..., group=...)`."""

    name: Annotated[
        str,
        dg.Resolver.default(
            description="Name of the multi-asset that computes the tables; the daily job is "
            "`<name>_daily`, and the asset group defaults to it. One per code location.",
            examples=["team_metrics"],
        ),
    ]
    operators: Annotated[
        list[str],
        dg.Resolver.default(
            description="Import paths, `package.module:Name`, of the operators to turn into "
            "assets: each names an Operator class (built with no arguments), an Operator "
            "instance, or a list of them.",
            examples=[["team_metrics.operators:SlowTurns", "team_metrics.operators:ModelUsage"]],
        ),
    ]
    upstream: Annotated[
        list[str],
        dg.Resolver.default(
            description="Import paths of the operators whose tables these read but which other "
            "code locations compute (lineage crosses locations by asset key). Default: the "
            "built-in operators.",
            examples=[[BUILTIN]],
        ),
    ] = [BUILTIN]
    group: Annotated[
        str | None,
        dg.Resolver.default(description="Asset group of the tables (default: `name`)."),
    ] = None
    params: Annotated[
        dict[str, dict[str, Any]],
        dg.Resolver.default(
            description="Operator parameters other than their defaults, by operator name: the "
            "defaults the run config and the launchpad start from.",
            examples=[{"slow_turns": {"ttft_ms": 1500.0}}],
        ),
    ] = {}
    lake: Annotated[
        str | None,
        dg.Resolver.default(
            description="The lake's root, a path or s3://bucket/prefix (default: the "
            "TRAJECTORY_ASSETS_LAKE variable). A code location serves one lake: components "
            "that name different lakes cannot load together.",
            examples=["s3://bucket/lake", "{{ env.TRAJECTORY_ASSETS_LAKE }}"],
        ),
    ] = None
    runtime: Annotated[
        RuntimeName | None,
        dg.Resolver.default(
            description="Where operator batches run (default: TRAJECTORY_ASSETS_RUNTIME, else "
            "`auto`: in-process for small runs, local Ray for large ones)."
        ),
    ] = None
    start_date: Annotated[
        str | None,
        dg.Resolver.default(
            description="The first daily partition, YYYY-MM-DD (default: the lake's own, from "
            "its trajectory_assets.json or its first raw day)."
        ),
    ] = None
    blocking_checks: Annotated[
        bool,
        dg.Resolver.default(
            description="A failed check of ERROR severity fails the run (its tables stay "
            "committed) and holds back what depends on its table."
        ),
    ] = False
    raw_source: Annotated[
        bool,
        dg.Resolver.default(
            description="Also define the observable `raw_events` asset (once per workspace: "
            "in the component that holds the built-in operators)."
        ),
    ] = False
    report: Annotated[
        bool,
        dg.Resolver.default(
            description="Also define the `daily_report` asset, drawn from the built-in tables "
            "(in the component that holds the built-in operators)."
        ),
    ] = False
    cron: Annotated[
        str | None,
        dg.Resolver.default(
            description="When the daily schedule ticks, a cron schedule in UTC (default: "
            "TRAJECTORY_ASSETS_SCHEDULE_CRON, else 00:30).",
            examples=["30 0 * * *"],
        ),
    ] = None
    schedule_running: Annotated[
        bool,
        dg.Resolver.default(
            description="The daily schedule is on as soon as the code location loads, instead "
            "of switched on in the UI."
        ),
    ] = False
    sensor_running: Annotated[
        bool,
        dg.Resolver.default(
            description="The sensor of late or changed raw data is on as soon as the code "
            "location loads, instead of switched on in the UI."
        ),
    ] = False
    in_process_executor: Annotated[
        bool,
        dg.Resolver.default(
            description="Give the code location Dagster's in-process executor (one step at a "
            "time holds the tables' pool anyway); false where the location defines its own, "
            "since Dagster refuses two."
        ),
    ] = True

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        from trajectory_assets.defs.definitions import build_definitions, default_resources
        from trajectory_assets.lake.layout import is_day

        if self.start_date is not None and not is_day(self.start_date):
            raise DefinitionError(f"start_date {self.start_date!r} is not a day (YYYY-MM-DD)")
        if not self.operators:
            raise DefinitionError("operators is empty: name at least one operator")
        for attribute in ("name", "group"):
            value = getattr(self, attribute)
            if value is not None and not re.fullmatch(r"[A-Za-z0-9_]+", value):
                raise DefinitionError(
                    f"{attribute} {value!r} names Dagster's asset group and job: letters, "
                    "digits and _ only"
                )
        operators = configure(
            [op for path in self.operators for op in load_operators(path)], self.params
        )
        upstream = [op for path in self.upstream for op in load_operators(path)]
        return build_definitions(
            operators,
            upstream=upstream,
            name=self.name,
            group=self.group,
            raw_source=self.raw_source,
            report=self.report,
            resources=default_resources(self.lake, self.runtime),
            start_date=self.start_date,
            executor=dg.in_process_executor if self.in_process_executor else None,
            blocking_checks=self.blocking_checks,
            cron=self.cron,
            schedule_running=self.schedule_running,
            sensor_running=self.sensor_running,
        )


def load_operators(path: str) -> "list[Operator]":
    """The operators an import path names: a class is built with no arguments, a list or tuple
    is taken item by item; anything else is a `DefinitionError` naming the path."""
    from trajectory_assets.operator import Operator

    found = import_object(path)
    items = list(found) if isinstance(found, list | tuple) else [found]
    operators = []
    for item in items:
        if isinstance(item, type) and issubclass(item, Operator):
            try:
                item = item()
            except TypeError as exc:
                raise DefinitionError(
                    f"operator class {item.__name__} of {path!r} cannot be built with no "
                    f"arguments ({exc}); give its parameters defaults, or name an instance"
                ) from exc
        if not isinstance(item, Operator):
            raise DefinitionError(
                f"{path!r} names a {type(item).__name__}, not a trajectory_assets.Operator, an "
                "Operator class or a list of them"
            )
        operators.append(item)
    return operators


def import_object(path: str) -> Any:
    """What `package.module:Name` (or `package.module.Name`) names; `Name` may be dotted."""
    module_name, colon, attribute = path.partition(":")
    if not colon:
        module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise DefinitionError(f"{path!r} is not an import path: write `package.module:Name`")
    try:
        found: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise DefinitionError(f"cannot import module {module_name!r} of {path!r}: {exc}") from exc
    for part in attribute.split("."):
        if not hasattr(found, part):
            raise DefinitionError(f"{path!r}: module {module_name!r} has no {attribute!r}")
        found = getattr(found, part)
    return found


def configure(
    operators: "Sequence[Operator]", params: Mapping[str, Mapping[str, Any]]
) -> "list[Operator]":
    """The operators with `params` applied by operator name; a name or parameter that does not
    exist is a `DefinitionError`, so a typo in defs.yaml is not silently ignored."""
    unknown = sorted(set(params) - {op.name for op in operators})
    if unknown:
        raise DefinitionError(
            f"params name operator(s) {unknown} that are not among the operators "
            f"{[op.name for op in operators]}"
        )
    from trajectory_assets.defs.config import with_params

    configured = []
    for op in operators:
        try:
            configured.append(with_params(op, params.get(op.name, {})))
        except RunConfigError as exc:
            raise DefinitionError(f"params: {exc}") from None
    return configured
