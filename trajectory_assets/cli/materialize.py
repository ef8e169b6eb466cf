"""`trajectory-assets materialize`: tables for some days, as runs in the Dagster instance.

The runs go through `dg.materialize` with the DAGSTER_HOME instance, so they are recorded like a
run launched from the UI: same assets, resources, checks and lineage. Consecutive days are one
run; `--missing` picks the days with raw data whose tables are missing or stale (or whose daily
report is missing, or drawn from other tables than the day's now), however scattered, one run
per stretch of consecutive days.
"""

import os
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from trajectory_assets.cli.command_job import command_job
from trajectory_assets.cli.common import (
    REPORT,
    ChecksFailed,
    CliError,
    Interrupted,
    days_options,
    defs_option,
    lake_option,
    num_cpus_option,
    on_bad_file_option,
    open_lake,
    project,
    ray_address_option,
    resolve_days,
    runtime_option,
    say,
    sigterm_as_ctrl_c,
    split_list,
    tables_for,
    tell,
    usage,
    warn_of_misnamed_days,
    warn_of_unfinished_forgets,
)
from trajectory_assets.cli.days import (
    dry_run_refusal,
    missing_days,
    nothing_to_do,
    reasons,
    refuse_days_without_raw_data,
    stale_upstream,
    stretches,
)
from trajectory_assets.cli.instance import dagster_home, dagster_home_setting, run_instance
from trajectory_assets.cli.outcome import (
    FAILED_CHECK,
    check_failures,
    failure_message,
    interrupted,
    skipped_files,
    summary,
)
from trajectory_assets.cli.run_config import config_option, prepared_run
from trajectory_assets.lake.bad_file_rules import OnBadFile

if TYPE_CHECKING:
    import dagster as dg

    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.project import Project


@click.command(short_help="materialize Tier B assets through Dagster")
@lake_option
@defs_option
@days_options
@click.option(
    "--missing",
    is_flag=True,
    help="every day with raw data whose tables are missing or stale, or whose daily report is "
    "missing or drawn from other tables than the day's now (instead of days)",
)
@runtime_option
@click.option("--assets", help="comma-separated tables (default: all)")
@ray_address_option
@num_cpus_option
@on_bad_file_option
@click.option(
    "--allow-other-lake",
    is_flag=True,
    help="run even though the Dagster instance records another lake",
)
@click.option(
    "--force",
    is_flag=True,
    help="compute the days even when up to date, into new files (repairs files lost by hand)",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="say which days and assets it would materialize, in which runs and why, and run nothing",
)
@config_option
def materialize(
    lake: str,
    defs: tuple[str, ...],
    partition: str | None,
    date_from: str | None,
    date_to: str | None,
    missing: bool,
    runtime: str,
    assets: str | None,
    ray_address: str | None,
    num_cpus: int | None,
    on_bad_file: OnBadFile,
    allow_other_lake: bool,
    force: bool,
    dry_run: bool,
    config_file: str | None,
) -> None:
    """Materialize tables through Dagster, recorded in the DAGSTER_HOME instance."""
    click.get_current_context().with_resource(sigterm_as_ctrl_c())
    from trajectory_assets.cli.run_config import read_config
    from trajectory_assets.defs.settings import check_run_settings
    from trajectory_assets.engine.lineage import in_lake
    from trajectory_assets.errors import MissingUpstreamError, SettingError

    check_run_settings()
    days = resolve_days(partition, date_from, date_to)
    config = read_config(config_file) if config_file else {}
    if missing and days:
        raise usage("give days (--partition, --from/--to) or --missing, not both")
    if not missing and not days:
        raise usage("give --partition DAY, or --from DAY and --to DAY, or --missing")
    where = open_lake(lake, must_exist=True)
    warn_of_misnamed_days(where)
    warn_of_unfinished_forgets(where)
    the_project = project(defs, where)
    names = split_list(assets)
    if assets is not None and not names:
        raise usage("--assets names no asset: give a comma-separated list, or leave it out")
    asked = [n for n in names if n != REPORT]
    tables = tables_for(the_project.registry, asked) if asked or not names else []
    if not names or REPORT in names:  # the daily report of the days, after their tables
        tables.append(REPORT)
    running = [op for op in the_project.registry.operators if set(op.output_names) & set(tables)]
    try:  # a mistake in a lake file the run's operators read (prices.yaml): said once, before
        in_lake(where, running)  # a run is created to fail on it
    except SettingError as exc:
        raise CliError(f"the run would be refused: {exc}" if dry_run else str(exc)) from None
    flags = {"on_bad_file": on_bad_file, "allow_other_lake": allow_other_lake, "force": force}
    registry = the_project.registry  # days are judged by the parameters the run will have
    if missing or dry_run:
        try:  # the file is checked before any run starts, as the run would check it
            registry = prepared_run(
                lake,
                the_project,
                tables,
                runtime=runtime,
                ray_address=ray_address,
                num_cpus=num_cpus,
                flags=flags,
                config=config,
                config_file=config_file or "",
            ).registry
        except CliError as exc:
            raise CliError(f"the run would be refused: {exc}" if dry_run else str(exc)) from None
    picked: dict[str, str] = {}  # --missing's days, with why
    if missing:
        try:
            picked = missing_days(where, registry, tables, on_bad_file, say_why=dry_run)
            days = list(picked)
        except MissingUpstreamError as exc:  # --assets leaves out what the tables read
            leave = ", or leave --assets out" if assets is not None else ""
            raise CliError(f"{exc}{leave}") from None
        if not days and os.environ.get("DAGSTER_HOME"):  # an unmounted folder is no lake
            refused = other_lake(where, allow_other_lake)  # that is up to date
            if refused:
                raise CliError(refused)
        if not days:
            say(nothing_to_do(where))
            return
    chosen = [op for op in registry.operators if set(op.output_names) & set(tables)]
    if assets is not None and (stale := stale_upstream(where, registry, chosen, days, on_bad_file)):
        tell(
            f"note: {stale[0]}; the run computes its assets from what is committed now: leave "
            f"--assets out to compute {stale[1]} first"
        )
    if dry_run:
        refuse_days_without_raw_data(where, days)
        runs = stretches(days)
        spans = "; ".join(r[0] if len(r) == 1 else f"{r[0]} .. {r[-1]}" for r in runs)
        why = f"{reasons(picked)}\n" if picked else ""
        say(
            f"would materialize {len(days)} day(s) in {len(runs)} run(s): {spans}\n{why}"
            f"assets: {', '.join(tables)}\n"
            "nothing run (dry run); `explain TABLE` shows a day's plan"
        )
        refused = other_lake(where, allow_other_lake) or dry_run_refusal(
            where, registry, tables, days, on_bad_file, force
        )
        if refused:
            raise CliError(f"the run would be refused: {refused}")
        return
    run_days(
        lake,
        days,
        the_project,
        runtime=runtime,
        tables=tables,
        ray_address=ray_address,
        num_cpus=num_cpus,
        on_bad_file=on_bad_file,
        allow_other_lake=allow_other_lake,
        force=force,
        config=config,
        config_file=config_file or "",
    )


