"""Which later days pool a day through a rolling window: as committed, or as loaded now."""

import datetime as dt
import json
from pathlib import Path

import pytest
from deltalake import DeltaTable

from tests.lakes import DAY1, DAY2, make_lake
from tests.runs import lake_catalog, run_all
from trajectory_assets.engine.committed import other_parameters
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.windows import Pooling, pooling
from trajectory_assets.lake import delta_commit, delta_history, erase_purge
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


def test_a_forgets_purge_keeps_how_each_day_was_made(tmp_path: Path) -> None:
    """The purge of a forget removes the log's entries but keeps each current day's commit:
    DAY3's two-day window is still known (a later forget computes it with its own window)."""
    lake = make_lake(tmp_path, days=3, sessions_per_day=10)
    run_all(lake, [DAY1, DAY2], operators=OPERATORS)
    run_all(lake, [DAY3], operators=_with(2))
    erase_purge.purge_history(lake, lake_catalog(lake), [DAY1])
    catalog, loaded = lake_catalog(lake), Registry.build(OPERATORS)
    assert other_parameters(catalog, loaded, [DAY1, DAY2, DAY3]) == {
        DAY3: {"model_comparisons": {"window_days": 2}}
    }
    assert pooling(catalog, loaded, [DAY1], "fail") == Pooling([], [])
    assert pooling(catalog, loaded, [DAY2], "fail").days == [DAY3]
    audit = delta_history.operator_commits(lake, "sessions", [DAY2])[DAY2].audit
    assert audit is not None and audit["raw_rows"] > 0  # the checks' counts, for sync and all
    # DAY3 computed again, then rolled back to before that: the purge's record says how again
    run_all(lake, [DAY3], operators=_with(3))
    spec = lake_catalog(lake).get("model_comparisons")
    delta_commit.restore_day(lake, spec, DAY3, {})
    (back,) = delta_history.operator_commits(lake, "model_comparisons", [DAY3]).values()
    assert json.loads(back.metadata["operator_params"]) == {"window_days": 2}


def test_a_day_whose_window_the_log_no_longer_holds(tmp_path: Path) -> None:
    """Delta's own log clean-up took DAY3's commit: committed with a two-day window, it is not
    what the loaded one-day window computes, so it may read any earlier day and counts."""
    lake = make_lake(tmp_path, days=3, sessions_per_day=10)
    run_all(lake, [DAY1, DAY2], operators=OPERATORS)
    run_all(lake, [DAY3], operators=_with(2))
    table = DeltaTable(lake.path("model_comparisons"))
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
    table.create_checkpoint()
    table.cleanup_metadata()
    assert not delta_history.operator_commits(lake, "model_comparisons", [DAY3])
    loaded = Registry.build(OPERATORS)
    assert pooling(lake_catalog(lake), loaded, [DAY1], "fail").days == [DAY3]
    run_all(lake, [DAY3], operators=OPERATORS)
    assert pooling(lake_catalog(lake), loaded, [DAY1], "fail") == Pooling([], [])
