"""The asset checks a run evaluates: the selected ones and those of tables committed with
them, over the run's days with its counts; of the days a failing run committed; and the
failure a blocking check's makes."""

from collections.abc import Callable, Collection, Iterator, Sequence

import dagster as dg

from trajectory_assets.defs.check_context import CheckContext, Thresholds
from trajectory_assets.defs.checks import Check, Outcomes, blocked, evaluate_all
from trajectory_assets.defs.config import ComputeConfig
from trajectory_assets.defs.evaluations import evaluations
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.results import DayResult, RunResult
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operator import Operator


def hold_back(outcomes: Outcomes) -> None:
    """Fail the step once its checks are recorded when a blocking check failed: what depends on
    the table waits (the tables stay committed and recorded)."""
    if failed := blocked(outcomes):
        raise dg.Failure(
            description=f"blocking check(s) failed: {', '.join(failed)}; the tables are "
            "committed and recorded, and what depends on them is held back"
        )


def checks_of_committed(
    context: dg.AssetExecutionContext,
    lake: Lake,
    registry: Registry,
    config: ComputeConfig,
    checks: list[Check],
    done: Sequence[tuple[Operator, DayResult]],
) -> Iterator[dg.AssetCheckEvaluation]:
    """The selected checks of the days a failing run committed, with the counts each commit
    recorded: those days show as materialized, and would show no check result. A check that
    fails to evaluate here is a warning: the run's own error is what it fails with."""
    days_of: dict[str, set[str]] = {}
    for op, day in done:
        for table in op.output_names:
            days_of.setdefault(table, set()).add(day.day)
    catalog = Catalog(lake, registry.tables)
    try:
        outcomes = check_outcomes(
            context, catalog, config, checks, None, lambda c: sorted(days_of.get(c.table, ()))
        )
        found = [
            e for e in evaluations(context, outcomes) if isinstance(e, dg.AssetCheckEvaluation)
        ]
    except Exception as exc:  # the run's own error comes next
        context.log.warning(f"the checks of the days committed before the failure: {exc}")
        return
    yield from found


def check_outcomes(
    context: dg.AssetExecutionContext,
    catalog: Catalog,
    config: ComputeConfig,
    checks: list[Check],
    result: RunResult | None,
    days_of: Callable[[Check], Sequence[str]] | None = None,
    siblings: Collection[str] = (),
) -> Outcomes:
    """The selected checks, and those of `siblings` (tables not selected that the run commits
    with a selected one: Dagster leaves their checks out of the run), over the run's days (or
    `days_of`) with this run's counts; checks alone (no run) use the counts each day's commit
    recorded, over every committed day when the run has no partition (Dagster launches checks
    alone unpartitioned)."""
    limits = Thresholds(config.max_rejected_share, config.max_elimination_ratio)
    selected = context.selected_asset_check_keys
    chosen = [c for c in checks if c.key in selected or c.table in siblings]
    checking = CheckContext(catalog, limits, result)
    if days_of is not None:
        return evaluate_all(chosen, checking, days_of)
    if context.has_partition_key or context.has_partition_key_range:
        days = list(context.partition_keys)
        return evaluate_all(chosen, checking, lambda _: days)
    return evaluate_all(chosen, checking, lambda c: catalog.days(c.table))
