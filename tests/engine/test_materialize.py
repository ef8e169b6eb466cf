"""A materialization over days: days without raw data, and what a range run says of the days
it leaves as they are."""

from pathlib import Path

import pytest

from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog, run_operator, table_opens
from trajectory_assets.engine.materialize import run_operators
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.errors import MissingUpstreamError
from trajectory_assets.lake import snapshots
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators.sessionize import Sessionize


def test_a_day_without_raw_data_is_refused_and_an_empty_day_folder_materializes(
    lake: Lake,
) -> None:
    """No raw folder is no data yet (a late delivery, a day still to come): a run of such days
    alone would show them materialized, empty, so it is refused. In a range with data on other
    days they are committed empty, and said so, rather than failing the whole range. A folder
    without files is a day without sessions."""
    with pytest.raises(MissingUpstreamError, match=r"no raw data for 2020-01-01 in .*raw_events"):
        run_operator(Sessionize(), lake, ["2020-01-01"], InlineRuntime())
    assert lake_catalog(lake).days("sessions") == []
    lines: list[str] = []
    run_operators(
        [Sessionize()], lake, ["2020-01-01", DAY1], InlineRuntime(), progress=lines.append
    )
    assert lake_catalog(lake).days("sessions") == ["2020-01-01", DAY1]
    assert any(
        line.startswith("no raw data for 2020-01-01 in ")
        and line.endswith(": committed as days without events")
        for line in lines
    )
    Path(lake.path("raw_events", "dt=2020-01-02")).mkdir()
    run_operator(Sessionize(), lake, ["2020-01-02"], InlineRuntime())
    assert lake_catalog(lake).read("sessions", dt="2020-01-02").num_rows == 0


def test_a_range_run_names_the_days_it_leaves_as_up_to_date(lake: Lake) -> None:
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime())
    lines: list[str] = []
    run_operators([Sessionize()], lake, [DAY1, DAY2], InlineRuntime(), progress=lines.append)
    (planned,) = [line for line in lines if " to run) for " in line]
    assert planned.startswith("2 day(s): ") and planned.endswith(f"; up to date: {DAY1}")


def test_days_a_run_leaves_as_they_are_cost_no_snapshot_each(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each up-to-date day opened its tables again and read every file's stats: a range run
    over a year of days already up to date took the square of its days (0.6 s a day and
    operator at 400 days), computing nothing."""
    run_operators([Sessionize()], lake, [DAY1, DAY2], InlineRuntime())
    snapshots.clear()  # every table loaded anew by this run
    opened = table_opens(monkeypatch)
    result = run_operators([Sessionize()], lake, [DAY1, DAY2], InlineRuntime())
    assert all(day.up_to_date for day in result.operators["sessionize"].days.values())
    assert sorted(set(opened)) == sorted(opened) == sorted(Sessionize.output_names)  # once
