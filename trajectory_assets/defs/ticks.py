"""What a sensor's or schedule's tick asks of its Dagster instance: the runs earlier ticks
launched. A context built in a test has no instance; a tick then finds none."""

from collections.abc import Mapping, Sequence

import dagster as dg

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
