"""The days a command of several runs tags each run with, as spans, read back day by day."""

from trajectory_assets.defs.partitions import days_of_tag, days_tag


def test_the_days_of_a_command_read_back_from_their_spans() -> None:
    runs = [
        ["2026-02-27", "2026-02-28", "2026-03-01"],
        ["2026-03-03"],
        ["2026-12-31", "2027-01-01"],
    ]
    assert days_tag(runs) == "2026-02-27..2026-03-01,2026-03-03,2026-12-31..2027-01-01"
    assert days_of_tag(days_tag(runs)) == tuple(day for run in runs for day in run)
    assert days_of_tag("") == ()
