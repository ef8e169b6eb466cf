"""A team's module whose code location adds asset checks of its own to its tables: the command
line runs them with the tables, as a Dagster run does, but for one that needs a resource only
its code location has."""

from collections import Counter
from typing import Any

import dagster as dg
from team_metrics.operators import SlowTurns  # installed beside the package by `make test`

import trajectory_assets as ta

operators = [SlowTurns()]
tables = ta.build_definitions(operators, upstream=ta.BUILTIN_OPERATORS, name="own_checks")
DAILY = tables.get_assets_def("slow_turns").partitions_def


@dg.asset_check(asset="slow_turns", partitions_def=DAILY, blocking=False)
def at_most_five_slow_turns(
    context: dg.AssetCheckExecutionContext, lake: ta.LakeResource
) -> Any:  # Dagster's stubs take a check to return one AssetCheckResult
    """A team's own limit a day, which the sample lake's days exceed: each day of a range run
    has its outcome (a range's run has no one `partition_key`)."""
    days = context.partition_keys
    rows = ta.connect(lake.lake(), runtime="inline", defs=[__name__]).read(
        "slow_turns", dt_from=days[0], dt_to=days[-1]
    )
    counts = Counter(rows["dt"].to_pylist())
    outcomes = {day: (counts[day] <= 5, f"{counts[day]} slow turns") for day in days}
    yield from ta.day_checks(context, outcomes, dg.AssetCheckSeverity.WARN)


@dg.asset_check(asset="slow_turns", required_resource_keys={"pager"})
def paged_on_slow_turns(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """A check that needs a resource of its code location's (an alerting client, say)."""
    return dg.AssetCheckResult(passed=True)


class Limit(dg.Config):
    most: int = 100


@dg.asset_check(asset="slow_turns")
def within_a_configured_limit(config: Limit) -> dg.AssetCheckResult:
    """A check that takes run config of its own."""
    return dg.AssetCheckResult(passed=True)


@dg.asset_check(asset="sessions", partitions_def=DAILY)
def sessions_seen_by_the_team(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """A team's check on a built-in table, which its location shows beside the tables."""
    return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN)


defs = dg.Definitions.merge(
    tables,
    dg.Definitions(
        asset_checks=[
            at_most_five_slow_turns,
            paged_on_slow_turns,
            within_a_configured_limit,
            sessions_seen_by_the_team,
        ]
    ),
)
