"""A team's module whose code location adds asset checks of its own to its tables: the command
line runs them with the tables, as a Dagster run does, but for one that needs a resource only
its code location has."""

import dagster as dg
from team_metrics.operators import SlowTurns  # installed beside the package by `make test`

import trajectory_assets as ta

operators = [SlowTurns()]
tables = ta.build_definitions(operators, upstream=ta.BUILTIN_OPERATORS, name="own_checks")
DAILY = tables.get_assets_def("slow_turns").partitions_def


@dg.asset_check(asset="slow_turns", partitions_def=DAILY, blocking=False)
def at_most_five_slow_turns(
    context: dg.AssetCheckExecutionContext, lake: ta.LakeResource
) -> dg.AssetCheckResult:
    """A team's own limit, which the sample lake's days exceed."""
    day = context.partition_key
    rows = ta.connect(lake.root, runtime="inline", defs=[__name__]).read("slow_turns", dt=day)
    return dg.AssetCheckResult(
        passed=rows.num_rows <= 5,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"detail": f"{rows.num_rows} slow turns"},
    )


@dg.asset_check(asset="slow_turns", required_resource_keys={"pager"})
def paged_on_slow_turns(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    """A check that needs a resource of its code location's (an alerting client, say)."""
    return dg.AssetCheckResult(passed=True)


defs = dg.Definitions.merge(
    tables, dg.Definitions(asset_checks=[at_most_five_slow_turns, paged_on_slow_turns])
)
