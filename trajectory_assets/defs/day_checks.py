"""A team's own asset check with one outcome per day of its run.

Dagster gives a partitioned `@dg.asset_check` the days of its run (`context.partition_keys`)
but records its `AssetCheckResult` once for all of them: a range run (a backfill in one run,
`materialize --from --to`) showed one outcome, not tied to any day, a passing day hid a
failing one, and the days stayed planned for good. Yielding `day_checks(context, outcomes)`
instead records an evaluation per day, tied to that day's materialization as the built-in
checks' are (`evaluations`).
"""

from collections.abc import Iterator, Mapping

import dagster as dg

from trajectory_assets.defs.evaluations import latest_materializations
from trajectory_assets.errors import DefinitionError

Outcome = bool | tuple[bool, str]
"""Whether a day passed, or that and why (shown as the evaluation's `detail`)."""


def day_checks(
    context: dg.AssetCheckExecutionContext,
    outcomes: Mapping[str, Outcome],
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR,
) -> Iterator[dg.AssetCheckEvaluation | dg.Output[None]]:
    """The check's evaluation of each day of `outcomes` (days of its run), then its output
    (`-> Any`: Dagster's stubs expect a check to return one `AssetCheckResult`):

    @dg.asset_check(asset="slow_turns", partitions_def=DAILY)
    def few_slow_turns(context: dg.AssetCheckExecutionContext, lake: ta.LakeResource) -> Any:
        days = context.partition_keys
        rows = ta.connect(lake.lake()).read("slow_turns", dt_from=days[0], dt_to=days[-1])
        counts = collections.Counter(rows["dt"].to_pylist())
        yield from ta.day_checks(context, {d: counts[d] <= 5 for d in days})
    """
    if len(context.check_specs) != 1:
        raise DefinitionError(
            "day_checks evaluates one check: yield it from an @dg.asset_check, not from a "
            f"multi-asset check of {len(context.check_specs)}"
        )
    (spec,) = context.check_specs
    if not (context.has_partition_key or context.has_partition_key_range):
        raise DefinitionError(
            f"day_checks: check {spec.name} runs on no day: give it the tables' partitions "
            "(partitions_def=)"
        )
    days = set(context.partition_keys)
    other = sorted(set(outcomes) - days)
    if other:
        raise DefinitionError(
            f"day_checks: check {spec.name} ran on {', '.join(sorted(days))}, not on "
            f"{', '.join(other)}"
        )
    table = spec.asset_key.to_user_string()
    targets = latest_materializations(context.instance, table, list(outcomes))
    for day in sorted(outcomes):
        outcome = outcomes[day]
        passed, detail = outcome if isinstance(outcome, tuple) else (outcome, "")
        yield dg.AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=passed,
            severity=severity,
            metadata={"detail": detail} if detail else {},
            partition=day,
            target_materialization_data=targets.get(day),
        )
    assets_def = context.op_execution_context.assets_def
    yield dg.Output(None, output_name=assets_def.get_output_name_for_asset_check_key(spec.key))
