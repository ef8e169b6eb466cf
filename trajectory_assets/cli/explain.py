"""`trajectory-assets explain ASSET`: the plan of an asset for some days, without running it."""

from typing import TYPE_CHECKING

import click

from trajectory_assets.cli.common import (
    REPORT,
    CliError,
    days_options,
    defs_option,
    in_partitions,
    lake_option,
    on_bad_file_option,
    open_lake,
    operator_named,
    project,
    ray_address_option,
    resolve_days,
    runtime_option,
    say,
    some_days,
    tell,
    warn_of_misnamed_days,
)
from trajectory_assets.cli.days import stale_upstream
from trajectory_assets.cli.run_config import config_option
from trajectory_assets.lake.bad_file_rules import OnBadFile

if TYPE_CHECKING:
    from trajectory_assets.cli.run_config import PreparedRun
    from trajectory_assets.project import Project


@click.command(short_help="show the plan of an asset, without running it")
@click.argument("asset")
@lake_option
@defs_option
@days_options
@runtime_option
@ray_address_option
@on_bad_file_option
@config_option
def explain(
    asset: str,
    lake: str,
    defs: tuple[str, ...],
    partition: str | None,
    date_from: str | None,
    date_to: str | None,
    runtime: str,
    ray_address: str | None,
    on_bad_file: OnBadFile,
    config_file: str | None,
) -> None:
    """Show the plan of an asset, without running it: what is read, batched and written.

    Without --partition or --from/--to, every day of the lake that has raw data. With --config,
    the plan of a run given that file (its operator parameters decide which days are current).
    """
    from trajectory_assets.defs.partitions import start_date_of
    from trajectory_assets.defs.settings import batch_bytes
    from trajectory_assets.engine.explain import explain as explain_plan
    from trajectory_assets.engine.settings import RunSettings
    from trajectory_assets.errors import MissingUpstreamError
    from trajectory_assets.lake.raw import list_days

    where = open_lake(lake, must_exist=True)
    warn_of_misnamed_days(where)
    the_project = project(defs, where)
    registry = the_project.registry
    if asset == REPORT:
        raise CliError(
            f"{REPORT} is a page drawn from the day's tables, with no plan of its own: explain "
            "a table it reads (sessions, turns, eval_runs, ...)"
        )
    op = operator_named(registry, asset)
    size = batch_bytes()
    if config_file:
        prepared = _prepared(lake, the_project, runtime, ray_address, on_bad_file, config_file)
        registry, op = prepared.registry, prepared.registry.operator(op.name)
        configs = [node["config"] for node in prepared.run_config["ops"].values()]
        size = next((c["batch_bytes"] for c in configs if "batch_bytes" in c), size)
    days = resolve_days(partition, date_from, date_to)
    with_raw = list_days(where)
    if not days:
        days = with_raw
        if not days:
            raise CliError(
                f"no raw data in {where.display('raw_events')}: "
                "give --partition DAY, or --from DAY and --to DAY"
            )
    without = [d for d in days if d not in set(with_raw)]
    if without:
        raise CliError(
            f"no raw data for {some_days(without)} in {where.display('raw_events')}: "
            "a run of those days would be refused"
        )
    days = in_partitions(where, days, refuse=bool(partition or date_from))
    if not days:
        raise CliError(
            "nothing to explain: every day with raw data is outside the partitions (see above)"
        )
    # a run's defaults, as materialize takes them
    settings = RunSettings(
        batch_bytes=size, first_day=start_date_of(where), on_bad_file=on_bad_file
    )
    try:
        plan = explain_plan(registry, [op], where, days, runtime, settings, ray_address)
    except MissingUpstreamError as exc:
        chain = registry.with_upstream(op)
        if len(chain) == 1:
            raise CliError(str(exc)) from None
    else:
        stale = stale_upstream(where, registry, [op], days, on_bad_file)
        if stale:
            tell(
                f"note: {stale[0]}: this is the plan of {op.name} alone, from its inputs as "
                f"they are; a run of every asset (or --missing) computes {stale[1]} first"
            )
        say(plan)
        return
    try:
        plan = explain_plan(registry, chain, where, days, runtime, settings, ray_address)
    except MissingUpstreamError as exc:  # written by another code location
        raise CliError(str(exc)) from None
    names = ", ".join(o.name for o in chain if o is not op)
    tell(
        f"note: {op.name} reads tables not materialized yet for these days: this is the plan of "
        f"a run that computes them first ({names}), as materializing every asset does"
    )
    say(plan)


def _prepared(
    lake: str,
    the_project: "Project",
    runtime: str,
    ray_address: str | None,
    on_bad_file: OnBadFile,
    config_file: str,
) -> "PreparedRun":
    """The run given the file (its operators' parameters, its batch size), the file checked as
    that run checks it; a run of every table, so the file a run of them all takes is taken."""
    from trajectory_assets.cli.run_config import prepared_run, read_config

    return prepared_run(
        lake,
        the_project,
        list(the_project.registry.tables),
        runtime=runtime,
        ray_address=ray_address,
        num_cpus=None,
        flags={"on_bad_file": on_bad_file},
        config=read_config(config_file),
        config_file=config_file,
    )
