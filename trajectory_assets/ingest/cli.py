"""`trajectory-assets ingest --format FORMAT PATH... --lake URI [--app-id APP]`."""

import argparse
import datetime as dt
import sys

from trajectory_assets.ingest.importers import IMPORTERS


def add_parser(sub: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    p = sub.add_parser(
        "ingest",
        help="import trajectory files of a known format into the raw lake",
        description=(
            "Map files of one format onto SPEC.md raw events and write them under raw_events/. "
            "Folders are searched for files of the format. A file that cannot be parsed is "
            "reported and the others still import; importing a file again adds nothing."
        ),
    )
    p.add_argument("--format", required=True, choices=sorted(IMPORTERS), dest="format")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    p.add_argument("--lake", required=True, help="lake root: a path or s3://bucket/prefix")
    p.add_argument("--app-id", help="app id of the imported sessions (default: the format)")
    p.add_argument(
        "--synthetic-date",
        type=_date,
        metavar="YYYY-MM-DD",
        help="formats without timestamps (tau-bench, SWE-agent, OpenHands resolver output) get "
        "one second per event from this day instead of 1970-01-01, which is outside the daily "
        "partitions; importing again must use the same day to add nothing",
    )
    p.set_defaults(func=cmd_ingest)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _cli_error() -> type[Exception]:
    """The CliError that `main()` catches: under `python -m trajectory_assets.cli` that module
    runs as `__main__`, and importing `trajectory_assets.cli` would give a second, uncaught class.
    Imported lazily: cli.py imports this module."""
    main = sys.modules.get("__main__")
    spec = getattr(main, "__spec__", None)
    if spec is not None and spec.name == "trajectory_assets.cli":
        return main.CliError  # type: ignore[union-attr, no-any-return]
    from trajectory_assets.cli import CliError

    return CliError


def cmd_ingest(args: argparse.Namespace) -> None:
    from trajectory_assets.ingest.run import FileResult, ingest_files

    CliError = _cli_error()

    def show(result: FileResult) -> None:
        if result.ok:
            note = f", {result.skipped:,} already present" if result.skipped else ""
            print(
                f"ok      {result.path}: {result.sessions:,} session(s), "
                f"{result.written:,} new event(s){note}",
                flush=True,
            )
        else:
            print(f"FAILED  {result.path}: {result.reason}", flush=True)

    report = ingest_files(
        args.lake,
        args.format,
        args.paths,
        args.app_id,
        synthetic_day=args.synthetic_date,
        progress=show,
    )
    if not report.files:
        raise CliError(f"no {args.format} files found in {', '.join(args.paths)}")
    days = report.days
    span = f"; days {days[0]} .. {days[-1]}" if days else ""
    print(
        f"imported {len(report.ok)} of {len(report.files)} file(s) as app {report.app_id}: "
        f"{report.sessions:,} session(s), {report.events_written:,} new event(s), "
        f"{report.events_skipped:,} already present{span}",
        flush=True,
    )
    if "1970-01-01" in days:
        print(
            "note: events without timestamps in the source were placed on 1970-01-01, outside "
            "the daily partitions; import with --synthetic-date YYYY-MM-DD to place them on a "
            "day you materialize",
            flush=True,
        )
    if report.failed:
        raise CliError(f"{len(report.failed)} file(s) could not be imported (see above)")
