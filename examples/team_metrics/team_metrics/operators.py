"""Two operators of the kind a team writes on day two, using only the public API.

- `SlowTurns` (one output): turns whose time to first token or total model latency passes a
  threshold the run config sets, with their session's status.
- `ModelUsage` (two outputs, two phases): per day, each model's usage across sessions, and per
  session, how often the agent switched models.
"""

import pyarrow as pa

import trajectory_assets as ta

TS = pa.timestamp("us", tz="UTC")

SLOW_TURNS = ta.TableSpec(
    "slow_turns",
    pa.schema(
        [
            ta.column("dt", pa.string(), "The turn's day (its session's first event, UTC)."),
            ta.column("app_id", pa.string(), "The app."),
            ta.column("session_id", pa.string(), "The session."),
            ta.column("turn_index", pa.int32(), "The turn, 0-based."),
            ta.column("model", pa.string(), "Model of the turn's first llm_call."),
            ta.column("ttft_ms", pa.float64(), "Time to first token of that call, ms."),
            ta.column("latency_ms_total", pa.float64(), "Latency of all its llm_calls, ms."),
            ta.column("slow_because", pa.string(), "`ttft`, `latency` or `both`."),
            ta.column("session_status", pa.string(), "How the session ended (sessions.status)."),
        ]
    ),
    partition_by=("app_id",),
    keys=("app_id", "session_id", "turn_index"),
    description="One row per turn whose TTFT or total latency passes the run's thresholds.",
)

MODEL_USAGE = ta.TableSpec(
    "model_usage",
    pa.schema(
        [
            ta.column("dt", pa.string(), "The day."),
            ta.column("app_id", pa.string(), "The app."),
            ta.column("model", pa.string(), "The model (`unknown` when calls name none)."),
            ta.column("n_calls", pa.int64(), "llm_calls to it."),
            ta.column("n_sessions", pa.int64(), "Sessions that called it."),
            ta.column("input_tokens", pa.int64(), "Input tokens, cached ones included."),
            ta.column("output_tokens", pa.int64(), "Output tokens."),
            ta.column("cost_usd", pa.float64(), "Cost of its priced calls (null: none priced)."),
        ]
    ),
    partition_by=("app_id",),
    keys=("app_id", "model"),
    description="One row per (app, model) of the day: calls, sessions, tokens, cost.",
)

MODEL_SWITCHES = ta.TableSpec(
    "model_switches",
    pa.schema(
        [
            ta.column("dt", pa.string(), "The session's day."),
            ta.column("app_id", pa.string(), "The app."),
            ta.column("session_id", pa.string(), "The session."),
            ta.column("n_models", pa.int64(), "Distinct models its llm_calls used."),
            ta.column("n_switches", pa.int64(), "llm_calls whose model is not the one before's."),
            ta.column("first_model", pa.string(), "Model of its first llm_call."),
            ta.column("last_model", pa.string(), "Model of its last llm_call."),
        ]
    ),
    partition_by=("app_id",),
    keys=("app_id", "session_id"),
    description="One row per session with llm_calls: how many models it used and switched.",
)


class SlowTurns(ta.Operator):
    """Turns slower than the thresholds; both are run config (`slow_turns` in the launchpad)."""

    name = "slow_turns"
    version = "1"
    inputs = ("turns", "sessions")
    outputs = (SLOW_TURNS,)

    def __init__(self, ttft_ms: float = 2000.0, latency_ms: float = 20000.0) -> None:
        self.ttft_ms = ttft_ms
        self.latency_ms = latency_ms

    @property
    def params(self) -> dict[str, float]:
        return {"ttft_ms": self.ttft_ms, "latency_ms": self.latency_ms}

    def transform(self, ctx: ta.OpContext, batch: ta.Batch) -> pa.Table:
        return batch.sql(
            f"""
            SELECT t.dt, t.app_id, t.session_id, t.turn_index, t.model, t.ttft_ms,
                t.latency_ms_total,
                CASE WHEN t.ttft_ms > {self.ttft_ms} AND t.latency_ms_total > {self.latency_ms}
                     THEN 'both'
                     WHEN t.ttft_ms > {self.ttft_ms} THEN 'ttft' ELSE 'latency' END
                    AS slow_because,
                s.status AS session_status
            FROM turns t LEFT JOIN sessions s USING (app_id, session_id)
            WHERE t.ttft_ms > {self.ttft_ms} OR t.latency_ms_total > {self.latency_ms}
            """
        )


PARTIALS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("model", pa.string()),
        pa.field("n_calls", pa.int64()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("cost_usd", pa.float64()),
        pa.field("n_switches", pa.int64()),
        pa.field("first_model", pa.string()),
        pa.field("last_model", pa.string()),
    ]
)
"""One row per (session, model) of a batch, with the session's switches repeated on each."""


class ModelUsage(ta.Operator):
    """Per-model usage of a day merges sessions of every batch, so it is two-phase: a batch sums
    per (session, model) and counts each session's switches (a batch of `llm_calls` files holds
    whole sessions), and one merge per day adds sessions up per model."""

    name = "model_usage"
    version = "1"
    inputs = ("llm_calls",)
    outputs = (MODEL_USAGE, MODEL_SWITCHES)
    partial_schema = PARTIALS

    def transform(self, ctx: ta.OpContext, batch: ta.Batch) -> pa.Table:
        return batch.sql(
            """
            WITH calls AS (
                SELECT *, coalesce(model, 'unknown') AS m,
                    lag(coalesce(model, 'unknown')) OVER session_order AS previous
                FROM llm_calls
                WINDOW session_order AS (PARTITION BY app_id, session_id ORDER BY ts, event_id)
            ),
            sessions AS (
                SELECT app_id, session_id,
                    count(*) FILTER (WHERE previous IS NOT NULL AND m <> previous) AS n_switches,
                    arg_min(m, (ts, event_id)) AS first_model,
                    arg_max(m, (ts, event_id)) AS last_model
                FROM calls GROUP BY app_id, session_id
            )
            SELECT c.dt, c.app_id, c.session_id, c.m AS model, count(*) AS n_calls,
                coalesce(sum(c.input_tokens), 0) AS input_tokens,
                coalesce(sum(c.output_tokens), 0) AS output_tokens,
                CAST(sum(CAST(c.cost_usd AS DECIMAL(38, 18))) AS DOUBLE) AS cost_usd,
                any_value(s.n_switches) AS n_switches,
                any_value(s.first_model) AS first_model,
                any_value(s.last_model) AS last_model
            FROM calls c JOIN sessions s USING (app_id, session_id)
            GROUP BY c.dt, c.app_id, c.session_id, c.m
            """
        )

    def merge(self, ctx: ta.OpContext, batch: ta.Batch) -> dict[str, pa.Table]:
        return {
            "model_usage": batch.sql(
                """
                SELECT dt, app_id, model, sum(n_calls) AS n_calls,
                    count(DISTINCT session_id) AS n_sessions,
                    sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
                    CAST(sum(CAST(cost_usd AS DECIMAL(38, 18))) AS DOUBLE) AS cost_usd
                FROM _partials GROUP BY dt, app_id, model
                """
            ),
            "model_switches": batch.sql(
                """
                SELECT dt, app_id, session_id, count(DISTINCT model) AS n_models,
                    any_value(n_switches) AS n_switches, any_value(first_model) AS first_model,
                    any_value(last_model) AS last_model
                FROM _partials GROUP BY dt, app_id, session_id
                """
            ),
        }
