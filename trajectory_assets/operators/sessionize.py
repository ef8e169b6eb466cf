"""sessions, turns, errors, rejected_events, llm_calls and tool_calls from one read of a batch
of whole sessions.

The six tables share the same validated, de-duplicated event stream, so they are produced by
one operator (one Dagster multi-asset) and can never disagree about which events counted. The
cost of each llm_call is computed once, here (`priced` below): `llm_calls.cost_usd` is that cost,
and `turns.cost_usd` and `sessions.cost_usd` are sums of exactly those rows.

Prices: the pinned genai-prices database, overridden by the lake's `prices.yaml` when it has one
(the engine reads the file once per run and hands it over through `with_lake_files`, so the
transform stays pure).
"""

from collections.abc import Mapping

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.operator import OpContext, Operator
from trajectory_assets.operators.audit import recount
from trajectory_assets.operators.call_cost import priced_calls_sql
from trajectory_assets.operators.call_tables import LLM_CALLS_TABLE, TOOL_CALLS_TABLE
from trajectory_assets.operators.events import (
    CLEAN,
    REJECTED,
    SESSION,
    exact_sum,
    finite_score,
    folder_safe,
    not_blank,
    payload,
    payload_count,
    verdict,
)
from trajectory_assets.operators.loops import ARGUMENTS_HASH, LoopThresholds, loop_runs_sql
from trajectory_assets.operators.price_overrides import (
    OVERRIDES_FILE,
    PriceOverride,
    overrides_digest,
    parse_overrides,
)
from trajectory_assets.operators.pricing import (
    PRICING_VERSION,
    check_overrides,
    price_table,
    pricing_metadata,
)
from trajectory_assets.operators.session_tables import (
    DEFAULT_RUN,
    ERRORS_TABLE,
    REJECTED_EVENTS_TABLE,
    SESSIONS_TABLE,
    TURNS_TABLE,
)

LLM = "event_type = 'llm_call'"
TOOL = "event_type = 'tool_call'"
DURATION = "(epoch_us(max(ts)) - epoch_us(min(ts))) / 1000.0"


SPAN_AND_COUNTS = f"""
    min(ts) AS started_at, max(ts) AS ended_at, {DURATION} AS duration_ms,
    count(*) AS n_events,
    count(*) FILTER (WHERE {LLM}) AS n_llm_calls,
    count(*) FILTER (WHERE {TOOL}) AS n_tool_calls,
    count(*) FILTER (WHERE error_type IS NOT NULL) AS n_errors,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    coalesce(sum(cache_tokens), 0) AS cache_tokens"""
"""Aggregates sessions and turns share, so the two tables count events the same way."""


def _distinct_sorted(column: str, condition: str = "true") -> str:
    return f"coalesce(list_sort(list_distinct(list({column}) FILTER (WHERE {condition}))), [])"


def _last_of(event_type: str) -> str:
    """The last event of a type in each session (event order)."""
    return f"""
        SELECT * FROM clean WHERE event_type = '{event_type}'
        QUALIFY row_number() OVER (PARTITION BY {SESSION} ORDER BY rn DESC) = 1
    """


CALL_COLUMNS = """dt, app_id, session_id, turn_index, event_id, ts, rn AS event_position,
    agent_id, rn"""

LLM_CALLS = f"""
SELECT {CALL_COLUMNS}, request_id, model, ttft_ms, latency_ms, input_tokens, output_tokens,
    cache_tokens, cache_write_tokens, cache_added_to_input,
    {payload_count("cache_write_1h_tokens")} AS cache_write_1h_tokens,
    {payload_count("web_searches")} AS web_searches, error_type, error_code
FROM clean WHERE {LLM}
"""

LAST_CALL_RN = f"""max(rn) FILTER (WHERE event_type IN ('llm_call', 'tool_call'))
    OVER (PARTITION BY {SESSION}) AS last_call_rn"""
"""The session's last call, after which an error is terminal: one definition, so `tool_calls`
and `errors` agree on `is_terminal`."""

TOOL_CALLS = f"""
SELECT {CALL_COLUMNS}, tool_name, tool_latency_ms, error_type, error_code,
    {ARGUMENTS_HASH} AS arguments_hash,
    error_type IS NOT NULL AND last_call_rn <= rn AS is_terminal
FROM (
    SELECT *, {LAST_CALL_RN} FROM clean
) WHERE {TOOL}
"""
"""`is_terminal` as in `errors`: an erroring call after which no llm_call or tool_call comes."""


