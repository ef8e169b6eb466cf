"""Where the daily report of a day lives in the lake: `<lake>/reports/dt=<day>/report.html`
and `report.png`, replaced whole (each file in one write) when the day is rendered again."""

from dataclasses import dataclass

from trajectory_assets.lake.fs import Lake, modified, write_file_atomic

REPORTS = "reports"


@dataclass(frozen=True)
class ReportFiles:
    """Paths relative to the lake root (`lake.display(path)` for a user, `lake.path` to open)."""

    html: str
    png: str


def report_files(day: str) -> ReportFiles:
    folder = f"{REPORTS}/dt={day}"
    return ReportFiles(f"{folder}/report.html", f"{folder}/report.png")


def write_report(lake: Lake, day: str, html: str, png: bytes) -> ReportFiles:
    files = report_files(day)
    write_file_atomic(lake, lake.path(files.png), png)
    write_file_atomic(lake, lake.path(files.html), html.encode())
    return files


def report_days(lake: Lake) -> dict[str, float]:
    """Each day with a page, and when the page was last written."""
    found = {}
    for info in lake.fs.find(lake.path(REPORTS), detail=True).values():
        folder, name = info["name"].rstrip("/").split("/")[-2:]
        if name == "report.html" and folder.startswith("dt="):
            found[folder[3:]] = modified(info)
    return found
