"""The Dagster job a command line run executes: the selected tables, their checks, the
command line's logger."""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from trajectory_assets.cli.common import say

if TYPE_CHECKING:
    import dagster as dg

    from trajectory_assets.cli.run_config import Assets
    from trajectory_assets.project import Project

JOB = "materialize"  # the job of a command line run, as Dagster's UI lists it


def _own_checks(
    the_project: "Project",
    resources: "Mapping[str, dg.ConfigurableResource]",
    tables: Sequence[str],
) -> "list[dg.AssetChecksDefinition]":
    """The modules' own asset checks on the tables run, as a Dagster run of them evaluates;
    one that needs a resource of its code location's other than the lake and compute, or run
    config of its own (which `--config` does not carry), is left to Dagster, and said so."""
    found = []
    for check in the_project.asset_checks():
        if not {k.asset_key.to_user_string() for k in check.check_keys} & set(tables):
            continue
        needs = sorted(check.required_resource_keys - {*resources, "io_manager"})
        schema = check.op.config_schema
        configured = schema is not None and getattr(schema.as_field().config_type, "fields", None)
        if needs or configured:
            why = f"the resource(s) {', '.join(needs)}" if needs else "run config"
            say(
                f"note: check {', '.join(k.name for k in check.check_keys)} takes {why} of its "
                "code location: Dagster runs it, this command does not"
            )
            continue
        found.append(check)
    return found


def command_job(
    the_project: "Project",
    assets: "Assets",
    resources: "Mapping[str, dg.ConfigurableResource]",
    tables: Sequence[str],
) -> "dg.JobDefinition":
    """What `dg.materialize` runs (a job of the selected assets and their checks, the modules'
    own among them), with the command line's logger unless -v asks for Dagster's own."""
    import dagster as dg

    from trajectory_assets.cli.common import verbose
    from trajectory_assets.cli.runlog import progress_logger

    defs = dg.Definitions(
        assets=assets,
        asset_checks=_own_checks(the_project, resources, tables),
        resources=resources,
        jobs=[dg.define_asset_job(JOB, selection=dg.AssetSelection.assets(*tables))],
        loggers=None if verbose() else {"console": progress_logger},
    )
    return defs.resolve_job_def(JOB)
