"""A team's tables and the built-in ones in one code location, as a data team merges them
into the Dagster project it already has."""

import shutil
from pathlib import Path

import dagster as dg
import team_metrics.definitions as team  # installed beside the package by `make test`

import trajectory_assets as ta
from tests.dagster_assets import inline_resources, materialize_upstream, stale_status
from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog
from trajectory_assets.definitions import defs as builtin
from trajectory_assets.lake.fs import Lake


def test_the_builtin_and_a_teams_definitions_merge_into_one_location() -> None:
    """Both use the resources the environment configures: Dagster merges definitions only
    when their resources of one key are the same object ("different resources with same key
    'lake'" before)."""
    mine = ta.build_definitions(team.operators, upstream=ta.BUILTIN_OPERATORS, name="mine")
    merged = dg.Definitions.merge(builtin, mine)
    keys = {k.to_user_string() for k in merged.resolve_asset_graph().get_all_asset_keys()}
    assert {"sessions", "daily_report", "slow_turns", "model_usage"} <= keys
    assert merged.resolve_job_def("mine_daily") and merged.resolve_job_def("tier_b_daily")


def test_resources_of_ones_own_serve_both_and_materialize_in_one_run(lake: Lake) -> None:
    resources = inline_resources(lake)
    tables = ta.build_definitions(ta.BUILTIN_OPERATORS, name="tier_b", resources=resources)
    daily = tables.get_assets_def("sessions").partitions_def
    read: dict[str, int] = {}

    @dg.asset(deps=["sessions"], partitions_def=daily, automation_condition=ta.eager_downstream())
    def app_costs(context: dg.AssetExecutionContext, lake: ta.LakeResource) -> None:
        """A plain asset of a team's own, as the README writes it."""
        day = ta.connect(lake.root, runtime="inline").read("sessions", dt=context.partition_key)
        read[context.partition_key] = day.num_rows

    both = dg.Definitions.merge(
        tables,
        ta.build_definitions(
            team.operators, upstream=ta.BUILTIN_OPERATORS, name="mine", resources=resources
        ),
        dg.Definitions(assets=[app_costs]),
    )
    keys = ["sessions", "turns", "slow_turns", "app_costs"]
    result = materialize_upstream(both, keys, DAY1, dg.DagsterInstance.ephemeral())
    assert result.success
    assert lake_catalog(lake).state("sessions", DAY1) is not None
    assert read == {DAY1: ta.connect(lake.uri).read("sessions", dt=DAY1).num_rows} != {DAY1: 0}
    mine = ta.connect(lake.uri, defs=["team_metrics.definitions"])
    assert mine.read("slow_turns", dt=DAY1).num_rows > 0


def test_a_location_with_an_executor_of_its_own_takes_the_tables() -> None:
    """A location has one executor, and Dagster refuses to merge two: a team whose location
    runs on its own executor could not add the tables."""
    tables = ta.build_definitions(ta.BUILTIN_OPERATORS, name="tier_b", executor=None)
    merged = dg.Definitions.merge(tables, dg.Definitions(executor=dg.multiprocess_executor))
    assert merged.executor is dg.multiprocess_executor
    assert builtin.executor is dg.in_process_executor  # the package's own location


def test_blocking_checks_hold_back_an_asset_of_ones_own(lake: Lake) -> None:
    """A failed ERROR check left the Dagster run green and an asset downstream ran anyway; with
    blocking checks the run fails, its tables committed, and the asset waits."""
    tables = ta.build_definitions(
        ta.BUILTIN_OPERATORS, name="tier_b", resources=inline_resources(lake), blocking_checks=True
    )
    ran: list[str] = []

    @dg.asset(
        deps=["rejected_events"], partitions_def=tables.get_assets_def("sessions").partitions_def
    )
    def after_rejections(context: dg.AssetExecutionContext) -> None:
        """An asset of a team's own, downstream of a checked table."""
        ran.append(context.partition_key)

    defs = dg.Definitions.merge(tables, dg.Definitions(assets=[after_rejections]))
    result = materialize_upstream(
        defs,
        ["rejected_events", "after_rejections"],
        DAY1,
        dg.DagsterInstance.ephemeral(),
        run_config={"ops": {"tier_b": {"config": {"max_rejected_share": 0.0}}}},
        raise_on_error=False,
    )
    assert not result.success and ran == []
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.error is not None
    said = failure.step_failure_data.error.message
    assert f"blocking check(s) failed: rejected_events.rejected_share dt={DAY1};" in said
    assert lake_catalog(lake).state("rejected_events", DAY1) is not None  # committed


