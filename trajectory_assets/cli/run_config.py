"""`materialize --config FILE`: from a file, the run config a UI user edits in the launchpad.

The file (YAML; JSON is YAML too) holds what the launchpad shows under `ops.<asset>.config`: the
engine's settings and the checks' thresholds at the top (`batch_bytes`, `retention_hours`,
`max_rejected_share`, `max_elimination_ratio`), and a section per operator with parameters:

    max_rejected_share: 0.1
    sessionize:
      identical_run_threshold: 5

or the launchpad's whole run config as it is (`ops: {tier_b: {config: {...}}}`), copied from the
UI.

Settings with a flag of their own (`on_bad_file`, `force`, `allow_other_lake`) are refused in the
file, so each has one place; a command without that flag (`explain` has no `--force`) leaves it
out with a note. A run of several assets (your own operators' with the built-in
ones) gives the settings to each, and an operator's section to the asset that runs it.

Every value is checked before any run starts, as the run would check it (types, ranges, an
operator's own validation of its parameters), so a mistake is one line naming the setting, not
a failed Dagster run.
"""

import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import click

from trajectory_assets.cli.common import CliError, F, tell

if TYPE_CHECKING:
    import dagster as dg

    from trajectory_assets.engine.registry import Registry
    from trajectory_assets.operator import Operator
    from trajectory_assets.project import Project

    Assets = Sequence[dg.AssetsDefinition | dg.SourceAsset]


def config_option(f: F) -> F:
    return click.option(
        "--config",
        "config_file",
        metavar="FILE",
        help="run config as the UI's launchpad has it (YAML): settings, check thresholds and "
        "operator parameters, e.g. 'sessionize: {identical_run_threshold: 5}'",
    )(f)


FLAGS = {
    "on_bad_file": "--on-bad-file",
    "force": "--force",
    "allow_other_lake": "--allow-other-lake",
}


