"""eval_runs: pass rates per (benchmark, model, run_id), from the day's `sessions`.

Two phases, so a run whose attempts are spread over many batches gets the same answer as one
batch: each batch emits partial sums per (run, task) (with the raw durations, since a median does
not merge from partial medians), and one merge per day folds them into one row per run.

Cost: `cost_usd` sums the attempts' `sessions.cost_usd` (null when every attempt's cost is null,
i.e. none of their calls is priced); `cost_per_passed_task` = cost_usd / n_tasks_passed (null when
no task passed); `n_llm_calls_unpriced` sums the attempts' unpriced calls, so a run whose cost
leaves some calls out says so.
"""

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.operator import OpContext, Operator
from trajectory_assets.operators.events import EXACT_TYPE, exact_mean, exact_sum, exact_total
from trajectory_assets.schema import TableSpec, column

EVAL_RUNS = pa.schema(
    [
        column("dt", pa.string(), "The day of the attempts' sessions (YYYY-MM-DD)."),
        column("benchmark", pa.string(), "The attempts' `eval_benchmark`."),
        column(
            "model",
            pa.string(),
            "The attempts' `eval_model` (`unknown` when the eval_result had none).",
        ),
        column(
            "run_id",
            pa.string(),
            "The attempts' `eval_run_id` (`default` when the eval_result had none).",
        ),
        column(
            "n_attempts",
            pa.int64(),
            "Attempts: sessions with this benchmark, model and run (null task ids included).",
        ),
        column("n_tasks", pa.int64(), "Distinct non-null `eval_task_id`s of the attempts."),
        column("n_tasks_passed", pa.int64(), "Tasks with at least one passed attempt."),
        column("pass_rate", pa.float64(), "Attempts with `eval_passed` true / `n_attempts`."),
        column(
            "pass_at_1",
            pa.float64(),
            "Mean over tasks of c/n, c passed of the task's n attempts (null task ids "
            "excluded; null when no task).",
        ),
        column(
            "mean_score",
            pa.float64(),
            "Mean `eval_score` of the attempts (null when none has one).",
        ),
        column("input_tokens", pa.int64(), "Sum of the attempts' sessions' `input_tokens`."),
        column("output_tokens", pa.int64(), "Sum of the attempts' sessions' `output_tokens`."),
        column(
            "session_duration_ms_p50",
            pa.float64(),
            "Median `duration_ms` of the attempts' sessions, ms.",
        ),
        column(
            "error_session_rate",
            pa.float64(),
            "Attempts whose session has at least one error / `n_attempts`.",
        ),
        column(
            "cost_usd",
            pa.float64(),
            "Sum of the attempts' `sessions.cost_usd`, USD (null when every attempt's "
            "`cost_usd` is null).",
        ),
        column(
            "cost_per_passed_task",
            pa.float64(),
            "`cost_usd / n_tasks_passed`, USD (null when no task passed).",
        ),
        column(
            "n_llm_calls_unpriced",
            pa.int64(),
            "Sum of the attempts' `sessions.n_llm_calls_unpriced` (non-zero: "
            "`cost_usd` is a lower bound).",
        ),
    ]
)

EVAL_PARTIALS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("benchmark", pa.string()),
        pa.field("model", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("task_id", pa.string()),
        pa.field("n_attempts", pa.int64()),
        pa.field("n_passed", pa.int64()),
        pa.field("score_sum", EXACT_TYPE),
        pa.field("score_count", pa.int64()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("n_error_sessions", pa.int64()),
        pa.field("durations_ms", pa.list_(pa.float64())),
        pa.field("cost_usd", EXACT_TYPE),
        pa.field("n_llm_calls_unpriced", pa.int64()),
    ]
)
"""Phase one of `eval_runs`: one row per (run group, task) and batch; merged once per group."""


EVAL_RUNS_TABLE = TableSpec(
    "eval_runs",
    EVAL_RUNS,
    partition_by=("benchmark", "model"),
    keys=("benchmark", "model", "run_id"),
    description="One row per (benchmark, model, run_id): attempts, pass rate, pass@1, cost.",
)


PARTIALS_SQL = f"""
SELECT dt, eval_benchmark AS benchmark, eval_model AS model, eval_run_id AS run_id,
    eval_task_id AS task_id,
    count(*) AS n_attempts,
    count(*) FILTER (WHERE eval_passed) AS n_passed,
    coalesce({exact_total("eval_score")}, 0) AS score_sum,
    count(eval_score) AS score_count,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    count(*) FILTER (WHERE n_errors > 0) AS n_error_sessions,
    coalesce(list(duration_ms) FILTER (WHERE duration_ms IS NOT NULL), []) AS durations_ms,
    {exact_total("cost_usd")} AS cost_usd,
    coalesce(sum(n_llm_calls_unpriced), 0) AS n_llm_calls_unpriced
FROM sessions WHERE eval_benchmark IS NOT NULL
GROUP BY dt, benchmark, model, run_id, task_id
"""

MERGE_SQL = f"""
WITH tasks AS (
    SELECT dt, benchmark, model, run_id, task_id,
        sum(n_attempts) AS n_attempts, sum(n_passed) AS n_passed,
        {exact_total("score_sum")} AS score_sum, sum(score_count) AS score_count,
        sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
        sum(n_error_sessions) AS n_error_sessions,
        flatten(list(durations_ms)) AS durations_ms,
        {exact_total("cost_usd")} AS cost_usd, sum(n_llm_calls_unpriced) AS n_llm_calls_unpriced
    FROM _partials GROUP BY ALL
),
durations AS (
    SELECT dt, benchmark, model, run_id, quantile_cont(d, 0.5) AS p50
    FROM (SELECT dt, benchmark, model, run_id, unnest(durations_ms) AS d FROM tasks)
    GROUP BY ALL
)
SELECT t.dt, t.benchmark, t.model, t.run_id,
    sum(n_attempts) AS n_attempts,
    count(DISTINCT task_id) AS n_tasks,
    count(DISTINCT task_id) FILTER (WHERE n_passed > 0) AS n_tasks_passed,
    sum(n_passed) / nullif(sum(n_attempts), 0) AS pass_rate,
    {exact_mean("CASE WHEN task_id IS NOT NULL THEN n_passed / n_attempts END")} AS pass_at_1,
    {exact_sum("score_sum")} / nullif(sum(score_count), 0) AS mean_score,
    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
    any_value(d.p50) AS session_duration_ms_p50,
    sum(n_error_sessions) / nullif(sum(n_attempts), 0) AS error_session_rate,
    {exact_sum("t.cost_usd")} AS cost_usd,
    {exact_sum("t.cost_usd")} / nullif(count(DISTINCT task_id) FILTER (WHERE n_passed > 0), 0)
        AS cost_per_passed_task,
    sum(n_llm_calls_unpriced) AS n_llm_calls_unpriced
FROM tasks t LEFT JOIN durations d USING (dt, benchmark, model, run_id)
GROUP BY t.dt, t.benchmark, t.model, t.run_id
"""


class EvalRuns(Operator):
    """One row per (benchmark, model, run_id) of a day; attempts are sessions with a benchmark."""

    name = "eval_runs"
    version = "2"
    outputs = (EVAL_RUNS_TABLE,)
    inputs = ("sessions",)
    partial_schema = EVAL_PARTIALS

    def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.sql(PARTIALS_SQL)

    def merge(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.sql(MERGE_SQL)
