"""Where the daily report of a day lives in the lake: `<lake>/reports/dt=<day>/report.html`
and `report.png`, replaced whole (each file in one write) when the day is rendered again, and
`report.json`, what they were drawn from: the table files (a digest), each table's version,
when and by which run, so the numbers of a page since replaced can be read again as of those
versions."""

import json
from dataclasses import dataclass
from typing import NamedTuple, NotRequired, TypedDict

from trajectory_assets.lake.fs import Lake, modified, write_file_atomic
from trajectory_assets.lake.layout import REPORTS


@dataclass(frozen=True)
class ReportFiles:
    """Paths relative to the lake root (`lake.display(path)` for a user, `lake.path` to open)."""

    html: str
    png: str
    record: str


class ReportRecord(TypedDict):
    """What a day's page was drawn from, so a run whose tables are as they were need not draw
    it again (drawing is most of the cost of a day with nothing to compute)."""

    inputs: str  # digest of the report's version and the table files it read
    summary: dict[str, str | int | float | None]  # the headline numbers shown in the UI
    tables: dict[str, int]  # each table's Delta version it was drawn from (`query --as-of`)
    drawn_at: str  # UTC, ISO: a page drawn again replaces the one before
    run_id: str  # the Dagster run that drew it
    version: NotRequired[int]  # the report's version (older records name none)


class DrawnPage(NamedTuple):
    """What a whole page's record says it was drawn from."""

    inputs: str
    version: int | None  # None: a record older than the field


def report_files(day: str) -> ReportFiles:
    folder = f"{REPORTS}/dt={day}"
    return ReportFiles(f"{folder}/report.html", f"{folder}/report.png", f"{folder}/report.json")


def write_report(lake: Lake, day: str, html: str, png: bytes, record: ReportRecord) -> ReportFiles:
    """The record goes first and is written again last: a page cut short by a crash has no
    record that says it is current."""
    files = report_files(day)
    if lake.fs.exists(lake.path(files.record)):
        lake.fs.rm(lake.path(files.record))
    write_file_atomic(lake, lake.path(files.png), png)
    write_file_atomic(lake, lake.path(files.html), html.encode())
    write_file_atomic(lake, lake.path(files.record), json.dumps(record).encode())
    return files


def current_report(lake: Lake, day: str, inputs: str) -> tuple[ReportRecord, bytes] | None:
    """The day's record and chart, when its page was drawn from `inputs` and is all there."""
    found = read_report(lake, day)
    return found if found is not None and found[0].get("inputs") == inputs else None


def read_report(lake: Lake, day: str) -> tuple[ReportRecord, bytes] | None:
    """The day's record and chart, when its page is all there."""
    files = report_files(day)
    record = read_record(lake, day)
    try:
        if record is None or not lake.fs.exists(lake.path(files.html)):
            return None
        return record, lake.fs.cat_file(lake.path(files.png))
    except FileNotFoundError:
        return None


def read_record(lake: Lake, day: str) -> ReportRecord | None:
    """What the day's page was drawn from; None when no readable record says it."""
    try:
        record: ReportRecord = json.loads(lake.fs.cat_file(lake.path(report_files(day).record)))
    except (FileNotFoundError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def drawn_from(lake: Lake) -> dict[str, DrawnPage]:
    """Each day whose page is all there (html, png, record), and the inputs its record names:
    one listing and one small read a page, in parallel (a year of pages on an object store)."""
    listed: dict[str, set[str]] = {}
    for path in lake.fs.find(lake.path(REPORTS)):
        folder, name = path.rstrip("/").split("/")[-2:]
        if folder.startswith("dt="):
            listed.setdefault(folder[3:], set()).add(name)
    whole = sorted(d for d, names in listed.items() if {"report.html", "report.png"} <= names)
    days = [d for d in whole if "report.json" in listed[d]]
    paths = [lake.path(report_files(d).record) for d in days]
    # cat_ranges: in parallel on an object store, and no path read as a glob (a lake `lk[1]`)
    read: list[bytes | BaseException] = lake.fs.cat_ranges(paths, None, None, on_error="return")
    found: dict[str, DrawnPage] = {}
    for day, data in zip(days, read, strict=True):
        if isinstance(data, BaseException):
            continue  # a record that cannot be read: the page is drawn again
        try:
            record = json.loads(data)
        except ValueError:
            continue
        if isinstance(record, dict) and isinstance(record.get("inputs"), str):
            version = record.get("version")
            found[day] = DrawnPage(record["inputs"], version if isinstance(version, int) else None)
    return found


def report_days(lake: Lake) -> dict[str, float]:
    """Each day with a page, and when the page was last written."""
    found = {}
    for info in lake.fs.find(lake.path(REPORTS), detail=True).values():
        folder, name = info["name"].rstrip("/").split("/")[-2:]
        if name == "report.html" and folder.startswith("dt="):
            found[folder[3:]] = modified(info)
    return found
