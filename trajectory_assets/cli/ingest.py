"""`trajectory-assets ingest PATH... --lake URI [--format auto|FORMAT] [--app-id APP]`."""

import datetime as dt
import shlex
import sys
from typing import TYPE_CHECKING, Any

import click

from trajectory_assets.cli.common import DAY, CliError, forget_command, open_lake, say, tell

if TYPE_CHECKING:
    from trajectory_assets.ingest.run import IngestReport

AUTO = "auto"
SHOWN_NOTES = 10


def _formats() -> list[str]:
    from trajectory_assets.ingest.importers import IMPORTERS

    return [AUTO, *sorted(IMPORTERS)]


class ImportFormat(click.ParamType):
    """`auto` or one of the importers' names, looked up when the option is used: importing the
    ingest library for every command (or for `--help`) would only slow them down."""

    name = "format"

    def get_metavar(self, param: click.Parameter, ctx: click.Context) -> str:
        return "[" + "|".join(_formats()) + "]"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        known = _formats()
        if value not in known:
            self.fail(f"{value!r} is not one of {', '.join(known)}", param, ctx)
        return str(value)


@click.command(
    short_help="import trajectory files and folders into the raw lake",
    help="Import trajectory files and folders into the raw lake.\n\n"
    "Map each file onto raw events (Tier A: the raw_events columns of docs/tables.md) and "
    "write them under raw_events/. Folders are "
    "searched recursively. With --format auto (the default) each file's format is read from "
    "its content, and files that are no log of a known format (an eval-set's logs.json, a "
    "README) are listed as skipped; with a format, folders give their files of that format. "
    "A file that cannot be parsed is reported and the others still import; a file's invalid "
    "lines are kept aside with the reasons under LAKE/_rejected/ingest/ and its valid events "
    "import; importing a file again adds nothing. The last line is the command that "
    "materializes the imported days.",
)
@click.argument("paths", nargs=-1, required=True, metavar="PATH...", type=click.Path(exists=True))
@click.option("--lake", required=True, help="lake root: a path or s3://bucket/prefix")
@click.option(
    "--format",
    "fmt",
    type=ImportFormat(),
    default=AUTO,
    show_default=True,
    help="the files' format, or auto to read it from each file",
)
@click.option(
    "--app-id",
    help="app id of the imported sessions (default: each file's format; OTel spans: their "
    "service.name, as serve files them)",
)
@click.option(
    "--synthetic-date",
    type=DAY,
    help="formats without timestamps (tau-bench, SWE-agent, OpenHands resolver output) get "
    "one second per event from this day instead of 1970-01-01, which is outside the daily "
    "partitions; importing again must use the same day to add nothing",
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="a progress bar on stderr (default: when stderr is a terminal)",
)
def ingest(
    paths: tuple[str, ...],
    lake: str,
    fmt: str,
    app_id: str | None,
    synthetic_date: str | None,
    progress: bool | None,
) -> None:
    from rich.console import Console

    from trajectory_assets.ingest.console import ProgressBar
    from trajectory_assets.ingest.run import ingest_files

    if app_id is not None and not app_id.strip():
        raise CliError("--app-id is empty: give an app id, or leave the option out")
    open_lake(lake, must_exist=False)
    day = dt.date.fromisoformat(synthetic_date) if synthetic_date else None
    errors = Console(stderr=True)
    show_bar = errors.is_terminal if progress is None else progress
    with ProgressBar(errors, transient=True, enabled=show_bar) as bar:
        report = ingest_files(
            lake,
            fmt,
            list(paths),
            app_id,
            synthetic_day=day,
            planned=bar.planned,
            progress=bar.progress,
        )
    if not report.files:
        what = "files" if fmt == AUTO else f"{fmt} files"
        raise CliError(f"no {what} found in {', '.join(paths)}")
    _summary(report, lake, placed=day is not None)
    if report.failed:
        raise CliError(f"{len(report.failed)} file(s) could not be imported (see above)")
    if not report.ok:
        what = "log of a known format" if fmt == AUTO else f"{fmt} file"  # others were skipped
        raise CliError(f"no {what} in {', '.join(paths)} (see above)")