def test_dagster_marks_every_window_a_changed_day_is_in_stale(lake: Lake) -> None:
    """A rolling window's day D reads D-1 too: after D-1's sessions changed, Dagster showed D
    fresh (its dependency drawn day to day) while the engine's lineage recomputed it."""
    from trajectory_assets.defs.sync import observe_raw
    from trajectory_assets.operators import ModelComparisons

    window = ModelComparisons(window_days=2)  # the loaded instance's window: Dagster's too
    operators = [window if op.name == window.name else op for op in ta.BUILTIN_OPERATORS]
    defs = ta.build_definitions(operators, name="tier_b", resources=inline_resources(lake))
    graph = defs.resolve_asset_graph()
    key, sessions = dg.AssetKey("model_comparisons"), dg.AssetKey("sessions")
    mapping = graph.get_partition_mapping(key, sessions)
    assert isinstance(mapping, dg.TimeWindowPartitionMapping) and mapping.start_offset == -1
    instance = dg.DagsterInstance.ephemeral()
    partitions = defs.get_assets_def("sessions").partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    for day, selection in ((DAY1, [key]), (DAY2, [key]), (DAY1, [sessions])):
        if selection == [sessions]:  # a late session arrives on day 1, as the sensor sees it
            day1 = Path(lake.root, "raw_events", f"dt={DAY1}")
            session = next(p for p in sorted(day1.rglob("session_id=*")) if p.is_dir())
            shutil.copytree(session, session.with_name("session_id=late-one"))
            observe_raw(instance, lake, partitions)
        assert materialize_upstream(defs, selection, day, instance).success
    stale = stale_status(instance, defs)
    assert {d: stale.get_status(key, d).value for d in (DAY1, DAY2)} == {
        DAY1: "STALE",
        DAY2: "STALE",
    }


def test_a_day_the_sensor_recomputed_stays_fresh_once_raw_events_is_observed(lake: Lake) -> None:
    """A run records the raw version it read: late data arrived, the day was recomputed, and
    the next Observe of raw_events marked that up-to-date day stale ("raw_events has a new
    data version"), since the run had recorded the observation before the data arrived."""
    from trajectory_assets.defs.sync import observe_raw

    defs = ta.build_definitions(
        ta.BUILTIN_OPERATORS, name="tier_b", resources=inline_resources(lake), raw_source=True
    )
    partitions = defs.get_assets_def("sessions").partitions_def
    assert isinstance(partitions, dg.DailyPartitionsDefinition)
    instance = dg.DagsterInstance.ephemeral()
    sessions = dg.AssetKey("sessions")
    observe_raw(instance, lake, partitions)
    for late in (False, True):
        if late:  # a late session arrives, and the sensor's run recomputes the day
            day1 = Path(lake.root, "raw_events", f"dt={DAY1}")
            session = next(p for p in sorted(day1.rglob("session_id=*")) if p.is_dir())
            shutil.copytree(session, session.with_name("session_id=late-one"))
        assert materialize_upstream(defs, [sessions], DAY1, instance).success
    assert observe_raw(instance, lake, partitions) == 0  # the run observed what it read
    stale = stale_status(instance, defs)
    causes = [(c.dependency, c.reason) for c in stale.get_stale_causes(sessions, DAY1)]
    assert stale.get_status(sessions, DAY1).value == "FRESH", causes


def test_a_day_restored_to_an_older_operators_tables_is_stale_in_dagster(lake: Lake) -> None:
    """A rollback (or a sync) recorded the restored day without the code version that made
    it: Dagster showed it fresh while `explain` and `--missing` called it stale."""
    from trajectory_assets.defs.sync import made_by, record_day
    from trajectory_assets.lake import delta_commit
    from trajectory_assets.operators import ModelComparisons

    defs = ta.build_definitions(
        ta.BUILTIN_OPERATORS, name="tier_b", resources=inline_resources(lake)
    )
    graph = defs.resolve_asset_graph()
    key = dg.AssetKey("model_comparisons")
    instance = dg.DagsterInstance.ephemeral()
    for window in (2, 1):  # an older run with another parameter, then today's
        config = {"ops": {"tier_b": {"config": {"model_comparisons": {"window_days": window}}}}}
        assert materialize_upstream(defs, [key], DAY1, instance, run_config=config).success
    catalog = lake_catalog(lake)
    spec = catalog.get("model_comparisons")
    before, _ = delta_commit.previous_state(lake, spec, DAY1)
    delta_commit.restore_day(lake, spec, DAY1, {"action": "rollback"}, as_of=before)
    op = ModelComparisons()
    made = made_by(lake, op, "model_comparisons", [DAY1])
    assert made[DAY1] != graph.get(key).code_version
    record_day(
        instance, lake, lake_catalog(lake).snapshot(key.path[0]), DAY1, "rollback", made[DAY1]
    )
    stale = stale_status(instance, defs)
    causes = [c.reason for c in stale.get_stale_causes(key, DAY1)]
    assert stale.get_status(key, DAY1).value == "STALE" and "has a new code version" in causes

    # and back to today's operator's tables: recorded without a code version, fresh (a runless
    # record with one, lacking a run's input versions, reads as stale whatever it says)
    delta_commit.restore_day(lake, spec, DAY1, {"action": "rollback"}, as_of=before + 1)
    assert made_by(lake, op, "model_comparisons", [DAY1]) == {}
    record_day(instance, lake, lake_catalog(lake).snapshot(key.path[0]), DAY1, "rollback", None)
    fresh = stale_status(instance, defs)
    assert fresh.get_status(key, DAY1).value == "FRESH"


def test_the_daily_report_has_a_code_version() -> None:
    """A new page layout (report v2 to v3) showed no new code version in the UI."""
    from trajectory_assets.definitions import defs
    from trajectory_assets.report import REPORT_VERSION

    graph = defs.resolve_asset_graph()
    assert graph.get(dg.AssetKey("daily_report")).code_version == str(REPORT_VERSION)
