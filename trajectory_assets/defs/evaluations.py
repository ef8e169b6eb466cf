"""Check outcomes as Dagster records them: one evaluation per check and day, tied to the
materialization of that day it checked.

Dagster's own `AssetCheckResult` takes its partition from the step, so a range run (a backfill
in one run, `materialize --from --to`) could only record one outcome for all its days, and a
passing day would hide a failing one. An `AssetCheckEvaluation` per day carries its day; the
UI counts an evaluation as the day's status only while it targets the day's latest
materialization, so each is given that materialization (a class Dagster does not export
yet). Each check's output is yielded too, as Dagster does for an `AssetCheckResult`, or it
logs every check as not yielded.
"""

from collections.abc import Collection, Iterator

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData as Target,
)

from trajectory_assets.defs.checks import Check, DayCheck, Outcomes
from trajectory_assets.errors import first_few


def evaluations(
    context: dg.AssetExecutionContext, outcomes: Outcomes
) -> Iterator[dg.Output[None] | dg.AssetCheckEvaluation]:
    """Each check's output, and an evaluation per check and day, once the days'
    materializations are recorded."""
    instance, assets_def = context.instance, context.assets_def
    for check, _ in outcomes:  # a sibling's check, not selected, has no output in the step
        if check.key in context.selected_asset_check_keys:
            name = assets_def.get_output_name_for_asset_check_key(check.key)
            yield dg.Output(None, output_name=name)
    days_of: dict[str, set[str]] = {}
    for check, days in outcomes:
        days_of.setdefault(check.table, set()).update(days)
    targets = {
        table: latest_materializations(instance, table, days) for table, days in days_of.items()
    }
    for check, days in outcomes:
        unchecked = sorted(day for day, outcome in days.items() if not outcome.evaluated)
        if unchecked:  # no evaluation rather than a pass: the day's earlier ones stay
            context.log.info(
                f"check {check.table}.{check.name}: {len(unchecked)} day(s) "
                f"({first_few(unchecked)}) not evaluated: the counts their commits recorded are "
                "no longer in the table's log (Dagster shows the check as not run by this run; "
                "its earlier evaluations stay in its history)"
            )
        for day, outcome in days.items():
            if not outcome.evaluated:
                continue
            if not outcome.passed:  # a run's view lists its log lines, not its check results
                error = check.severity == dg.AssetCheckSeverity.ERROR
                tell = context.log.error if error else context.log.warning
                tell(f"check {check.table}.{check.name} dt={day} failed: {outcome.detail}")
            yield evaluation(check, day, outcome, targets[check.table].get(day))


def evaluation(
    check: Check, day: str, outcome: DayCheck, target: Target | None = None
) -> dg.AssetCheckEvaluation:
    """A check's outcome on a day, as Dagster records it (tied to `target`, the day's
    materialization it checked)."""
    return dg.AssetCheckEvaluation(
        asset_key=dg.AssetKey(check.table),
        check_name=check.name,
        passed=outcome.passed,
        severity=check.severity,
        metadata={"detail": outcome.detail},
        partition=day,
        target_materialization_data=target,
    )


def latest_materializations(
    instance: dg.DagsterInstance, table: str, days: Collection[str]
) -> dict[str, Target]:
    """Each day's latest materialization of the table (records come newest first)."""
    found: dict[str, Target] = {}
    cursor = None
    while len(found) < len(days):
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(table), asset_partitions=list(days)),
            limit=max(100, len(days)),
            cursor=cursor,
        )
        for record in page.records:
            day = record.partition_key
            if day is not None and day not in found:
                found[day] = Target(
                    storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
                )
        if not page.has_more:
            break
        cursor = page.cursor
    return found