def _cost_of(keys: str) -> str:
    """Cost and unpriced calls per group of `keys`, from the priced llm_calls."""
    return f"""
        SELECT {keys}, {exact_sum("cost_usd")} AS cost_usd,
            count(*) FILTER (WHERE cost_usd IS NULL) AS n_llm_calls_unpriced
        FROM priced GROUP BY {keys}
    """


COST = """CASE WHEN n_llm_calls = 0 THEN 0.0 ELSE cost.cost_usd END AS cost_usd,
    coalesce(cost.n_llm_calls_unpriced, 0) AS n_llm_calls_unpriced"""
"""0 without llm_calls, null when there are some and none is priced."""


CLEAN_ERRORS = f"SELECT * REPLACE ({folder_safe('error_type')} AS error_type) FROM ({CLEAN})"
"""The valid events, `error_type` folder-safe: it names the partition folders of `errors`, and
every table of the multi-asset counts the same errors."""

_SCORE = f"TRY_CAST({payload('score', 'last_eval.payload')} AS DOUBLE)"


def sessions_sql(loops: LoopThresholds) -> str:
    return f"""
WITH agg AS (
    SELECT dt, app_id, session_id,
        {_distinct_sorted("agent_id")} AS agent_ids,
        {_distinct_sorted("model", LLM)} AS models,
        {SPAN_AND_COUNTS},
        count(DISTINCT turn_index) AS n_turns,
        quantile_cont(ttft_ms, 0.5) FILTER (WHERE {LLM}) AS ttft_ms_p50,
        quantile_cont(latency_ms, 0.5) FILTER (WHERE {LLM}) AS latency_ms_p50,
        quantile_cont(latency_ms, 0.95) FILTER (WHERE {LLM}) AS latency_ms_p95,
        coalesce(sum(tool_latency_ms), 0.0) AS tool_latency_ms_total
    FROM clean GROUP BY dt, app_id, session_id
),
last_end AS ({_last_of("session_end")}),
last_eval AS ({_last_of("eval_result")}),
cost AS ({_cost_of(SESSION)}),
loops AS ({loop_runs_sql("tool_calls_ordered", SESSION)})
SELECT agg.*, {COST},
    coalesce(loops.max_identical_tool_run, 0) AS max_identical_tool_run,
    coalesce(loops.max_ping_pong, 0) AS max_ping_pong,
    {loops.detected("loops.max_identical_tool_run", "loops.max_ping_pong")} AS loop_detected,
    coalesce({not_blank(payload("status", "last_end.payload"))}, 'unknown') AS status,
    {folder_safe(payload("benchmark", "last_eval.payload"))} AS eval_benchmark,
    {payload("task_id", "last_eval.payload")} AS eval_task_id,
    CASE WHEN last_eval.event_id IS NOT NULL
         THEN coalesce({payload("run_id", "last_eval.payload")}, '{DEFAULT_RUN}') END
         AS eval_run_id,
    CASE WHEN last_eval.event_id IS NOT NULL
         THEN coalesce({folder_safe("last_eval.model")}, 'unknown') END AS eval_model,
    {verdict(payload("passed", "last_eval.payload"))} AS eval_passed,
    {finite_score(_SCORE)} AS eval_score
FROM agg
LEFT JOIN last_end USING (app_id, session_id)
LEFT JOIN last_eval USING (app_id, session_id)
LEFT JOIN cost USING (app_id, session_id)
LEFT JOIN loops USING (app_id, session_id)
"""


TURNS = f"""
WITH agg AS (
SELECT dt, app_id, session_id, turn_index,
    first(agent_id ORDER BY rn) FILTER (WHERE agent_id IS NOT NULL) AS agent_id,
    first(model ORDER BY rn) FILTER (WHERE {LLM}) AS model,
    {SPAN_AND_COUNTS},
    first(ttft_ms ORDER BY rn) FILTER (WHERE {LLM}) AS ttft_ms,
    coalesce(sum(latency_ms) FILTER (WHERE {LLM}), 0.0) AS latency_ms_total,
    coalesce(sum(tool_latency_ms), 0.0) AS tool_latency_ms_total,
    {_distinct_sorted("tool_name", TOOL)} AS tools
FROM clean WHERE turn_index IS NOT NULL
GROUP BY dt, app_id, session_id, turn_index
),
cost AS ({_cost_of(SESSION + ", turn_index")} HAVING turn_index IS NOT NULL)
SELECT agg.*, {COST}
FROM agg LEFT JOIN cost USING (app_id, session_id, turn_index)
"""

