"""A run's selection that cannot be run as asked fails before anything is computed, loudly."""

from collections.abc import Iterator

import dagster as dg

from tests.dagster_assets import assets_of, inline_resources
from tests.lakes import DAY1
from trajectory_assets.definitions import defs
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import TABLES

TABLE_ASSETS = assets_of(defs)


def failure(result: dg.ExecuteInProcessResult) -> str:
    assert not result.success
    error = result.get_step_failure_events()[0].step_failure_data.error
    assert error is not None
    return error.message


def test_an_asset_reading_a_table_committed_beside_the_selection_is_refused(lake: Lake) -> None:
    """Selecting `sessions` commits `turns` too, but Dagster did not order `error_rate`, which
    reads `turns`, after it: it ran first and recorded a day of no turns, in a green run."""
    read: list[int] = []

    @dg.asset(deps=["turns"], partitions_def=TABLE_ASSETS[0].partitions_def)
    def error_rate(context: dg.AssetExecutionContext) -> None:
        read.append(len(Catalog(lake, dict(TABLES)).days("turns")))

    result = dg.materialize(
        [*TABLE_ASSETS, error_rate],
        selection=["sessions", "error_rate"],
        partition_key=DAY1,
        resources=inline_resources(lake),
        raise_on_error=False,
    )
    assert "error_rate reads turns: this run commits them beside the tables it selects" in (
        failure(result)
    )
    assert Catalog(lake, dict(TABLES)).days("sessions") == []  # refused before computing


def test_an_asset_reading_a_selected_table_too_runs_after_every_table_it_reads(
    lake: Lake,
) -> None:
    read: list[list[str]] = []

    @dg.asset(deps=["sessions", "turns"], partitions_def=TABLE_ASSETS[0].partitions_def)
    def turns_per_session(context: dg.AssetExecutionContext) -> None:
        read.append(Catalog(lake, dict(TABLES)).days("turns"))

    result = dg.materialize(
        [*TABLE_ASSETS, turns_per_session],
        selection=["sessions", "turns_per_session"],
        partition_key=DAY1,
        resources=inline_resources(lake),
    )
    assert result.success and read == [[DAY1]]


def test_renamed_table_keys_are_refused_rather_than_computing_nothing(lake: Lake) -> None:
    """Keys prefixed against a clash with a team's own `sessions`: the run succeeded, computing
    and committing nothing."""
    keys = {dg.AssetKey(t): dg.AssetKey(["traj", t]) for t in TABLES}
    tables = next(
        a
        for a in TABLE_ASSETS
        if isinstance(a, dg.AssetsDefinition) and dg.AssetKey("sessions") in a.keys
    )
    renamed = [tables.with_attributes(asset_key_replacements=keys)]
    result = dg.materialize(
        renamed,
        selection=[dg.AssetKey(["traj", "sessions"])],
        partition_key=DAY1,
        resources=inline_resources(lake),
        raise_on_error=False,
    )
    assert "the tables' asset keys were renamed (traj/sessions)" in failure(result)
    assert Catalog(lake, dict(TABLES)).days("sessions") == []


def test_a_multi_asset_of_ones_own_waits_as_one_step_for_every_table_it_reads(
    lake: Lake,
) -> None:
    """Dagster orders a multi-asset as one step: `turn_stats` reads only `turns`, but its
    sibling reads the selected `sessions`, so the step runs after the tables; it was refused."""
    read: list[list[str]] = []
    daily = TABLE_ASSETS[0].partitions_def

    @dg.multi_asset(
        specs=[
            dg.AssetSpec("by_session", deps=["sessions"], partitions_def=daily),
            dg.AssetSpec("turn_stats", deps=["turns"], partitions_def=daily),
        ]
    )
    def team_step() -> Iterator[dg.MaterializeResult]:
        read.append(Catalog(lake, dict(TABLES)).days("turns"))
        yield dg.MaterializeResult(asset_key="by_session")
        yield dg.MaterializeResult(asset_key="turn_stats")

    result = dg.materialize(
        [*TABLE_ASSETS, team_step],
        selection=["sessions", "by_session", "turn_stats"],
        partition_key=DAY1,
        resources=inline_resources(lake),
    )
    assert result.success and read == [[DAY1]]
