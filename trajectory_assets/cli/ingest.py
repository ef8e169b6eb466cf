"""`trajectory-assets ingest --format FORMAT PATH... --lake URI [--app-id APP]`."""

import datetime as dt
from typing import TYPE_CHECKING, Any

import click

from trajectory_assets.cli.common import DAY, CliError, lake_option, say

if TYPE_CHECKING:
    from trajectory_assets.ingest.run import FileResult


def _formats() -> list[str]:
    from trajectory_assets.ingest.importers import IMPORTERS

    return sorted(IMPORTERS)


class ImportFormat(click.ParamType):
    """One of the importers' names, looked up when the option is used: importing the ingest
    library for every command (or for `--help`) would only slow them down."""

    name = "format"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "[" + "|".join(_formats()) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        known = _formats()
        if value not in known:
            self.fail(f"{value!r} is not one of {', '.join(known)}", param, ctx)
        return str(value)


@click.command(
    short_help="import trajectory files of a known format into the raw lake",
    help="Import trajectory files of a known format into the raw lake.\n\n"
    "Map files of one format onto SPEC.md raw events and write them under raw_events/. "
    "Folders are searched for files of the format. A file that cannot be parsed is "
    "reported and the others still import; importing a file again adds nothing.",
)
@click.option("--format", "fmt", type=ImportFormat(), required=True, help="the files' format")
@click.argument("paths", nargs=-1, required=True, metavar="PATH...")
@lake_option
@click.option("--app-id", help="app id of the imported sessions (default: the format)")
@click.option(
    "--synthetic-date",
    type=DAY,
    help="formats without timestamps (tau-bench, SWE-agent, OpenHands resolver output) get "
    "one second per event from this day instead of 1970-01-01, which is outside the daily "
    "partitions; importing again must use the same day to add nothing",
)
def ingest(
    fmt: str, paths: tuple[str, ...], lake: str, app_id: str | None, synthetic_date: str | None
) -> None:
    from trajectory_assets.ingest.run import ingest_files

    report = ingest_files(
        lake,
        fmt,
        list(paths),
        app_id,
        synthetic_day=dt.date.fromisoformat(synthetic_date) if synthetic_date else None,
        progress=_show,
    )
    if not report.files:
        raise CliError(f"no {fmt} files found in {', '.join(paths)}")
    days = report.days
    span = f"; days {days[0]} .. {days[-1]}" if days else ""
    say(
        f"imported {len(report.ok)} of {len(report.files)} file(s) as app {report.app_id}: "
        f"{report.sessions:,} session(s), {report.events_written:,} new event(s), "
        f"{report.events_skipped:,} already present{span}"
    )
    if "1970-01-01" in days:
        say(
            "note: events without timestamps in the source were placed on 1970-01-01, outside "
            "the daily partitions; import with --synthetic-date YYYY-MM-DD to place them on a "
            "day you materialize"
        )
    if report.failed:
        raise CliError(f"{len(report.failed)} file(s) could not be imported (see above)")


def _show(result: "FileResult") -> None:
    """A line per file as it is done: a large import takes a while."""
    if result.ok:
        note = f", {result.skipped:,} already present" if result.skipped else ""
        say(
            f"ok      {result.path}: {result.sessions:,} session(s), "
            f"{result.written:,} new event(s){note}"
        )
    else:
        say(f"FAILED  {result.path}: {result.reason}")
