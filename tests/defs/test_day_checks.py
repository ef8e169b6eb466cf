"""`ta.day_checks`: a team's check records an outcome per day of its run, each tied to the day's
materialization; Dagster's one `AssetCheckResult` had no day, and a passing day hid a failing
one."""

from typing import Any

import dagster as dg

import trajectory_assets as ta

DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01")
RANGE = {"dagster/asset_partition_range_start": "2026-11-01"}
RANGE |= {"dagster/asset_partition_range_end": "2026-11-03"}


@dg.asset(partitions_def=DAYS, backfill_policy=dg.BackfillPolicy.single_run())
def table() -> None:
    """A partitioned table, materialized for several days in one run."""


@dg.asset_check(asset=table, partitions_def=DAYS)
def not_the_second(
    context: dg.AssetCheckExecutionContext,
) -> Any:  # Dagster's stubs take a check to return one AssetCheckResult
    yield from ta.day_checks(
        context, {day: (day != "2026-11-02", f"day {day}") for day in context.partition_keys}
    )


@dg.asset_check(asset=table, partitions_def=DAYS)
def a_day_not_run(
    context: dg.AssetCheckExecutionContext,
) -> Any:  # Dagster's stubs take a check to return one AssetCheckResult
    yield from ta.day_checks(context, {"2026-10-01": True})


def _evaluations(result: dg.ExecuteInProcessResult) -> list[tuple[str | None, bool, bool]]:
    found = [e.event_specific_data for e in result.all_events]
    return [
        (data.partition, data.passed, data.target_materialization_data is not None)
        for data in found
        if isinstance(data, dg.AssetCheckEvaluation)
    ]


def test_each_day_of_a_range_run_has_its_outcome_tied_to_its_materialization() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        done = dg.materialize([table, not_the_second], instance=instance, tags=RANGE)
        assert _evaluations(done) == [
            ("2026-11-01", True, True),
            ("2026-11-02", False, True),
            ("2026-11-03", True, True),
        ]
        one = dg.materialize([table, not_the_second], instance=instance, partition_key="2026-11-05")
        assert _evaluations(one) == [("2026-11-05", True, True)]


def test_a_day_the_check_did_not_run_on_is_named() -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        done = dg.materialize(
            [table, a_day_not_run], instance=instance, tags=RANGE, raise_on_error=False
        )
    (failure,) = done.get_step_failure_events()
    assert failure.step_failure_data.error is not None
    message = failure.step_failure_data.error.to_string()
    assert "check a_day_not_run ran on 2026-11-01, 2026-11-02, 2026-11-03, not on 2026-10-01" in (
        message
    )


def test_a_check_of_no_days_is_named() -> None:
    unpartitioned = dg.asset(name="plain")(lambda: None)

    @dg.asset_check(asset=unpartitioned)
    def plain_check(
        context: dg.AssetCheckExecutionContext,
    ) -> Any:  # Dagster's stubs take a check to return one AssetCheckResult
        yield from ta.day_checks(context, {})

    done = dg.materialize([unpartitioned, plain_check], raise_on_error=False)
    (failure,) = done.get_step_failure_events()
    assert failure.step_failure_data.error is not None
    assert (
        "runs on no day: give it the tables' partitions"
        in failure.step_failure_data.error.to_string()
    )
