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

from trajectory_assets.engine.batch import Batch
from trajectory_assets.engine.operator import OpContext, Operator
from trajectory_assets.operators.events import exact_sum
from trajectory_assets.schema import EVAL_PARTIALS

PARTIALS_SQL = f"""
SELECT dt, eval_benchmark AS benchmark, eval_model AS model, eval_run_id AS run_id,
    eval_task_id AS task_id,
    count(*) AS n_attempts,
    count(*) FILTER (WHERE eval_passed) AS n_passed,
    coalesce({exact_sum("eval_score")}, 0.0) AS score_sum,
    count(eval_score) AS score_count,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    count(*) FILTER (WHERE n_errors > 0) AS n_error_sessions,
    coalesce(list(duration_ms) FILTER (WHERE duration_ms IS NOT NULL), []) AS durations_ms,
    {exact_sum("cost_usd")} AS cost_usd,
    coalesce(sum(n_llm_calls_unpriced), 0) AS n_llm_calls_unpriced
FROM sessions WHERE eval_benchmark IS NOT NULL
GROUP BY dt, benchmark, model, run_id, task_id
"""

MERGE_SQL = f"""
WITH tasks AS (
    SELECT dt, benchmark, model, run_id, task_id,
        sum(n_attempts) AS n_attempts, sum(n_passed) AS n_passed,
        {exact_sum("score_sum")} AS score_sum, sum(score_count) AS score_count,
        sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
        sum(n_error_sessions) AS n_error_sessions,
        flatten(list(durations_ms)) AS durations_ms,
        {exact_sum("cost_usd")} AS cost_usd, sum(n_llm_calls_unpriced) AS n_llm_calls_unpriced
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
    avg(n_passed / n_attempts) FILTER (WHERE task_id IS NOT NULL) AS pass_at_1,
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
    outputs = ("eval_runs",)
    inputs = ("sessions",)
    requires = None
    partial_schema = EVAL_PARTIALS

    def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.sql(PARTIALS_SQL)

    def merge(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.sql(MERGE_SQL)
