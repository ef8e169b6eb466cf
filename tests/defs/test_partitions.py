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
