"""Which report pages are whole, and what each was drawn from: read by `--missing` for a year
of pages, so one listing and one small read a page."""

import json
from pathlib import Path

from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.reports import DrawnPage, ReportRecord, drawn_from, write_report


def _record(inputs: str) -> ReportRecord:
    return ReportRecord(inputs=inputs, summary={}, tables={}, drawn_at="", run_id="r", version=8)


def test_only_whole_pages_with_a_record_name_their_inputs(tmp_path: Path) -> None:
    tmp_path = tmp_path / "lake[1]"  # a lake's name is no glob pattern: `cat` read it as one
    lake = Lake(str(tmp_path))
    for day in ("2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04", "2026-11-05"):
        write_report(lake, day, "<html>", b"png", _record(f"inputs of {day}"))
    older = tmp_path / "reports" / "dt=2026-11-05" / "report.json"  # drawn before records
    older.write_text(json.dumps({"inputs": "older inputs"}))  # named their version
    (tmp_path / "reports" / "dt=2026-11-02" / "report.png").unlink()  # a page cut short
    (tmp_path / "reports" / "dt=2026-11-03" / "report.json").write_text("{not json")
    (tmp_path / "reports" / "dt=2026-11-04" / "report.json").write_text(json.dumps([1]))
    assert drawn_from(lake) == {
        "2026-11-01": DrawnPage("inputs of 2026-11-01", 8),
        "2026-11-05": DrawnPage("older inputs", None),
    }
    assert drawn_from(Lake(str(tmp_path / "no_reports"))) == {}