def _summary(report: "IngestReport", lake: str, *, placed: bool) -> None:
    """The tables, a line of totals, and the command to materialize what was imported
    (`placed`: --synthetic-date was given)."""
    from rich.console import Console

    from trajectory_assets.ingest.console import problems_table, summary_table

    out = Console(file=sys.stdout, width=None if sys.stdout.isatty() else 120)
    out.print(summary_table(report))
    problems = problems_table(report)
    if problems is not None:
        out.print(problems)
    days = report.days
    span = f"; days {days[0]} .. {days[-1]}" if days else ""
    apps = ", ".join(report.apps) or report.app_id or "-"
    say(
        f"imported {len(report.ok)} of {len(report.files)} file(s) as app {apps}: "
        f"{report.sessions:,} session(s), {report.events_written:,} new event(s), "
        f"{report.events_skipped:,} already present{span}"
    )
    _left_out(report)
    if report.rejected:
        path, reason = report.rejected[0]
        files = len({p for p, _ in report.rejected})
        tell(
            f"warning: {len(report.rejected):,} invalid line(s) or event(s) in {files} file(s) "
            f"were not imported; they are kept with the reason under "
            f"{lake.rstrip('/')}/_rejected/ingest/ (first: {path}: {reason})"
        )
    if report.changed:
        path, line = report.changed[0]
        sessions = report.changed_sessions
        named = ", ".join(f"{app}/{session}" for app, session in sessions[:3])
        more = f" and {len(sessions) - 3:,} more" if len(sessions) > 3 else ""
        tell(
            f"warning: {len(report.changed):,} event(s) of the lake's copy differ from the "
            f"files' (or are no longer read from them), in {len(sessions):,} session(s) "
            f"({named}{more}; first: {line}, from {path}); an event id is written once, so the "
            f"lake keeps its copy: to replace them, forget their sessions "
            f"({_forget_command(lake, sessions)}) and ingest again"
        )
    app = shlex.quote(report.apps[0]) if len(report.apps) == 1 else "APP"  # the one written to
    forget = forget_command(lake, app, "--before 1970-01-02 --yes")
    if "1970-01-01" in days:
        tell(
            "note: events without timestamps in the source were placed on 1970-01-01, outside "
            "the daily partitions; to place them on a day you materialize, remove them "
            f"({forget}) and import again with --synthetic-date YYYY-MM-DD"
        )
    if placed and report.ok and report.events_skipped and not report.events_written:
        tell(
            "note: nothing new was written: these events are already in the lake, where an "
            "earlier import placed them, and --synthetic-date places new events only; if that "
            f"was on 1970-01-01, remove them first ({forget})"
        )
    _cover(lake, days)
    command = report.materialize_command(lake)
    if command:
        say(f"materialize with: {command}")


def _forget_command(lake: str, sessions: list[tuple[str, str]]) -> str:
    """The forget of the sessions, ready to run when they are a few of one app; else its form
    (`--session-id` repeated)."""
    apps = {app for app, _ in sessions}
    if len(apps) == 1 and len(sessions) <= 10:
        ids = " ".join(f"--session-id {shlex.quote(session)}" for _, session in sessions)
        return forget_command(lake, shlex.quote(next(iter(apps))), ids)
    return forget_command(lake, "APP", "--session-id S1 --session-id S2 ..., per app")


def _left_out(report: "IngestReport") -> None:
    """What imported files left out that may have held events, a line each (the first few)."""
    notes = [f"{f.path}: {note}" for f in report.ok for note in f.left_out]
    for note in notes[:SHOWN_NOTES]:
        tell(f"note: {note}")
    if len(notes) > SHOWN_NOTES:
        tell(f"note: and {len(notes) - SHOWN_NOTES} more such note(s)")


def _cover(lake: str, days: list[str]) -> None:
    """Move the lake's first partition back to the earliest day imported, if earlier."""
    from trajectory_assets.lake.config import cover_days
    from trajectory_assets.lake.fs import lake_from_env
    from trajectory_assets.lake.layout import UNTIMED_DAY

    timed = [d for d in days if d != UNTIMED_DAY]
    if timed:
        cover_days(lake_from_env(lake), timed)
