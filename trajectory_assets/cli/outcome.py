"""What a finished `materialize` run tells the person who ran it: rows per table and day, the
raw files it skipped, its failed checks, and why it failed, each in a line or a short table."""

import shutil
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from trajectory_assets.cli.common import REPORT, plain_chain, say
from trajectory_assets.cli.store_advice import delta_store_message
from trajectory_assets.errors import first_few

if TYPE_CHECKING:
    import dagster as dg
    from dagster._utils.error import SerializableErrorInfo  # the type of a step's error

    from trajectory_assets.lake.delta import PartitionState
    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.project import Project

DAY_WIDTH = 10  # a column of the per-day summary: a day, or a row count up to 9,999,999
SHOWN_SKIPPED = 20  # skipped raw files listed in the summary; the metadata has them all


def summary(
    lake: "Lake",
    the_project: "Project",
    days: Sequence[str],
    tables: Sequence[str],
    skipped: Sequence[str],
) -> None:
    """Rows per table and day, the skipped raw files, and where the days' reports are."""
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.reports import report_files

    catalog = Catalog(lake, the_project.registry.tables)
    counts = {
        table: [_rows(catalog.state(table, day)) for day in days]
        for table in tables
        if table != REPORT
    }
    if counts:
        for line in summary_lines(days, counts, shutil.get_terminal_size().columns):
            say(line)
    if skipped:
        say(f"skipped {len(skipped)} unreadable raw file(s) (--on-bad-file skip):")
        for line in skipped[:SHOWN_SKIPPED]:
            say(f"  {line}")
        if len(skipped) > SHOWN_SKIPPED:
            say(f"  ... and {len(skipped) - SHOWN_SKIPPED} more (the run's metadata lists all)")
    if REPORT in tables:
        pages = [lake.display(report_files(day).html) for day in days]
        say(f"daily report: {pages[-1]}" if len(pages) == 1 else f"daily reports: {pages[0]} ..")
        if len(pages) > 1:
            say(f"  .. {pages[-1]}")


def skipped_files(result: "dg.ExecuteInProcessResult") -> set[str]:
    """The `path: reason` lines of the skipped raw files, from the run's materializations."""
    from trajectory_assets.lake.mentions import unescaped

    found: set[str] = set()
    for event in result.get_asset_materialization_events():
        text = event.materialization.metadata.get("skipped_files")
        if text is not None:
            lines = str(text.value).splitlines()
            found.update(unescaped(line.removeprefix("- ")) for line in lines)
    return found


FAILED_CHECK = "check failed"


def check_failures(evaluations: Iterable["dg.AssetCheckEvaluation"]) -> list[str]:
    """A line per failed check (an evaluation per day): its severity, asset, name, failed days
    (the first few) and the first day's detail."""
    failed: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for evaluation in evaluations:
        if not evaluation.passed:
            check = (evaluation.severity.value, evaluation.asset_key.to_user_string())
            failed.setdefault((*check, evaluation.check_name), []).append(
                (evaluation.partition or "the run", _detail(evaluation))
            )
    lines = []
    for (severity, table, name), days in failed.items():
        days.sort()
        named = first_few([d for d, _ in days])
        detail = f": {days[0][1]}" if days[0][1] else ""
        lines.append(f"{FAILED_CHECK} ({severity}): {table} {name} on {named}{detail}")
    return lines


def _detail(evaluation: "dg.AssetCheckEvaluation") -> str:
    """What the check says of its failure: our checks' `detail`; a check of one's own may give
    a description or other metadata instead (its line ended in an empty `: `)."""
    detail = evaluation.metadata.get("detail")
    if detail is not None:
        return str(detail.value)
    if evaluation.description:
        return evaluation.description
    return ", ".join(f"{k} {v.value}" for k, v in evaluation.metadata.items())


def interrupted(result: "dg.ExecuteInProcessResult") -> bool:
    from trajectory_assets.defs.stops import STOPS

    stops = {kind.__name__ for kind in STOPS}
    return any(
        event.step_failure_data.error is not None
        and event.step_failure_data.error.cls_name in stops
        for event in result.get_step_failure_events()
    )


def failure_message(result: "dg.ExecuteInProcessResult") -> str:
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        if error is None:
            break
        return f"step {event.step_key}: {error_text(error)}"
    return "see the run's logs in the Dagster UI"


def error_text(error: "SerializableErrorInfo") -> str:
    """What the innermost error of a chain that says anything says: Ray Data raises a worker's
    death `from SystemException()`, a cause with no message, whose name alone told nothing; a
    file gone says so beside its path."""
    said, name, kind = "", "", ""
    cause: SerializableErrorInfo | None = error
    while cause is not None:
        text, name = cause.message.strip(), cause.cls_name or ""
        if name and f"{name}: " in text:  # "dagster._core....Failure: what happened"
            text = text.split(f"{name}: ", 1)[1].strip()
        elif name and text.endswith(name):  # its name alone
            text = ""
        said, kind = (text, name) if text else (said, kind)
        cause = cause.cause
    if kind == "FileNotFoundError" and " " not in said:  # pyarrow's: the path alone
        return f"a file the run needed is gone (deleted during the run?): {said}"
    if "↳" in said or "\x1b[" in said:  # Delta Lake's Rust chain, in terminal colours
        said = plain_chain(said)
    return delta_store_message(said) or said or name or "an error"


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
