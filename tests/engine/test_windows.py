"""Which later days pool a day through a rolling window: as committed, or as loaded now."""

import datetime as dt
from pathlib import Path

import pytest

from tests.lakes import DAY1, DAY2, make_lake
from tests.runs import lake_catalog, run_all
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.windows import Pooling, pooling
from trajectory_assets.lake import delta_history, erase
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operator import Operator
from trajectory_assets.operators import OPERATORS, ModelComparisons

DAY3 = (dt.date.fromisoformat(DAY2) + dt.timedelta(days=1)).isoformat()


def _with(window_days: int) -> list[Operator]:
    return [
        ModelComparisons(window_days) if o.name == "model_comparisons" else o for o in OPERATORS
    ]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    """Three days; model_comparisons of the last two committed with a two-day window."""
    lake = make_lake(Path(tmp_path_factory.mktemp("windows")), days=3, sessions_per_day=10)
    run_all(lake, [DAY1], operators=OPERATORS)
    run_all(lake, [DAY2, DAY3], operators=_with(2))
    return lake


def test_the_days_whose_committed_window_reads_a_day(lake: Lake) -> None:
    """Loaded with a one-day window, the days committed with two still pool the day before."""
    loaded = Registry.build(OPERATORS)
    assert pooling(lake_catalog(lake), loaded, [DAY1], "fail") == Pooling(
        [DAY2], ["model_comparisons"]
    )
    assert pooling(lake_catalog(lake), loaded, [DAY2], "fail") == Pooling(
        [DAY3], ["model_comparisons"]
    )
    assert pooling(lake_catalog(lake), loaded, [DAY3], "fail") == Pooling([], [])
    assert pooling(lake_catalog(lake), loaded, [DAY1, DAY2], "fail") == Pooling(
        [DAY3], ["model_comparisons"]
    )


def test_the_days_whose_loaded_window_reads_a_day(lake: Lake) -> None:
    """Loaded with a three-day window: the days it would read back count too."""
    wider = Registry.build(_with(3))
    assert pooling(lake_catalog(lake), wider, [DAY1], "fail").days == [DAY2, DAY3]


def test_a_day_whose_window_the_log_no_longer_holds(tmp_path: Path) -> None:
    """An earlier forget purged the log: DAY3, committed with a two-day window, is not what the
    loaded one-day window computes, so it may read DAY2 and counts; DAY2, computed as loaded
    since, does not read DAY1."""
    lake = make_lake(tmp_path, days=3, sessions_per_day=10)
    run_all(lake, [DAY1, DAY2], operators=OPERATORS)
    run_all(lake, [DAY3], operators=_with(2))
    catalog = lake_catalog(lake)
    erase.purge_history(lake, catalog, [DAY1])  # every table's log: its current days' commits
    assert not [c for c in delta_history.commits(lake, "model_comparisons") if c.metadata]
    loaded = Registry.build(OPERATORS)
    assert pooling(lake_catalog(lake), loaded, [DAY2], "fail").days == [DAY3]
    assert pooling(lake_catalog(lake), loaded, [DAY1], "fail").days == [DAY3]  # who knows
    run_all(lake, [DAY3], operators=OPERATORS)
    assert pooling(lake_catalog(lake), loaded, [DAY1], "fail") == Pooling([], [])
