"""Arrow schemas of every table in SPEC.md: the one place column names and types are defined.

Each Tier B schema carries its partition columns inside the files as well as in the folder names,
so a single file read on its own still has every column of SPEC.md.
"""

from dataclasses import dataclass

import pyarrow as pa

SCHEMA_VERSION = 1

TS = pa.timestamp("us", tz="UTC")
ARTIFACTS = pa.list_(pa.struct([("kind", pa.string()), ("uri", pa.string())]))
STRINGS = pa.list_(pa.string())

EVENT_TYPES = (
    "session_start",
    "session_end",
    "user_message",
    "agent_message",
    "llm_call",
    "tool_call",
    "error",
    "decision",
    "eval_result",
)

RAW_EVENTS = pa.schema(
    [
        pa.field("event_id", pa.string(), nullable=False),
        pa.field("app_id", pa.string(), nullable=False),
        pa.field("session_id", pa.string(), nullable=False),
        pa.field("ts", TS, nullable=False),
        pa.field("seq", pa.int64()),
        pa.field("event_type", pa.string(), nullable=False),
        pa.field("turn_index", pa.int32()),
        pa.field("agent_id", pa.string()),
        pa.field("request_id", pa.string()),
        pa.field("model", pa.string()),
        pa.field("tool_name", pa.string()),
        pa.field("ttft_ms", pa.float64()),
        pa.field("latency_ms", pa.float64()),
        pa.field("tool_latency_ms", pa.float64()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("cache_tokens", pa.int64()),
        pa.field("error_type", pa.string()),
        pa.field("error_code", pa.string()),
        pa.field("payload", pa.string()),
        pa.field("artifacts", ARTIFACTS),
    ]
)
"""Tier A as producers write it. `dt` is not a column of the files: it is the folder."""

RAW_REQUIRED = ("event_id", "app_id", "session_id", "ts", "event_type")
NON_NEGATIVE = (
    "ttft_ms",
    "latency_ms",
    "tool_latency_ms",
    "input_tokens",
    "output_tokens",
    "cache_tokens",
)

FLOAT_METRICS = ("ttft_ms", "latency_ms", "tool_latency_ms")
"""NaN in these is rejected too: a NaN would turn every percentile and ratio it touches into NaN."""

EVENTS = pa.schema(
    [
        pa.field("dt", pa.string()),
        *[f.with_nullable(True) for f in RAW_EVENTS],
        pa.field("source_file", pa.string()),
        pa.field("source_row", pa.int64()),
    ]
)
"""Raw events as the operators see them: every file conformed to RAW_EVENTS (nullable, since
validation happens in the operators), plus the `dt` folder and where each row came from."""

REJECTED_EVENTS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("source_file", pa.string()),
        pa.field("source_row", pa.int64()),
        pa.field("event_id", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("row", pa.string()),
    ]
)

SESSIONS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("agent_ids", STRINGS),
        pa.field("models", STRINGS),
        pa.field("started_at", TS),
        pa.field("ended_at", TS),
        pa.field("duration_ms", pa.float64()),
        pa.field("n_events", pa.int64()),
        pa.field("n_turns", pa.int64()),
        pa.field("n_llm_calls", pa.int64()),
        pa.field("n_tool_calls", pa.int64()),
        pa.field("n_errors", pa.int64()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("cache_tokens", pa.int64()),
        pa.field("ttft_ms_p50", pa.float64()),
        pa.field("latency_ms_p50", pa.float64()),
        pa.field("latency_ms_p95", pa.float64()),
        pa.field("tool_latency_ms_total", pa.float64()),
        pa.field("status", pa.string()),
        pa.field("eval_benchmark", pa.string()),
        pa.field("eval_task_id", pa.string()),
        pa.field("eval_run_id", pa.string()),
        pa.field("eval_model", pa.string()),
        pa.field("eval_passed", pa.bool_()),
        pa.field("eval_score", pa.float64()),
        pa.field("cost_usd", pa.float64()),
        pa.field("n_llm_calls_unpriced", pa.int64()),
        pa.field("max_identical_tool_run", pa.int64()),
        pa.field("max_ping_pong", pa.int64()),
        pa.field("loop_detected", pa.bool_()),
    ]
)