def other_lake(lake: "Lake", allow_other_lake: bool) -> str | None:
    """Why the run would refuse DAGSTER_HOME, or its instance a run against the lake."""
    try:
        home = dagster_home_setting("runs are recorded in a Dagster instance")
    except CliError as exc:
        return str(exc)
    if not os.path.isfile(os.path.join(home, "dagster.yaml")):  # the run makes the instance
        return None
    import dagster as dg

    from trajectory_assets.defs.instance import refusal

    with dg.DagsterInstance.get() as instance:
        return refusal(instance, lake.display(), allow_other_lake=allow_other_lake)


def run_days(
    lake_uri: str,
    days: list[str],
    the_project: "Project",
    *,
    runtime: str,
    tables: list[str],
    ray_address: str | None = None,
    num_cpus: int | None = None,
    on_bad_file: OnBadFile = "fail",
    allow_other_lake: bool = False,
    force: bool = False,
    config: "Mapping[str, Any] | None" = None,
    config_file: str = "",
    tags: "Mapping[str, str] | None" = None,
) -> None:
    """Materialize tables for the days, one Dagster run per stretch of consecutive days, in the
    DAGSTER_HOME instance; `tags` go on each run (a forget's, to know its own)."""
    import dagster as dg

    from trajectory_assets.cli.pool import this_process, wait_for_pool
    from trajectory_assets.defs.assets import POOL
    from trajectory_assets.defs.instance import LAKE_TAG, bind
    from trajectory_assets.defs.partitions import COMMAND_DAYS_TAG, days_tag
    from trajectory_assets.defs.stops import PROCESS_TAG
    from trajectory_assets.errors import OtherLakeError

    home = dagster_home(
        "runs are recorded in a Dagster instance; "
        "export DAGSTER_HOME=/some/folder (the Makefile uses .dagster_home)"
    )
    lake = open_lake(lake_uri, must_exist=True)
    refuse_days_without_raw_data(lake, days)
    assets, resources, run_config, registry = prepared_run(
        lake_uri,
        the_project,
        tables,
        runtime=runtime,
        ray_address=ray_address,
        num_cpus=num_cpus,
        flags={"on_bad_file": on_bad_file, "allow_other_lake": allow_other_lake, "force": force},
        config=config or {},
        config_file=config_file,
    )
    instance = run_instance(home)
    try:
        bind(instance, lake.display(), allow_other_lake=allow_other_lake)
    except OtherLakeError as exc:
        raise CliError(str(exc)) from None
    runs = stretches(sorted(days))
    # each run counts the others' days as written, so the command is refused unless all are
    refused = len(runs) > 1 and dry_run_refusal(lake, registry, tables, days, on_bad_file, force)
    if refused:
        raise CliError(f"refused: {refused}")
    job = command_job(the_project, assets, resources, tables)
    skipped: set[str] = set()
    failed_checks: list[str] = []
    failures: list[str] = []  # a failed stretch does not stop the others, as in a backfill
    done: list[str] = []
    for stretch in runs:
        say(
            f"materializing {len(tables)} asset(s) for {stretch[0]}"
            + (f" .. {stretch[-1]}" if len(stretch) > 1 else "")
            + f" on the {runtime} runtime, lake {lake.display()}"
        )
        started = time.perf_counter()
        run_tags = {**(tags or {}), LAKE_TAG: lake.display(), PROCESS_TAG: this_process()}
        if len(runs) > 1:
            run_tags[COMMAND_DAYS_TAG] = days_tag(runs)
        if len(stretch) > 1:
            run_tags["dagster/asset_partition_range_start"] = stretch[0]
            run_tags["dagster/asset_partition_range_end"] = stretch[-1]
        wait_for_pool(instance, POOL)
        run_id = str(uuid.uuid4())  # known before Dagster creates the run, for a Ctrl+C then
        try:
            result = job.execute_in_process(
                run_config=run_config,
                instance=instance,
                partition_key=stretch[0] if len(stretch) == 1 else None,
                raise_on_error=False,
                tags=run_tags,
                run_id=run_id,
            )
        except dg.DagsterInvalidConfigError as exc:  # a value of the wrong type in --config
            raise CliError(f"--config {config_file}: {exc}") from None
        except KeyboardInterrupt:  # while Dagster created the run or stored its end
            raise _stopped(instance, run_id, failed_checks) from None
        if not result.success:
            if interrupted(result):
                raise _stopped(instance, run_id, failed_checks)
            failures.append(f"run {result.run_id} failed: {failure_message(result)}")
            if stretch is not runs[-1]:
                say(f"run {result.run_id} failed (its error is shown at the end); going on")
            continue
        say(f"run {result.run_id} succeeded in {time.perf_counter() - started:.1f} s")
        skipped.update(skipped_files(result))
        failed_checks += check_failures(result.get_asset_check_evaluations())
        done += stretch
    if done:
        summary(lake, the_project, done, tables, sorted(skipped))
    for line in failed_checks:
        tell(line)
    if len(failures) == 1:
        raise CliError(failures[0])
    if failures:
        raise CliError(f"{len(failures)} runs failed:\n" + "\n".join(failures))
    errors = [line for line in failed_checks if line.startswith(f"{FAILED_CHECK} (ERROR)")]
    if errors:  # a failed WARN check is a warning: listed, but the command succeeds
        raise ChecksFailed(
            f"{len(errors)} asset check(s) of ERROR severity failed, listed above; the tables "
            "are committed and recorded: see the checks in the Dagster UI"
        )


def _stopped(instance: "dg.DagsterInstance", run_id: str, failed_checks: list[str]) -> Interrupted:
    """Ctrl+C: the run recorded Canceled, not Failure (stopped in its step), nor left Not
    started for good (stopped while Dagster created it), and what stays."""
    from trajectory_assets.defs.stops import STOPPED

    for line in failed_checks:  # of the stretches before, which did commit
        tell(line)
    run = instance.get_run_by_id(run_id)
    if run is None:
        return Interrupted("interrupted before Dagster created the run: nothing of it ran")
    if not run.is_finished:  # (one that ended as Dagster stored it keeps its end)
        instance.report_run_canceled(run, message=STOPPED)
    return Interrupted(
        f"interrupted: run {run_id} stopped; the days it committed stay committed and recorded, "
        "and the batches it finished are reused by the next run of the same days (without "
        "--force)"
    )
