"""A rolling window (`lookback_days`): day D reads the committed earlier days of its input, and
they are part of D's lineage."""

from dataclasses import replace
from functools import partial
from pathlib import Path

import pyarrow as pa
import pytest

from tests.lakes import DAY1, DAY2, make_lake
from tests.operators.builders import run_two_phase
from tests.runs import lake_catalog, run_all
from trajectory_assets.engine.registry import Registry
from trajectory_assets.errors import DefinitionError
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS, ModelComparisons
from trajectory_assets.operators.model_comparisons import MODEL_COMPARISONS_TABLE
from trajectory_assets.operators.session_tables import SESSIONS

KEYS = ["benchmark", "model_a", "model_b"]


def _with(op: ModelComparisons) -> list:
    return [op if o.name == op.name else o for o in OPERATORS]


def _sorted(table: pa.Table) -> list[dict]:
    return table.sort_by([(k, "ascending") for k in KEYS]).to_pylist()


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    return make_lake(Path(tmp_path_factory.mktemp("window")), days=2, sessions_per_day=90)


def test_a_two_day_window_pools_both_days_in_one_run(lake: Lake) -> None:
    run_all(lake, [DAY1, DAY2], operators=_with(ModelComparisons(window_days=2)))
    catalog = lake_catalog(lake)
    both = catalog.read("sessions", dt_from=DAY1, dt_to=DAY2).cast(SESSIONS)
    day2 = catalog.read("sessions", dt=DAY2).cast(SESSIONS)
    pooled = run_two_phase(ModelComparisons(window_days=2), "sessions", both, day=DAY2)
    alone = run_two_phase(ModelComparisons(), "sessions", day2, day=DAY2)
    assert pooled.num_rows > 0 and _sorted(pooled) != _sorted(alone)  # the window matters here
    committed = catalog.read("model_comparisons", dt=DAY2)
    assert _sorted(committed) == _sorted(pooled.cast(committed.schema))


def test_an_earlier_day_of_the_window_is_part_of_the_lineage(lake: Lake) -> None:
    from trajectory_assets.engine.lineage import day_keys

    catalog = lake_catalog(lake)
    ops = Registry.build(_with(ModelComparisons(window_days=2))).operators
    windowed = next(op for op in ops if op.name == "model_comparisons")
    before = day_keys([windowed], catalog, DAY2, [], "fail").keys[windowed.name]
    # recomputing day 1's sessions with another parameter gives day 1 another attempt
    sessionize = next(op for op in OPERATORS if op.name == "sessionize")
    changed = sessionize.configure(identical_run_threshold=5)
    run_all(lake, [DAY1], operators=[o if o is not sessionize else changed for o in OPERATORS])
    after = day_keys([windowed], lake_catalog(lake), DAY2, [], "fail").keys[windowed.name]
    assert before != after
    one_day = next(o for o in OPERATORS if o.name == "model_comparisons")
    plain = day_keys([one_day], lake_catalog(lake), DAY2, [], "fail").keys[one_day.name]
    assert plain == day_keys([one_day], catalog, DAY2, [], "fail").keys[one_day.name]


def test_a_window_over_raw_events_is_refused() -> None:
    class RawWindow(ModelComparisons):
        name = "raw_window"
        inputs = ("raw_events",)
        outputs = (replace(MODEL_COMPARISONS_TABLE, name="raw_window"),)

    op = RawWindow(window_days=3)
    with pytest.raises(DefinitionError, match="rolling window"):
        Registry.build([op], OPERATORS)


def test_a_window_over_days_its_input_lacks_is_refused_not_computed_in_part(
    tmp_path: Path,
) -> None:
    """Day 2's two-day window, day 1's sessions never materialized though its raw data is
    there: the window was computed from day 2 alone, without a word. Before the lake's first
    partition there is nothing to materialize, and the window is shorter."""
    from trajectory_assets.engine.materialize import run_operators
    from trajectory_assets.engine.runtimes.inline import InlineRuntime
    from trajectory_assets.engine.settings import RunSettings
    from trajectory_assets.errors import MissingUpstreamError

    lake = make_lake(tmp_path, days=2, sessions_per_day=20)
    window = ModelComparisons(window_days=2)
    others = [op for op in OPERATORS if op.name != window.name]
    run_all(lake, [DAY2], operators=others)
    registry = Registry.build(_with(window))
    run = partial(run_operators, [window], lake, [DAY2], InlineRuntime(), registry=registry)
    with pytest.raises(MissingUpstreamError) as refused:
        run(settings=RunSettings(first_day=DAY1))
    assert str(refused.value) == (
        f"model_comparisons dt={DAY2} reads sessions of its 2-day window, {DAY1} to {DAY2}, and "
        f"sessions has not been materialized for {DAY1}, whose raw data is in the lake: "
        "materialize sessions for them first (`materialize --missing` does both)"
    )
    assert lake_catalog(lake).state("model_comparisons", DAY2) is None
    run(settings=RunSettings(first_day=DAY2))  # day 1 is before the lake's partitions
    assert lake_catalog(lake).state("model_comparisons", DAY2) is not None


def test_late_data_on_an_earlier_day_makes_the_windows_that_read_it_stale_at_once(
    tmp_path: Path,
) -> None:
    """One `--missing` after late data on day 1 computed day 1 again and left day 2's two-day
    window computed from day 1's old sessions: only a second `--missing` found it."""
    import shutil

    from trajectory_assets.engine.explain import why_stale
    from trajectory_assets.engine.lineage import stale_days

    lake = make_lake(tmp_path / "lake", days=2, sessions_per_day=30)
    operators = _with(ModelComparisons(window_days=2))
    run_all(lake, [DAY1, DAY2], operators=operators)
    day1 = Path(lake.root, "raw_events", f"dt={DAY1}")
    session = next(day1.glob("app_id=*/session_id=*"))
    shutil.copytree(session, session.with_name("session_id=late-1"))  # late data on day 1
    registry = Registry.build(operators)
    stale = stale_days(lake, registry, registry.operators, [DAY2, DAY1])
    assert [op.name for op in stale[DAY2].operators] == ["model_comparisons"]
    runs = {day: (s.operators, s.keys) for day, s in stale.items()}
    why = why_stale(lake_catalog(lake), runs)[("model_comparisons", DAY2)]
    assert why == f"stale: its input tables are computed again first (sessions of {DAY1})"
    run_all(lake, [DAY1, DAY2], operators=operators)  # the keys a run computes: now current
    assert stale_days(lake, registry, registry.operators, [DAY1, DAY2]) == {}