def read_config(path: str) -> dict[str, Any]:
    """The file's settings; a clear error for a file that is missing or not a YAML mapping."""
    import yaml

    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise CliError(f"--config {path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise CliError(f"--config {path}: not YAML: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise CliError(f"--config {path}: a mapping of settings, not a {type(doc).__name__}")
    return doc


def node_configs(
    path: str,
    config: Mapping[str, Any],
    operators_of: Mapping[str, Sequence["Operator"]],
    flags: Collection[str],
) -> dict[str, dict[str, Any]]:
    """Each asset node's share of the file (node name -> its operators in, config out); `flags`:
    the settings the command takes as flags (a setting of the others is left out, said once)."""
    if "ops" in config:
        return _launchpad(path, config, operators_of, flags)
    from trajectory_assets.defs.config import ComputeConfig

    settings = set(ComputeConfig.model_fields) - set(FLAGS)
    owner = {op.name: node for node, ops in operators_of.items() for op in ops if op.params}
    _flags_in_file(path, set(config) & set(FLAGS), flags)
    for key in config:
        if key not in settings and key not in owner and key not in FLAGS:
            raise CliError(
                f"--config {path}: {key!r} is neither a setting ({', '.join(sorted(settings))}) "
                "nor an operator with parameters in this run "
                f"({', '.join(sorted(owner)) or 'none'})"
            )
    return {
        node: {k: v for k, v in config.items() if k in settings or owner.get(k) == node}
        for node in operators_of
    }


def _launchpad(
    path: str,
    config: Mapping[str, Any],
    operators_of: Mapping[str, Sequence["Operator"]],
    flags: Collection[str],
) -> dict[str, dict[str, Any]]:
    """The launchpad's form: `ops.<node>.config`, each node's own. The UI's whole config may
    hold `resources`, `loggers` and `execution` too, which this command sets itself (the lake
    from --lake, the runtime from --runtime): left out, with a note, not refused."""
    set_here = sorted(set(config) & {"resources", "loggers", "execution"})
    if set_here:
        tell(
            f"note: --config {path}: {', '.join(set_here)} left out: the command sets them "
            "(--lake, --runtime, --ray-address)"
        )
    extra = sorted(set(config) - {"ops", *set_here})
    ops = config["ops"]
    if extra or not isinstance(ops, dict):
        raise CliError(f"--config {path}: only `ops` is read from a launchpad config, not {extra}")
    unknown = sorted(set(ops) - set(operators_of))
    if unknown:
        raise CliError(
            f"--config {path}: ops {unknown} are not assets of this run "
            f"({', '.join(sorted(operators_of))})"
        )
    from trajectory_assets.defs.config import ComputeConfig

    found = {}
    given = set()
    for node in operators_of:
        section = dict((ops.get(node) or {}).get("config") or {})
        for key in set(section) & set(FLAGS):  # the launchpad spells out every default
            if section.pop(key) != ComputeConfig.model_fields[key].default:
                given.add(key)
        found[node] = section
    _flags_in_file(path, given, flags)
    return found


def _flags_in_file(path: str, given: Collection[str], flags: Collection[str]) -> None:
    """A setting of the file that the command takes as a flag is refused (the flag says it);
    one of another command's flags (`force` given to explain) is left out, with a note."""
    for key in sorted(given):
        if key in flags:
            raise CliError(f"--config {path}: {key} has a flag of its own: use {FLAGS[key]}")
    if other := sorted(set(given) - set(flags)):
        tell(f"note: --config {path}: {', '.join(other)} left out: this command has no such flag")


def check_configs(
    path: str,
    configs: Mapping[str, Mapping[str, Any]],
    operators_of: Mapping[str, Sequence["Operator"]],
) -> list["Operator"]:
    """The operators with the file's parameters; CliError naming the first setting of the file
    a run would refuse."""
    import dagster as dg

    from trajectory_assets.defs.config import IN_RUN_CONFIG, config_class, configured
    from trajectory_assets.errors import RunConfigError

    where = f"--config {path}" if path else "run config"
    operators = []
    for node, ops in operators_of.items():
        config = configs.get(node, {})
        model = config_class(ops, node)
        _no_unknown_keys(where, config, model.model_fields, ops)
        try:
            validated = model.model_validate(config)
        except dg.Failure as exc:  # the config class's own one line (ComputeConfig.__init__)
            raise CliError(f"{where}: {str(exc.description).removeprefix(IN_RUN_CONFIG)}") from None
        for op in ops:
            try:
                operators.append(configured(op, validated))
            except RunConfigError as exc:
                raise CliError(f"{where}: {exc}") from None
    return operators


def _no_unknown_keys(
    where: str, config: Mapping[str, Any], fields: Collection[str], ops: Sequence["Operator"]
) -> None:
    """Pydantic would drop a misspelt key silently; Dagster would refuse it in its own words."""
    unknown = sorted(set(config) - set(fields))
    if unknown:
        raise CliError(f"{where}: unknown setting(s) {unknown} (the settings: {sorted(fields)})")
    for op in ops:
        section = config.get(op.name)
        if isinstance(section, Mapping) and set(section) - set(op.params):
            raise CliError(
                f"{where}: {op.name} has no parameter(s) {sorted(set(section) - set(op.params))} "
                f"(its parameters: {', '.join(sorted(op.params))})"
            )


class PreparedRun(NamedTuple):
    assets: "Assets"
    resources: "dict[str, dg.ConfigurableResource]"
    run_config: dict[str, Any]
    registry: "Registry"
    """The operators as the run configures them: a day is current for this run, or stale, by
    the parameters --config gives (what `--missing` and a dry run judge days with)."""


def prepared_run(
    lake_uri: str,
    the_project: "Project",
    tables: Sequence[str],
    *,
    runtime: str,
    ray_address: str | None,
    num_cpus: int | None,
    flags: Mapping[str, Any],
    config: Mapping[str, Any],
    config_file: str,
) -> PreparedRun:
    """The assets, resources and run config of a command line run; a CliError naming the first
    entry of --config the run would refuse (a dry run checks the file the same way)."""
    import dagster as dg

    from trajectory_assets.defs.resources import ComputeResource, LakeResource
    from trajectory_assets.lake.fs import S3_ENDPOINT_URL_ENV

    resources: dict[str, dg.ConfigurableResource] = {
        "lake": LakeResource(root=lake_uri, s3_endpoint_url=os.environ.get(S3_ENDPOINT_URL_ENV)),
        "compute": ComputeResource(runtime=runtime, address=ray_address, num_cpus=num_cpus),  # type: ignore[arg-type]
    }
    assets = the_project.assets(resources)
    wanted = {dg.AssetKey(t) for t in tables}
    registry = the_project.registry
    operators_of = {  # asset node -> the operators it runs (none: the daily report)
        a.node_def.name: registry.ordered(
            {
                registry.operator(k.to_user_string())
                for k in a.keys
                if k.to_user_string() in registry.tables
            }
        )
        for a in assets
        if isinstance(a, dg.AssetsDefinition) and a.is_executable and set(a.keys) & wanted
    }
    from_file = node_configs(config_file, config, operators_of, set(flags))
    configs = {name: {**from_file[name], **flags} for name in operators_of}
    operators = check_configs(config_file, configs, operators_of)
    run_config = {
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
        "ops": {name: {"config": configs[name]} for name in operators_of},
    }
    return PreparedRun(assets, resources, run_config, registry.configured(operators))
