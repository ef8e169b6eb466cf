"""The days a command of several runs tags each run with, as spans, read back day by day."""

from pathlib import Path

import pytest

from trajectory_assets.defs.partitions import days_of_tag, days_tag, start_date_of
from trajectory_assets.ingest import EventLogger
from trajectory_assets.lake.config import LakeConfig, write_config
from trajectory_assets.lake.fs import Lake


def test_the_days_of_a_command_read_back_from_their_spans() -> None:
    runs = [
        ["2026-02-27", "2026-02-28", "2026-03-01"],
        ["2026-03-03"],
        ["2026-12-31", "2027-01-01"],
    ]
    assert days_tag(runs) == "2026-02-27..2026-03-01,2026-03-03,2026-12-31..2027-01-01"
    assert days_of_tag(days_tag(runs)) == tuple(day for run in runs for day in run)
    assert days_of_tag("") == ()


def test_an_eager_asset_of_yours_runs_the_day_the_schedule_writes() -> None:
    """The partitions run to today, and Dagster's `eager()` looks at the latest alone: an eager
    asset downstream of a table never ran for yesterday, the day the daily schedule writes."""
    import datetime as dt

    import dagster as dg

    import trajectory_assets as ta
    from trajectory_assets.defs.partitions import daily

    today = dt.datetime.now(dt.UTC).date()
    yesterday = (today - dt.timedelta(days=1)).isoformat()
    days = daily((today - dt.timedelta(days=5)).isoformat())

    @dg.asset(partitions_def=days)
    def sessions() -> None:
        """Stands for the table: what matters is its partitions."""

    def mine(condition: dg.AutomationCondition) -> dg.AssetsDefinition:
        @dg.asset(deps=[sessions], partitions_def=days, automation_condition=condition)
        def daily_costs() -> None:
            """An asset of a team's own."""

        return daily_costs

    for condition, expected in (
        (dg.AutomationCondition.eager(), set()),
        (ta.eager_downstream(), {yesterday}),
    ):
        defs = [sessions, mine(condition)]
        with dg.instance_for_test() as instance:
            before = dg.evaluate_automation_conditions(defs=defs, instance=instance)
            assert dg.materialize([sessions], instance=instance, partition_key=yesterday).success
            after = dg.evaluate_automation_conditions(
                defs=defs, instance=instance, cursor=before.cursor
            )
            assert after.get_requested_partitions(dg.AssetKey("daily_costs")) == expected


def test_a_day_another_producer_writes_before_the_configs_start_is_a_partition(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`ingest` keeps the lake's config, the logger does not: a session it logged on a day
    before the config's start_date was in no table, and the sensor asked for the start to be
    moved back by hand. Untimed events (1970-01-01) stay out of the partitions, as ingest
    keeps them."""
    monkeypatch.delenv("TRAJECTORY_ASSETS_START_DATE", raising=False)
    lake = Lake(str(tmp_path))
    write_config(lake, LakeConfig(start_date="2026-11-06"))
    (tmp_path / "raw_events" / "dt=1970-01-01").mkdir(parents=True)
    assert start_date_of(lake) == "2026-11-06"
    with EventLogger(lake, "late-app") as logger:
        logger.log("s-late", "llm_call", ts=1_761_955_200.0)  # 2025-11-01
    assert start_date_of(lake) == "2025-11-01"
    monkeypatch.setenv("TRAJECTORY_ASSETS_START_DATE", "2026-11-06")  # a pin is a pin
    assert start_date_of(lake) == "2026-11-06"