ERRORS = f"""
SELECT dt, app_id, error_type, session_id, turn_index, event_id, ts, rn AS event_position,
    agent_id, error_code,
    event_type, tool_name, model, message, prev_event_type,
    last_call_rn IS NULL OR last_call_rn <= rn AS is_terminal, artifacts
FROM (
    SELECT *, {payload("message")} AS message,
        lag(event_type) OVER (PARTITION BY {SESSION} ORDER BY rn) AS prev_event_type,
        {LAST_CALL_RN}
    FROM clean
) WHERE error_type IS NOT NULL
"""
"""An error is terminal when no llm_call or tool_call comes after it; an erroring call is its
own last call, so it is terminal when nothing follows it."""


class Sessionize(Operator):
    """One read of raw events → sessions (per session), turns (per session and turn),
    errors (per error event), rejected_events (per invalid raw row), llm_calls and tool_calls
    (per valid, de-duplicated call).

    Parameters (run config; their values are in `params`, part of the operator's fingerprint,
    and so of every attempt key, beside `version`): the loop thresholds of
    `sessions.loop_detected`.
    """

    name = "sessionize"
    version = f"14+{PRICING_VERSION}"  # 9: cache counted apart added to input; 10: Bedrock ids
    # priced, cache writes as a whole-number float counted, 1-hour writes and web searches priced;
    # 11: a verdict of 1.0 passes, a blank status is unknown; 12: event_position; 13: fine-tunes
    # priced, an override covering its model's every spelling; 14: strict JSON payloads, a
    # verdict's text read spaces aside
    outputs = (
        SESSIONS_TABLE,
        TURNS_TABLE,
        ERRORS_TABLE,
        REJECTED_EVENTS_TABLE,
        LLM_CALLS_TABLE,
        TOOL_CALLS_TABLE,
    )
    inputs = ("raw_events",)
    lake_files = (OVERRIDES_FILE,)

    def __init__(self, identical_run_threshold: int = 3, ping_pong_threshold: int = 4) -> None:
        self.loops = LoopThresholds(identical_run_threshold, ping_pong_threshold)
        self.overrides: tuple[PriceOverride, ...] = ()

    @property
    def params(self) -> dict[str, int]:
        return {
            "identical_run_threshold": self.loops.identical_run,
            "ping_pong_threshold": self.loops.ping_pong,
        }

    def with_lake_files(self, files: Mapping[str, str | None]) -> "Sessionize":
        """A copy that prices calls with the lake's overrides (`prices.yaml`) over the database."""
        text = files.get(OVERRIDES_FILE)
        copy = type(self)(**self.params)
        copy.overrides = parse_overrides(text) if text else ()
        check_overrides(copy.overrides)
        return copy

    @property
    def lake_files_digest(self) -> str:
        return overrides_digest(self.overrides)

    def describe(self) -> dict[str, str]:
        """The price source, its version and the overrides used, for every materialization."""
        return pricing_metadata(self.overrides)

    def audit(
        self, ctx: OpContext, batch: Batch, outputs: Mapping[str, pa.Table]
    ) -> dict[str, int]:
        """The independent recount of the batch's raw events (operators/audit.py)."""
        return recount(batch.arrow(), outputs["rejected_events"])

    def transform(self, ctx: OpContext, batch: Batch) -> dict[str, pa.Table]:
        con = batch.duckdb()
        con.execute(f"CREATE OR REPLACE TEMP TABLE clean AS {CLEAN_ERRORS}")
        models = con.sql(f"SELECT DISTINCT model FROM clean WHERE {LLM}").fetchall()
        con.register("prices", price_table((m for (m,) in models), self.overrides))
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE priced AS {priced_calls_sql(f'({LLM_CALLS})', 'prices')}"
        )
        con.execute(f"CREATE OR REPLACE TEMP TABLE tool_calls_ordered AS {TOOL_CALLS}")
        return {
            "sessions": batch.sql(sessions_sql(self.loops)),
            "turns": batch.sql(TURNS),
            "errors": batch.sql(ERRORS),
            "rejected_events": batch.sql(REJECTED),
            "llm_calls": batch.sql("SELECT * EXCLUDE (rn) FROM priced"),
            "tool_calls": batch.sql("SELECT * EXCLUDE (rn) FROM tool_calls_ordered"),
        }
