"""model_comparisons: model A against model B on the same tasks of a benchmark, with error bars.

From the eval attempts in `sessions` (a session with a non-null `eval_benchmark` and
`eval_task_id`; run ids pooled). For each benchmark and pair of models (model_a < model_b), the
shared tasks T are the task ids both models attempted. For t in T, p_a(t) and p_b(t) are each
model's share of passed attempts (a null `eval_passed` did not pass), and d(t) = p_a(t) - p_b(t):

    n_tasks               = |T|
    pass_at_1_a, _b       = mean over T of p_a, p_b
    diff                  = mean over T of d
    diff_se               = sd(d) / sqrt(|T|), sd with |T| - 1 degrees of freedom (null if |T| < 2)
    diff_ci_low, _high    = diff -/+ t(0.975, |T| - 1) * diff_se  (Student t quantile, scipy)
    mean_cost_diff        = mean over T of (mean priced attempt cost of a - that of b); null when
                            either model has no priced attempt on some task of T. An attempt
                            is priced when every llm_call of its session is (sessions.cost_usd
                            not null and n_llm_calls_unpriced = 0)

This is the paired t-interval on per-task differences: tasks are the clusters, attempts of one
task are averaged first, so tasks with many attempts do not weigh more and the task-to-task
difficulty both models share cancels out of d (the "clustered by task" standard error).

Two phases: each batch emits per (day, benchmark, model, task) attempt and pass counts and cost
sums; one merge per day pools them. `window_days` (run config, default 1) pools the attempts
of the `window_days` days ending on the partition day (a rolling window): the operator's
`lookback_days` make the engine read those days' sessions too, and make them part of the day's
lineage. The rows' `dt` is the partition day.
"""

import datetime as dt
from typing import Any

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.operator import OpContext, Operator
from trajectory_assets.operators.events import EXACT_TYPE, exact_mean, exact_sum, exact_total
from trajectory_assets.schema import TableSpec, column

MODEL_COMPARISONS = pa.schema(
    [
        column(
            "dt",
            pa.string(),
            "The day D; the row pools the attempts of the `window_days` days "
            "ending on D (default 1).",
        ),
        column("benchmark", pa.string(), "The attempts' `eval_benchmark`."),
        column("model_a", pa.string(), "The first `eval_model` of the pair (`model_a < model_b`)."),
        column("model_b", pa.string(), "The second `eval_model` of the pair."),
        column(
            "n_tasks",
            pa.int64(),
            "|T|: the shared tasks, task ids with at least one attempt by each "
            "model (run ids pooled).",
        ),
        column(
            "pass_at_1_a",
            pa.float64(),
            "Mean over T of p_a(t), model_a's share of passed attempts on t.",
        ),
        column(
            "pass_at_1_b",
            pa.float64(),
            "Mean over T of p_b(t), model_b's share of passed attempts on t.",
        ),
        column("diff", pa.float64(), "Mean over T of d(t) = p_a(t) - p_b(t)."),
        column(
            "diff_se",
            pa.float64(),
            "Sample standard deviation of d / sqrt(|T|), the paired, task-clustered standard "
            "error (null when |T| < 2).",
        ),
        column(
            "diff_ci_low",
            pa.float64(),
            "`diff - t(0.975, |T| - 1) * diff_se`: the 95% interval's low end (null when |T| < 2).",
        ),
        column(
            "diff_ci_high",
            pa.float64(),
            "`diff + t(0.975, |T| - 1) * diff_se`: the 95% interval's high end "
            "(null when |T| < 2).",
        ),
        column(
            "mean_cost_diff",
            pa.float64(),
            "Mean over T of (mean cost of model_a's priced attempts on t - that of model_b's), "
            "USD; null when either has none on a task of T.",
        ),
        column(
            "window_days",
            pa.int64(),
            "The window asked for: the attempts of the `window_days` days ending on `dt` (the "
            "operator's parameter, 1 by default), fewer within the lake's first days (none "
            "before its first partition), so a reader knows what a row compares.",
        ),
    ]
)

MODEL_COMPARISON_PARTIALS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("benchmark", pa.string()),
        pa.field("model", pa.string()),
        pa.field("task_id", pa.string()),
        pa.field("n_attempts", pa.int64()),
        pa.field("n_passed", pa.int64()),
        pa.field("cost_sum", EXACT_TYPE),
        pa.field("n_priced", pa.int64()),
    ]
)
"""Phase one of `model_comparisons`: one row per (day, benchmark, model, task) and batch."""


