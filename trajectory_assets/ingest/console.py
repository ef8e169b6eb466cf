"""What a terminal shows of an import: a progress bar while it runs, tables when it is done.

Kept out of the library's core path: `run.ingest_files` only calls the two hooks a
`ProgressBar` provides, and rich is imported here, inside the functions, so importing the
ingest package never loads it.
"""

import os
from types import TracebackType
from typing import TYPE_CHECKING, Any

from trajectory_assets.errors import shown
from trajectory_assets.ingest.run import FileResult, IngestReport, apps_of, file_size

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text


class ProgressBar:
    """A rich progress bar over the bytes of the files to import, with the file count.

        with ProgressBar(console) as bar:
            report = ingest_files(lake, "auto", paths, planned=bar.planned, progress=bar.progress)

    Failed files are printed above the bar as they happen, so a long import shows them early
    (also with `enabled=False`, which only hides the bar: for logs and pipes).
    """

    def __init__(
        self, console: "Console | None" = None, *, transient: bool = True, enabled: bool = True
    ) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]ingest[/]"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[done]}/{task.fields[total_files]} files"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[current]}", style="dim"),  # the file just done
            console=console,
            transient=transient,
            disable=not enabled,
        )
        self._task: Any = None
        self._done = 0

    def __enter__(self) -> "ProgressBar":
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()

    def planned(self, paths: list[str]) -> None:
        total = sum(file_size(p) for p in paths)
        self._task = self._progress.add_task(
            "ingest", total=max(total, 1), done=0, total_files=len(paths), current=""
        )

    def progress(self, result: FileResult) -> None:
        self._done += 1
        if result.status == "failed":
            from rich.text import Text

            line = Text.assemble(("FAILED", "red"), shown(f"  {result.path}: {result.reason}"))
            self._progress.console.print(line, soft_wrap=True)
        if self._task is not None:
            self._progress.update(
                self._task,
                advance=result.size,
                done=self._done,
                current=os.path.basename(result.path)[-28:],
            )


def summary_table(report: IngestReport) -> "Table":
    """One row per format: files imported, skipped and failed, sessions, events written."""
    from rich.table import Table

    table = Table(title="ingest summary", title_justify="left")
    table.add_column("format", overflow="fold")
    table.add_column("app", overflow="fold")
    for name in ("imported", "skipped", "failed", "sessions", "new events", "already present"):
        table.add_column(name, justify="right", no_wrap=True)
    groups: dict[str, list[FileResult]] = {}
    for f in report.files:
        groups.setdefault(f.format or "(not a log)", []).append(f)
    for name, files in sorted(groups.items()):
        table.add_row(*_row(name, files))
    if len(groups) > 1:
        table.add_section()
        table.add_row(*_row("total", report.files), style="bold")
    return table


def _row(name: str, files: list[FileResult]) -> list["Text | str"]:
    from rich.text import Text

    return [
        name,
        Text(shown(", ".join(apps_of(files)))),  # app ids are the user's: no markup
        f"{sum(f.status == 'imported' for f in files):,}",
        f"{sum(f.status == 'skipped' for f in files):,}",
        f"{sum(f.status == 'failed' for f in files):,}",
        f"{len(frozenset().union(*(f.sessions for f in files))):,}",  # one split over files: once
        f"{sum(f.written for f in files):,}",
        f"{sum(f.skipped for f in files):,}",
    ]


def problems_table(report: IngestReport) -> "Table | None":
    """The files that were skipped or failed, with the reason; None when there are none."""
    from rich.table import Table
    from rich.text import Text

    rows = [f for f in report.files if f.status != "imported"]
    if not rows:
        return None
    table = Table(title="not imported", title_justify="left")
    table.add_column("file", overflow="fold")
    table.add_column("", justify="left")
    table.add_column("reason", overflow="fold")
    for f in rows:
        status = Text("failed", "red") if f.status == "failed" else Text("skipped")
        table.add_row(Text(shown(f.path)), status, Text(shown(f.reason)))
    return table
