"""Purging history for `forget`: only tables whose log touched the forgotten days lose it."""

from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog, run_all
from trajectory_assets.lake import delta, delta_history, erase
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import Sessionize


def versions_kept(lake: Lake, name: str) -> list[int]:
    return sorted(c.version for c in delta_history.commits(lake, name))


def test_a_day_no_table_holds_purges_nothing(lake: Lake) -> None:
    run_all(lake, [DAY1])
    run_all(lake, [DAY2])
    before = versions_kept(lake, "sessions")
    assert before[0] == 0 and len(before) >= 3
    assert erase.purge_history(lake, lake_catalog(lake), ["1970-01-01"]) == []
    assert versions_kept(lake, "sessions") == before  # time travel still reaches version 0


def test_a_day_a_table_holds_purges_that_table(lake: Lake) -> None:
    run_all(lake, [DAY1])
    run_all(lake, [DAY2], operators=[Sessionize()])  # only sessionize's tables touch DAY2
    purged = erase.purge_history(lake, lake_catalog(lake), [DAY2])
    assert set(purged) == set(Sessionize().output_names)
    assert versions_kept(lake, "sessions")[0] > 0  # older entries cleaned up
    assert versions_kept(lake, "tool_stats")[0] == 0  # never held DAY2: history kept
    table = delta.open_table(lake, "sessions")
    assert table is not None and lake_catalog(lake).read("sessions", dt=DAY2).num_rows > 0


def test_rows_left_are_one_line_per_session_and_day_and_say_how_many_more() -> None:
    hits = [(DAY1, f"s{i:02}") for i in range(22)] + [(DAY1, "s00")]
    lines = erase._rows_found("turns", hits)
    assert lines[0] == f"turns: 2 row(s) of session s00 (dt={DAY1})"
    assert len(lines) == 21 and lines[-1] == "turns: and 2 more session day(s)"