TURNS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("turn_index", pa.int32()),
        pa.field("agent_id", pa.string()),
        pa.field("model", pa.string()),
        pa.field("started_at", TS),
        pa.field("ended_at", TS),
        pa.field("duration_ms", pa.float64()),
        pa.field("n_events", pa.int64()),
        pa.field("n_llm_calls", pa.int64()),
        pa.field("n_tool_calls", pa.int64()),
        pa.field("n_errors", pa.int64()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("cache_tokens", pa.int64()),
        pa.field("ttft_ms", pa.float64()),
        pa.field("latency_ms_total", pa.float64()),
        pa.field("tool_latency_ms_total", pa.float64()),
        pa.field("tools", STRINGS),
        pa.field("cost_usd", pa.float64()),
        pa.field("n_llm_calls_unpriced", pa.int64()),
    ]
)

TURN_FEATURES = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("turn_index", pa.int32()),
        pa.field("cache_hit_ratio", pa.float64()),
        pa.field("output_tokens_per_s", pa.float64()),
        pa.field("tool_calls_per_llm_call", pa.float64()),
        pa.field("repeated_tool_calls", pa.int64()),
        pa.field("think_time_ms", pa.float64()),
        pa.field("cum_input_tokens", pa.int64()),
        pa.field("cum_output_tokens", pa.int64()),
        pa.field("is_last_turn", pa.bool_()),
        pa.field("had_error", pa.bool_()),
        pa.field("max_identical_tool_run", pa.int64()),
        pa.field("max_ping_pong", pa.int64()),
        pa.field("loop_detected", pa.bool_()),
    ]
)

ERRORS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("error_type", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("turn_index", pa.int32()),
        pa.field("event_id", pa.string()),
        pa.field("ts", TS),
        pa.field("error_code", pa.string()),
        pa.field("event_type", pa.string()),
        pa.field("tool_name", pa.string()),
        pa.field("model", pa.string()),
        pa.field("message", pa.string()),
        pa.field("prev_event_type", pa.string()),
        pa.field("is_terminal", pa.bool_()),
        pa.field("artifacts", ARTIFACTS),
    ]
)

EVAL_RUNS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("benchmark", pa.string()),
        pa.field("model", pa.string()),
        pa.field("run_id", pa.string()),
        pa.field("n_attempts", pa.int64()),
        pa.field("n_tasks", pa.int64()),
        pa.field("n_tasks_passed", pa.int64()),
        pa.field("pass_rate", pa.float64()),
        pa.field("pass_at_1", pa.float64()),
        pa.field("mean_score", pa.float64()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("session_duration_ms_p50", pa.float64()),
        pa.field("error_session_rate", pa.float64()),
        pa.field("cost_usd", pa.float64()),
        pa.field("cost_per_passed_task", pa.float64()),
        pa.field("n_llm_calls_unpriced", pa.int64()),
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
        pa.field("score_sum", pa.float64()),
        pa.field("score_count", pa.int64()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("n_error_sessions", pa.int64()),
        pa.field("durations_ms", pa.list_(pa.float64())),
        pa.field("cost_usd", pa.float64()),
        pa.field("n_llm_calls_unpriced", pa.int64()),
    ]
)
"""Phase one of `eval_runs`: one row per (run group, task) and batch; merged once per group."""

DECISION_STEPS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("step", pa.string()),
        pa.field("n_items", pa.int64()),
        pa.field("kept", pa.int64()),
        pa.field("eliminated", pa.int64()),
        pa.field("scored", pa.int64()),
        pa.field("elimination_ratio", pa.float64()),
        pa.field("first_ts", TS),
        pa.field("last_ts", TS),
    ]
)

LLM_CALLS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("turn_index", pa.int32()),
        pa.field("event_id", pa.string()),
        pa.field("ts", TS),
        pa.field("agent_id", pa.string()),
        pa.field("request_id", pa.string()),
        pa.field("model", pa.string()),
        pa.field("ttft_ms", pa.float64()),
        pa.field("latency_ms", pa.float64()),
        pa.field("input_tokens", pa.int64()),
        pa.field("output_tokens", pa.int64()),
        pa.field("cache_tokens", pa.int64()),
        pa.field("error_type", pa.string()),
        pa.field("error_code", pa.string()),
        pa.field("cost_usd", pa.float64()),
    ]
)

TOOL_CALLS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("turn_index", pa.int32()),
        pa.field("event_id", pa.string()),
        pa.field("ts", TS),
        pa.field("agent_id", pa.string()),
        pa.field("tool_name", pa.string()),
        pa.field("tool_latency_ms", pa.float64()),
        pa.field("error_type", pa.string()),
        pa.field("error_code", pa.string()),
        pa.field("arguments_hash", pa.string()),
        pa.field("is_terminal", pa.bool_()),
    ]
)