MODEL_COMPARISONS_TABLE = TableSpec(
    "model_comparisons",
    MODEL_COMPARISONS,
    partition_by=("benchmark",),
    keys=("benchmark", "model_a", "model_b"),
    description="One row per (benchmark, model pair): paired pass@1 difference, SE, CI.",
)


FULLY_PRICED = "cost_usd IS NOT NULL AND coalesce(n_llm_calls_unpriced, 0) = 0"
"""A priced attempt: every llm_call of its session has a price (a session with some unpriced
calls has a cost that leaves them out, a lower bound, which would bias the difference)."""

PARTIALS_SQL = f"""
SELECT dt, eval_benchmark AS benchmark, coalesce(eval_model, 'unknown') AS model,
    eval_task_id AS task_id,
    count(*) AS n_attempts,
    count(*) FILTER (WHERE eval_passed) AS n_passed,
    coalesce({exact_total(f"CASE WHEN {FULLY_PRICED} THEN cost_usd END")}, 0) AS cost_sum,
    count(*) FILTER (WHERE {FULLY_PRICED}) AS n_priced
FROM sessions WHERE eval_benchmark IS NOT NULL AND eval_task_id IS NOT NULL
GROUP BY ALL
"""


def pairs_sql(first_day: str, last_day: str) -> str:
    """Per (benchmark, model_a, model_b): the shared tasks' aggregates and the list of d(t)."""
    return f"""
    WITH tasks AS (
        SELECT benchmark, model, task_id,
            sum(n_passed) / sum(n_attempts) AS p,
            {exact_sum("cost_sum")} / nullif(sum(n_priced), 0) AS cost
        FROM _partials WHERE dt BETWEEN '{first_day}' AND '{last_day}'
        GROUP BY benchmark, model, task_id
    ),
    shared AS (
        SELECT a.benchmark, a.model AS model_a, b.model AS model_b, a.task_id,
            a.p AS p_a, b.p AS p_b, a.p - b.p AS d, a.cost - b.cost AS cost_diff
        FROM tasks a JOIN tasks b
          ON a.benchmark = b.benchmark AND a.task_id = b.task_id AND a.model < b.model
    )
    SELECT benchmark, model_a, model_b,
        count(*) AS n_tasks,
        {exact_mean("p_a")} AS pass_at_1_a, {exact_mean("p_b")} AS pass_at_1_b,
        list(d ORDER BY task_id) AS d,
        CASE WHEN count(*) FILTER (WHERE cost_diff IS NULL) = 0
            THEN {exact_sum("cost_diff")} / count(*) END
            AS mean_cost_diff
    FROM shared GROUP BY benchmark, model_a, model_b
    """


def paired_difference(d: list[float]) -> tuple[float, float | None, float | None, float | None]:
    """(mean, standard error, 95% low, 95% high) of paired differences, rules.md's estimator."""
    import numpy as np
    from scipy.special import stdtrit  # Student's t quantile (scipy.stats costs 1 s to import)

    values = np.asarray(d, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2:
        return mean, None, None, None
    se = float(values.std(ddof=1) / np.sqrt(values.size))
    half = float(stdtrit(values.size - 1, 0.975)) * se
    return mean, se, mean - half, mean + half


class ModelComparisons(Operator):
    """One row per (benchmark, model_a, model_b) sharing at least one task on the day(s)."""

    name = "model_comparisons"
    version = "2"
    outputs = (MODEL_COMPARISONS_TABLE,)
    inputs = ("sessions",)
    partial_schema = MODEL_COMPARISON_PARTIALS

    def __init__(self, window_days: int = 1) -> None:
        if window_days < 1:
            raise ValueError(f"window_days must be >= 1, got {window_days}")
        self.window_days = window_days
        self.lookback_days = window_days - 1

    @property
    def params(self) -> dict[str, int]:
        return {"window_days": self.window_days}

    def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.sql(PARTIALS_SQL)

    def merge(self, ctx: OpContext, batch: Batch) -> pa.Table:
        last = dt.date.fromisoformat(ctx.day)
        first = last - dt.timedelta(days=self.window_days - 1)
        rows: list[dict[str, Any]] = []
        for r in batch.sql(pairs_sql(first.isoformat(), last.isoformat())).to_pylist():
            diff, se, low, high = paired_difference(r.pop("d"))
            rows.append(
                {
                    **r,
                    "dt": ctx.day,
                    "diff": diff,
                    "diff_se": se,
                    "diff_ci_low": low,
                    "diff_ci_high": high,
                    "window_days": self.window_days,
                }
            )
        return pa.Table.from_pylist(rows, schema=MODEL_COMPARISONS)
