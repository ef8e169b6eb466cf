"""`trajectory-assets report`: where a day's report is."""

import click

from trajectory_assets.cli.common import DAY, CliError, lake_option, open_lake, say


@click.command(short_help="where a day's daily report is")
@lake_option
@click.option("--partition", type=DAY, required=True, help="the day")
def report(lake: str, partition: str) -> None:
    """Print where the day's report page and chart are (materialize daily_report to render
    them)."""
    from trajectory_assets.lake.raw import list_days
    from trajectory_assets.lake.reports import report_files

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
