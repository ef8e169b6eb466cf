"""A team's tables and the built-in ones in one code location, as a data team merges them
into the Dagster project it already has."""

import dagster as dg
import team_metrics.definitions as team  # installed beside the package by `make test`

import trajectory_assets as ta
from tests.dagster_assets import assets_of
from tests.lakes import DAY1
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
    resources = {
        "lake": ta.LakeResource(root=lake.uri),
        "compute": ta.ComputeResource(runtime="inline"),
    }
    both = dg.Definitions.merge(
        ta.build_definitions(ta.BUILTIN_OPERATORS, name="tier_b", resources=resources),
        ta.build_definitions(
            team.operators, upstream=ta.BUILTIN_OPERATORS, name="mine", resources=resources
        ),
    )
    result = dg.materialize(
        assets_of(both),
        selection=dg.AssetSelection.assets("sessions", "turns", "slow_turns").upstream(),
        partition_key=DAY1,
        resources=resources,
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    assert lake_catalog(lake).state("sessions", DAY1) is not None
    mine = ta.connect(lake.uri, defs=["team_metrics.definitions"])
    assert mine.read("slow_turns", dt=DAY1).num_rows > 0
