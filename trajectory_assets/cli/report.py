"""`trajectory-assets report`: where a day's report is."""

import click

from trajectory_assets.cli.common import (
    DAY,
    CliError,
    defs_option,
    lake_option,
    open_lake,
    project,
    say,
    tell,
)


@click.command(short_help="where a day's daily report is")
@lake_option
@defs_option
@click.option("--partition", type=DAY, required=True, help="the day")
def report(lake: str, defs: tuple[str, ...], partition: str) -> None:
    """Print where the day's report page and chart are (materialize daily_report to render
    them), and say when the day's tables changed since the page was drawn."""
    from trajectory_assets.defs.report import report_inputs
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.raw import list_days
    from trajectory_assets.lake.reports import current_report, read_record, report_files
    from trajectory_assets.report import REPORT_VERSION

    where = open_lake(lake, must_exist=True)
    files = report_files(partition)
    if not where.fs.exists(where.path(files.html)):
        if partition not in list_days(where):
            raise CliError(
                f"no report for {partition}: the lake has no raw data for that day "
                f"({where.display('raw_events')})"
            )
        raise CliError(
            f"no report for {partition} yet: trajectory-assets materialize --lake {lake} "
            f"--partition {partition} --assets daily_report"
        )
    say(f"page:  {where.display(files.html)}")
    say(f"chart: {where.display(files.png)}")
    catalog = Catalog(where, project(defs, where).registry.tables)
    if current_report(where, partition, report_inputs(catalog, partition)) is None:
        record = read_record(where, partition)
        drawn = record.get("drawn_at") if record is not None else None
        drawn = drawn or "at a time its record no longer says"
        version = record.get("version") if record is not None else None
        why = (
            "from other tables than the day's now (a rollback, a forget or a run since)"
            if version == REPORT_VERSION
            else f"by the report's version {version}, now {REPORT_VERSION}"
            if version is not None
            else "from other tables than the day's now, or by an earlier version of the report"
        )
        tell(
            f"warning: the page was drawn {drawn} {why}: trajectory-assets "
            f"materialize --lake {lake} --partition {partition} --assets daily_report draws it "
            "again"
        )
