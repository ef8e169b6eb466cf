"""The run config of a materialization: the engine's settings, the checks' thresholds, and every
operator's parameters, each with its default and meaning, as the launchpad shows them."""

import typing
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg
from pydantic import ConfigDict, Field, ValidationError, create_model

from trajectory_assets.defs.settings import (
    batch_bytes,
    default_on_bad_file,
    max_elimination_ratio,
    max_rejected_share,
    retention_hours,
)
from trajectory_assets.errors import DefinitionError, RunConfigError
from trajectory_assets.lake.bad_file_rules import OnBadFile
from trajectory_assets.operator import Operator

IN_RUN_CONFIG = "run config: "


STRICT = ConfigDict(strict=True)
"""Values are taken as they are typed, never converted, so `--config` refuses `true` for a number
(pydantic would read it as 1: a check threshold of 100%) and "0.1" for a float (which Dagster
refuses only once the run is launched). A run launched from the UI gets its values from
Dagster's config types, which have already turned a `true` given for a float into 1.0."""


class ComputeConfig(dg.Config):
    """Per-run knobs of a materialization; operators' parameters are added per code location."""

    model_config = STRICT

    batch_bytes: int = Field(
        default=batch_bytes(),
        ge=0,
        description="Target raw bytes per batch of whole sessions; 0 (the default): sized per "
        "day, about one batch per core, 8-16 MiB each.",
    )
    on_bad_file: OnBadFile = Field(
        default=default_on_bad_file(),
        description="`fail`: an unreadable raw file fails the run, naming every bad file. "
        "`skip`: they are left out and listed in the metadata.",
    )
    retention_hours: float = Field(
        default=retention_hours(),
        ge=0,
        description="After the run, table versions older than this (whole hours, rounded up) "
        "are vacuumed: rollback and time travel reach back this far.",
    )
    max_rejected_share: float = Field(
        default=max_rejected_share(),
        ge=0,
        le=1,
        description="The rejected_share check fails above this share of raw rows.",
    )
    max_elimination_ratio: float = Field(
        default=max_elimination_ratio(),
        ge=0,
        le=1,
        description="The elimination_ratio check warns about steps above this.",
    )
    force: bool = Field(
        default=False,
        description="Compute the days even when they are up to date, from scratch, into new "
        "files: repairs a day whose table files were deleted or damaged by hand.",
    )
    allow_other_lake: bool = Field(
        default=False,
        description="Run even though this Dagster instance records another lake (its UI would "
        "then mix the two lakes' partitions).",
    )

    def __init__(self, **values: Any) -> None:
        """Dagster builds the run's config here, inside the step, after the launchpad checked
        only the types: a value out of range fails the run in one line, not pydantic's report
        under a traceback."""
        try:
            super().__init__(**values)
        except ValidationError as exc:
            error = exc.errors()[0]
            key = ".".join(str(part) for part in error["loc"])
            problem = f"{key}: {error['msg']} (got {error['input']!r})"
            raise dg.Failure(description=IN_RUN_CONFIG + problem) from None


def configured(op: Operator, config: ComputeConfig) -> Operator:
    """The operator with the run config's parameters; RunConfigError names what it refuses."""
    try:
        return op.configure(**operator_params(config, op))
    except (TypeError, ValueError) as exc:
        raise RunConfigError(f"{op.name}: {exc}") from None


def with_params(op: Operator, params: Mapping[str, Any]) -> Operator:
    """The operator with these parameters (a lake's, a component's YAML), checked and converted
    as run config is: 2000 for a float is 2000.0, as a run's config gives it (a fingerprint
    tells 1 from 1.0, so the day would be stale for every run). RunConfigError names what is
    refused, from the operator's name on."""
    if not params:
        return op
    extra = sorted(set(params) - set(op.params))
    if extra:
        known = ", ".join(sorted(op.params)) or "none"
        raise RunConfigError(
            f"{op.name} has no parameter(s) {', '.join(extra)} (its parameters: {known})"
        )
    try:
        validated = config_class([op], op.name).model_validate({op.name: dict(params)})
    except dg.Failure as exc:  # a value of the wrong type (the config class's one line)
        raise RunConfigError(str(exc.description).removeprefix(IN_RUN_CONFIG)) from None
    return configured(op, validated)


def config_class(operators: Sequence[Operator], name: str) -> type[ComputeConfig]:
    """ComputeConfig plus one section per operator that has parameters, named after it."""
    sections: dict[str, Any] = {}
    for op in operators:
        if not op.params:
            continue
        fields: dict[str, Any] = {k: _field(op, k, v) for k, v in op.params.items()}
        section = create_model(f"{_camel(op.name)}Params", __base__=_Params, **fields)
        sections[op.name] = (
            section,
            Field(default_factory=section, description=f"parameters of the {op.name} operator"),
        )
    made: type[ComputeConfig] = create_model(
        f"{_camel(name)}Config", __base__=ComputeConfig, **sections
    )
    return made


class _Params(dg.Config):
    model_config = STRICT


def _field(op: Operator, key: str, default: Any) -> Any:
    """A parameter's config field: of the type its constructor argument is annotated with, else
    of its default's type (a default of 1 with `ratio: float` takes 0.5). A type Dagster's config
    cannot hold is a DefinitionError naming the operator and the parameter."""
    kind = _annotations(type(op)).get(key, type(default))
    hint = getattr(kind, "__name__", str(kind))
    described = f"{op.name} parameter {key}"
    try:
        _schema(key, (kind, Field(description=described)))
    except Exception as exc:  # Dagster's own errors, and a KeyError for a bare None type
        raise DefinitionError(
            f"operator {op.name!r}: parameter {key!r} ({hint}) cannot be run config: annotate "
            "its constructor argument with int, float, str, bool, a list or dict of them, or "
            f"one of them `| None` (Dagster: {type(exc).__name__})"
        ) from None
    field: Any = (kind, Field(default=default, description=described))
    try:
        _schema(key, field)
    except Exception:  # a value given for it (defs.yaml's params, `configure`) of another type
        raise DefinitionError(
            f"operator {op.name!r}: parameter {key!r} is {default!r}, not a {hint} (the type "
            "its constructor argument takes)"
        ) from None
    return field


def _schema(key: str, field: Any) -> None:
    create_model("Parameter", __base__=dg.Config, **{key: field}).to_config_schema()


def _annotations(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls.__init__)  # type: ignore[misc]
    except Exception:  # a forward reference it cannot resolve: the defaults' types decide
        return {}


def launchpad_config(operators: Sequence[Operator], name: str) -> dict[str, Any]:
    """The job's run config with every default spelled out, so the launchpad opens showing what a
    user may change instead of an empty editor behind "Add config"."""
    defaults = config_class(operators, name)().model_dump()
    return {"ops": {name: {"config": defaults}}}


def operator_params(config: ComputeConfig, op: Operator) -> dict[str, Any]:
    section = getattr(config, op.name, None)
    return dict(section.model_dump()) if section is not None else {}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