TOOL_STATS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("tool_name", pa.string()),
        pa.field("n_calls", pa.int64()),
        pa.field("n_errors", pa.int64()),
        pa.field("failure_rate", pa.float64()),
        pa.field("latency_ms_p50", pa.float64()),
        pa.field("latency_ms_p95", pa.float64()),
        pa.field("n_sessions", pa.int64()),
        pa.field("terminal_error_share", pa.float64()),
        pa.field("top_error_type", pa.string()),
    ]
)

TOOL_STATS_PARTIALS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("app_id", pa.string()),
        pa.field("tool_name", pa.string()),
        pa.field("session_id", pa.string()),
        pa.field("n_calls", pa.int64()),
        pa.field("n_errors", pa.int64()),
        pa.field("n_terminal_errors", pa.int64()),
        pa.field("latencies_ms", pa.list_(pa.float64())),
        pa.field("error_types", STRINGS),
    ]
)
"""Phase one of `tool_stats`: one row per (app, tool, session) and batch, with the raw latencies
and error types (percentiles and modes do not merge from partial ones); merged once per day."""

MODEL_COMPARISONS = pa.schema(
    [
        pa.field("dt", pa.string()),
        pa.field("benchmark", pa.string()),
        pa.field("model_a", pa.string()),
        pa.field("model_b", pa.string()),
        pa.field("n_tasks", pa.int64()),
        pa.field("pass_at_1_a", pa.float64()),
        pa.field("pass_at_1_b", pa.float64()),
        pa.field("diff", pa.float64()),
        pa.field("diff_se", pa.float64()),
        pa.field("diff_ci_low", pa.float64()),
        pa.field("diff_ci_high", pa.float64()),
        pa.field("mean_cost_diff", pa.float64()),
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
        pa.field("cost_sum", pa.float64()),
        pa.field("n_priced", pa.int64()),
    ]
)
"""Phase one of `model_comparisons`: one row per (day, benchmark, model, task) and batch."""


@dataclass(frozen=True)
class TableSpec:
    """A table's contract: its columns, its folder keys below `dt`, its key (rows are unique on
    it and sorted by it), and the version of this contract recorded in every manifest."""

    name: str
    schema: pa.Schema
    partition_by: tuple[str, ...]
    keys: tuple[str, ...]
    schema_version: int = SCHEMA_VERSION
    format: str = "parquet"


TIER_B: dict[str, TableSpec] = {
    t.name: t
    for t in (
        TableSpec("sessions", SESSIONS, ("app_id",), ("app_id", "session_id")),
        TableSpec("turns", TURNS, ("app_id",), ("app_id", "session_id", "turn_index")),
        TableSpec(
            "turn_features", TURN_FEATURES, ("app_id",), ("app_id", "session_id", "turn_index")
        ),
        TableSpec("errors", ERRORS, ("app_id", "error_type"), ("app_id", "session_id", "event_id")),
        TableSpec("eval_runs", EVAL_RUNS, ("benchmark", "model"), ("benchmark", "model", "run_id")),
        TableSpec("decision_steps", DECISION_STEPS, ("app_id",), ("app_id", "session_id", "step")),
        TableSpec(
            "rejected_events",
            REJECTED_EVENTS,
            ("app_id",),
            ("app_id", "source_file", "source_row"),
        ),
        TableSpec("llm_calls", LLM_CALLS, ("app_id",), ("app_id", "session_id", "event_id")),
        TableSpec("tool_calls", TOOL_CALLS, ("app_id",), ("app_id", "session_id", "event_id")),
        TableSpec("tool_stats", TOOL_STATS, ("app_id",), ("app_id", "tool_name")),
        TableSpec(
            "model_comparisons",
            MODEL_COMPARISONS,
            ("benchmark",),
            ("benchmark", "model_a", "model_b"),
        ),
    )
}

RAW_COMPACTED = TableSpec(
    "raw_compacted",
    EVENTS,
    (),
    ("app_id", "session_id", "ts", "source_file", "source_row"),
)
"""Raw events unchanged (invalid rows included), a few files per day and app instead of one or
more per session, each file holding whole sessions of one app sorted by session and time. The
session operators read it instead of the raw files when it is fresh; Tier A itself is never
modified. Partitioned by day only: `app_id` stays a column exactly as the producer wrote it
(a partition value could not keep an empty app id apart from a null one)."""

TABLES: dict[str, TableSpec] = {**TIER_B, RAW_COMPACTED.name: RAW_COMPACTED}
"""Every table the pipeline writes: the Tier B tables of SPEC.md and the compacted raw events."""
