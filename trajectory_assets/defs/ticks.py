"""What a sensor's or schedule's tick asks of its Dagster instance (the runs earlier ticks
launched; a context built in a test has no instance, and a tick then finds none), and the run
it requests."""

from collections.abc import Mapping, Sequence

import dagster as dg

from trajectory_assets.operator import Operator

TickContext = dg.SensorEvaluationContext | dg.ScheduleEvaluationContext


def tick_instance(context: TickContext) -> dg.DagsterInstance | None:
    try:
        return context.instance
    except dg.DagsterInvariantViolationError:
        return None


def runs_tagged(
    context: TickContext,
    tags: Mapping[str, str],
    statuses: Sequence[dg.DagsterRunStatus] = (),
    limit: int = 1,
) -> list[dg.DagsterRun]:
    """The latest runs with these tags (and one of these statuses, when given)."""
    instance = tick_instance(context)
    if instance is None:
        return []
    filters = dg.RunsFilter(tags=dict(tags), statuses=list(statuses))
    return list(instance.get_runs(filters=filters, limit=limit))


def run_request(
    day: str, run_key: str, ready: Sequence[Operator], ops: Sequence[Operator]
) -> dg.RunRequest:
    """A run of the day; of the ready operators' tables only when others wait for another code
    location's tables (the whole job would fail on their missing inputs)."""
    if len(ready) == len(ops):
        return dg.RunRequest(run_key=run_key, partition_key=day)
    selection = [dg.AssetKey(t) for op in ready for t in op.output_names]
    return dg.RunRequest(run_key=run_key, partition_key=day, asset_selection=selection)
