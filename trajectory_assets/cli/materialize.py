"""`trajectory-assets materialize`: Tier B tables for some days, as one run in the Dagster instance.

The run goes through `dg.materialize` with the DAGSTER_HOME instance, so it is recorded like a
run launched from the UI: same assets, resources, checks and lineage.
"""

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from trajectory_assets.lake.delta import PartitionState
    from trajectory_assets.project import Project

from trajectory_assets.cli.common import (
    CliError,
    days_options,
    defs_option,
    lake_option,
    open_lake,
    project,
    resolve_days,
    runtime_option,
    say,
    split_list,
    tables_for,
)

DAY_WIDTH = 10  # a column of the per-day summary: a day, or a row count up to 9,999,999


@click.command(short_help="materialize Tier B assets through Dagster")
@lake_option
@defs_option
@days_options
@runtime_option
@click.option("--assets", help="comma-separated Tier B tables (default: all)")
@click.option("--ray-address", help="existing Ray cluster: auto or ray://host:port")
@click.option("--num-cpus", type=click.IntRange(min=1), help="CPUs of the embedded local Ray")
@click.option(
    "--on-bad-file",
    type=click.Choice(["fail", "skip"]),
    default="fail",
    show_default=True,
    help="an unreadable raw file fails the run, or is skipped and reported",
)
def materialize(
    lake: str,
    defs: tuple[str, ...],
    partition: str | None,
    date_from: str | None,
    date_to: str | None,
    runtime: str,
    assets: str | None,
    ray_address: str | None,
    num_cpus: int | None,
    on_bad_file: str,
) -> None:
    """Materialize Tier B assets through Dagster, recorded in the DAGSTER_HOME instance."""
    days = resolve_days(partition, date_from, date_to)
    if not days:
        raise CliError("give --partition DAY, or --from DAY and --to DAY")
    the_project = project(defs)
    run_days(
        lake,
        days,
        the_project,
        runtime=runtime,
        tables=tables_for(the_project.registry, split_list(assets)),
        ray_address=ray_address,
        num_cpus=num_cpus,
        on_bad_file=on_bad_file,
    )


def run_days(
    lake_uri: str,
    days: list[str],
    the_project: "Project",
    *,
    runtime: str,
    tables: list[str],
    ray_address: str | None = None,
    num_cpus: int | None = None,
    on_bad_file: str = "fail",
) -> None:
    """Materialize Tier B tables for consecutive days as one Dagster run in the local instance."""
    import dagster as dg

    from trajectory_assets.defs.partitions import DAILY
    from trajectory_assets.defs.resources import ComputeResource, LakeResource
    from trajectory_assets.lake.fs import S3_ENDPOINT_URL_ENV

    if not os.environ.get("DAGSTER_HOME"):
        raise CliError(
            "DAGSTER_HOME is not set: runs are recorded in a Dagster instance; "
            "export DAGSTER_HOME=/some/folder (the Makefile uses .dagster_home)"
        )
    valid = set(DAILY.get_partition_keys())
    outside = [d for d in days if d not in valid]
    if outside:
        raise CliError(
            f"day(s) {', '.join(outside)} are not daily partitions (they start at "
            f"{DAILY.start.date().isoformat()} and end yesterday, UTC); "
            "set TRAJECTORY_ASSETS_START_DATE for older data"
        )
    lake = open_lake(lake_uri, must_exist=True)
    os.makedirs(os.environ["DAGSTER_HOME"], exist_ok=True)
    instance = dg.DagsterInstance.get()
    resources = {
        "lake": LakeResource(root=lake_uri, s3_endpoint_url=os.environ.get(S3_ENDPOINT_URL_ENV)),
        "compute": ComputeResource(runtime=runtime, address=ray_address, num_cpus=num_cpus),  # type: ignore[arg-type]
    }
    partition: dict[str, object] = {}
    if len(days) == 1:
        partition["partition_key"] = days[0]
    else:
        partition["tags"] = {
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        }
    assets = the_project.assets()
    wanted = {dg.AssetKey(t) for t in tables}
    nodes = {
        a.node_def.name
        for a in assets
        if isinstance(a, dg.AssetsDefinition) and a.is_executable and set(a.keys) & wanted
    }
    run_config = {
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
        "ops": {name: {"config": {"on_bad_file": on_bad_file}} for name in nodes},
    }
    say(
        f"materializing {', '.join(tables)} for {days[0]}"
        + (f" .. {days[-1]}" if len(days) > 1 else "")
        + f" on the {runtime} runtime, lake {lake_uri}"
    )
    started = time.perf_counter()
    result = dg.materialize(
        assets,
        selection=dg.AssetSelection.assets(*tables),
        instance=instance,
        resources=resources,
        run_config=run_config,
        raise_on_error=False,
        **partition,  # type: ignore[arg-type]
    )
    if not result.success:
        raise CliError(f"run {result.run_id} failed: {_failure_message(result)}")
    say(f"run {result.run_id} succeeded in {time.perf_counter() - started:.1f} s")
    from trajectory_assets.lake.catalog import Catalog

    catalog = Catalog(lake, the_project.registry.tables)
    counts = {table: [_rows(catalog.state(table, day)) for day in days] for table in tables}
    for line in summary_lines(days, counts, shutil.get_terminal_size().columns):
        say(line)


def _failure_message(result: object) -> str:
    for event in result.get_step_failure_events():  # type: ignore[attr-defined]
        error = event.event_specific_data.error
        while error.cause is not None:
            error = error.cause
        return f"step {event.step_key}: {error.message.strip()}"
    return "see the run's logs in the Dagster UI"


def summary_lines(
    days: Sequence[str], counts: Mapping[str, Sequence[int | None]], width: int
) -> list[str]:
    """Rows per table and day (None: no committed day), one column per day while that fits in
    `width`; past that, one line per table with its days and total rows, so a month-long
    backfill still prints one screen wide."""
    name = max(len(t) for t in counts)
    if name + (2 + DAY_WIDTH) * len(days) <= width:
        lines = [f"{'table':<{name}}  " + "  ".join(f"{d:>{DAY_WIDTH}}" for d in days)]
        for table, rows in counts.items():
            cells = [f"{n:>{DAY_WIDTH},}" if n is not None else f"{'-':>{DAY_WIDTH}}" for n in rows]
            lines.append(f"{table:<{name}}  " + "  ".join(cells))
        return lines
    present = {t: [n for n in rows if n is not None] for t, rows in counts.items()}
    totals = {t: f"{sum(rows):,}" for t, rows in present.items()}
    total = max(len("rows"), *(len(text) for text in totals.values()))
    lines = [
        f"{len(days)} days, {days[0]} .. {days[-1]}",
        f"{'table':<{name}}  {'days':>5}  {'rows':>{total}}",
    ]
    for table, rows in present.items():
        lines.append(f"{table:<{name}}  {len(rows):>5}  {totals[table]:>{total}}")
    return lines


def _rows(state: "PartitionState | None") -> int | None:
    return state.rows if state is not None else None
