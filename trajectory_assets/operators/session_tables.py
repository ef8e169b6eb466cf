"""Four of the six tables `sessionize` writes from one read of a batch of whole sessions (the
call tables are in `call_tables`): their columns, keys and partitions (tables.md)."""

import pyarrow as pa

from trajectory_assets.schema import (
    APP_ID,
    ARTIFACTS,
    SESSION_DAY,
    SESSION_ID,
    STRINGS,
    TS,
    TableSpec,
    column,
)

# The event-grained columns `errors` shares with `llm_calls` and `tool_calls`.
EVENT_TURN = column(
    "turn_index", pa.int32(), "The event's 0-based turn; null for session-level events."
)
EVENT_ID = column(
    "event_id", pa.string(), "The event's id (unique in its session after de-duplication)."
)
EVENT_TS = column("ts", TS, "When the event happened.")
EVENT_POSITION = column(
    "event_position",
    pa.int64(),
    "The event's 1-based position in its session's event order (`ts`, then `seq`, then "
    "`event_id`; copies of a re-sent event counted once): sort by it to read a session's calls "
    "and errors in order across tables, where `ts` ties.",
)
AGENT_ID = column("agent_id", pa.string(), "The event's `agent_id`.")
EVENT_COLUMNS = (EVENT_TURN, EVENT_ID, EVENT_TS, EVENT_POSITION, AGENT_ID)
"""Where in its session an event happened, and by whom."""

REJECTED_EVENTS = pa.schema(
    [
        column(
            "dt",
            pa.string(),
            "The `dt=` folder of the raw file the row was read from (YYYY-MM-DD).",
        ),
        column(
            "app_id",
            pa.string(),
            "The `app_id=` folder of its file, decoded (the row's own `app_id` is in `row`): a "
            "row's value may be any text, or another app's.",
        ),
        column(
            "source_file",
            pa.string(),
            "The raw file the row was read from, relative to the lake root.",
        ),
        column("source_row", pa.int64(), "The row's 0-based position in `source_file`."),
        column("event_id", pa.string(), "The row's `event_id` as written (may be null or empty)."),
        column(
            "reason",
            pa.string(),
            "Every validation rule the row breaks (e.g. `negative latency_ms`), separated by `; `.",
        ),
        column(
            "row",
            pa.string(),
            "The whole raw row (every Tier A column) as a JSON object; a NaN or infinite "
            'float as the text "NaN", "Infinity" or "-Infinity" (strict JSON); a value its '
            "column could not hold as null (`reason` shows it).",
        ),
    ]
)

DEFAULT_RUN = "default"
"""`eval_run_id` of an eval_result without a run id: results of many runs, no run of its own."""

SESSIONS = pa.schema(
    [
        SESSION_DAY,
        APP_ID,
        SESSION_ID,
        column(
            "agent_ids",
            STRINGS,
            "Distinct non-null `agent_id`s of the session's events, sorted; empty when none.",
        ),
        column(
            "models",
            STRINGS,
            "Distinct non-null `model`s of the session's llm_calls, sorted; empty when none.",
        ),
        column("started_at", TS, "`ts` of the session's first event (min ts)."),
        column("ended_at", TS, "`ts` of the session's last event (max ts)."),
        column("duration_ms", pa.float64(), "`ended_at - started_at`, ms."),
        column("n_events", pa.int64(), "The session's valid, de-duplicated events."),
        column("n_turns", pa.int64(), "Distinct non-null `turn_index` values of the session."),
        column("n_llm_calls", pa.int64(), "The session's `llm_call` events."),
        column("n_tool_calls", pa.int64(), "The session's `tool_call` events."),
        column(
            "n_errors",
            pa.int64(),
            "The session's events with a non-null `error_type` (any event type).",
        ),
        column(
            "input_tokens",
            pa.int64(),
            "Sum of `input_tokens` over the session's events (cached included; an llm_call's as "
            "`llm_calls` has it, see `cache_added_to_input`).",
        ),
        column("output_tokens", pa.int64(), "Sum of `output_tokens` over the session's events."),
        column("cache_tokens", pa.int64(), "Sum of `cache_tokens` over the session's events."),
        column(
            "ttft_ms_p50",
            pa.float64(),
            "Median `ttft_ms` of the session's llm_calls, ms (null when none has one).",
        ),
        column(
            "latency_ms_p50",
            pa.float64(),
            "Median `latency_ms` of the session's llm_calls, ms (null when none has one).",
        ),
        column(
            "latency_ms_p95",
            pa.float64(),
            "95th percentile of `latency_ms` of the session's llm_calls, ms "
            "(null when none has one).",
        ),
        column(
            "tool_latency_ms_total",
            pa.float64(),
            "Sum of `tool_latency_ms` over the session's events, ms (0 when none).",
        ),
        column(
            "status",
            pa.string(),
            "Payload `status` of the session's last `session_end`; `unknown` when there is none "
            "or its status is absent or blank.",
        ),
        column(
            "eval_benchmark",
            pa.string(),
            "Payload `benchmark` of the session's last `eval_result` (null when there is none or "
            "it has no benchmark); a non-null one makes the session an eval attempt.",
        ),
        column(
            "eval_task_id",
            pa.string(),
            "Payload `task_id` of the session's last `eval_result`; null when it has none.",
        ),
        column(
            "eval_run_id",
            pa.string(),
            "Payload `run_id` of the session's last `eval_result`, `default` when absent; null "
            "when the session has no `eval_result`.",
        ),
        column(
            "eval_model",
            pa.string(),
            "`model` of the session's last `eval_result`, `unknown` when null; null when the "
            "session has no `eval_result`.",
        ),
        column(
            "eval_passed",
            pa.bool_(),
            "Payload `passed` of the session's last `eval_result` as a boolean: true or false "
            "(or text DuckDB casts so, spaces aside: `yes`, `t`), or a number 1 or 0 however "
            "written (`1.0`, "
            '`"1"`); null when absent or anything else (`0.5`).',
        ),
        column(
            "eval_score",
            pa.float64(),
            "Payload `score` of the session's last `eval_result`, cast to float; null when "
            "absent or not castable.",
        ),
        column(
            "cost_usd",
            pa.float64(),
            "Sum of the `cost_usd` of every llm_call of the session (those outside any "
            "turn included), USD (0 when there is no llm_call; null when there are some "
            "and none is priced).",
        ),
        column(
            "n_llm_calls_unpriced",
            pa.int64(),
            "The session's llm_calls with a null `cost_usd` (non-zero: "
            "`cost_usd` is a lower bound).",
        ),
        column(
            "max_identical_tool_run",
            pa.int64(),
            "Longest run of consecutive tool calls with the same `tool_name` and `arguments_hash` "
            "(two nulls equal), over all the session's tool calls, across turns, those outside "
            "any turn included, in event order; 0 without tool calls.",
        ),
        column(
            "max_ping_pong",
            pa.int64(),
            "Longest run of consecutive tool calls alternating A, B, A, B, ... between two "
            "different (`tool_name`, `arguments_hash`) pairs, over all the session's tool calls, "
            "across turns, those outside any turn included; 0 below 4 calls.",
        ),
        column(
            "loop_detected",
            pa.bool_(),
            "`max_identical_tool_run >= identical_run_threshold` (default 3) or `max_ping_pong >= "
            "ping_pong_threshold` (default 4), both run config.",
        ),
    ]
)

TURNS = pa.schema(
    [
        SESSION_DAY,
        APP_ID,
        SESSION_ID,
        column(
            "turn_index",
            pa.int32(),
            "The 0-based turn (never null: events without a turn are in no row).",
        ),
        column(
            "agent_id",
            pa.string(),
            "First non-null `agent_id` of the turn's events, in event order.",
        ),
        column(
            "model",
            pa.string(),
            "`model` of the turn's first llm_call (null when the turn has none or "
            "that call has no model).",
        ),
        column("started_at", TS, "`ts` of the turn's first event."),
        column("ended_at", TS, "`ts` of the turn's last event."),
        column("duration_ms", pa.float64(), "`ended_at - started_at`, ms."),
        column("n_events", pa.int64(), "The turn's valid, de-duplicated events."),
        column("n_llm_calls", pa.int64(), "The turn's `llm_call` events."),
        column("n_tool_calls", pa.int64(), "The turn's `tool_call` events."),
        column("n_errors", pa.int64(), "The turn's events with a non-null `error_type`."),
        column(
            "input_tokens",
            pa.int64(),
            "Sum of `input_tokens` over the turn's events (cached included; an llm_call's as "
            "`llm_calls` has it, see `cache_added_to_input`).",
        ),
        column("output_tokens", pa.int64(), "Sum of `output_tokens` over the turn's events."),
        column("cache_tokens", pa.int64(), "Sum of `cache_tokens` over the turn's events."),
        column(
            "ttft_ms",
            pa.float64(),
            "`ttft_ms` of the turn's first llm_call, ms (null when the turn has none or "
            "that call has no TTFT).",
        ),
        column(
            "latency_ms_total",
            pa.float64(),
            "Sum of `latency_ms` over the turn's llm_calls, ms (0 when none).",
        ),
        column(
            "tool_latency_ms_total",
            pa.float64(),
            "Sum of `tool_latency_ms` over the turn's events, ms (0 when none).",
        ),
        column(
            "tools",
            STRINGS,
            "Distinct non-null `tool_name`s of the turn's tool_calls, sorted; empty when none.",
        ),
        column(
            "cost_usd",
            pa.float64(),
            "Sum of the `cost_usd` of the turn's llm_calls, USD (0 when there is no llm_call; "
            "null when there are some and none is priced).",
        ),
        column("n_llm_calls_unpriced", pa.int64(), "The turn's llm_calls with a null `cost_usd`."),
    ]
)

ERRORS = pa.schema(
    [
        SESSION_DAY,
        APP_ID,
        column(
            "error_type",
            pa.string(),
            "The event's `error_type` (never null: that is what makes it an error).",
        ),
        SESSION_ID,
        *EVENT_COLUMNS,
        column("error_code", pa.string(), "The event's `error_code`."),
        column(
            "event_type",
            pa.string(),
            "Type of the erroring event (`error`, `llm_call`, `tool_call`, ...).",
        ),
        column("tool_name", pa.string(), "The event's `tool_name`."),
        column("model", pa.string(), "The event's `model`."),
        column(
            "message",
            pa.string(),
            "Payload `message`; null when absent or the payload is not JSON.",
        ),
        column(
            "prev_event_type",
            pa.string(),
            "`event_type` of the event before it in the session; null for the "
            "session's first event.",
        ),
        column(
            "is_terminal",
            pa.bool_(),
            "No `llm_call` or `tool_call` comes after it in the session (an erroring call counts "
            "as itself, not as one that follows).",
        ),
        column("artifacts", ARTIFACTS, "The event's `artifacts` (`kind`, `uri`)."),
    ]
)


SESSIONS_TABLE = TableSpec(
    "sessions",
    SESSIONS,
    partition_by=("app_id",),
    keys=("app_id", "session_id"),
    description="One row per session: counts, tokens, latency, cost, loops, status, eval outcome.",
)


TURNS_TABLE = TableSpec(
    "turns",
    TURNS,
    partition_by=("app_id",),
    keys=("app_id", "session_id", "turn_index"),
    description="One row per (session, turn): counts, tokens, first-call model and TTFT, tools.",
)


ERRORS_TABLE = TableSpec(
    "errors",
    ERRORS,
    partition_by=("app_id", "error_type"),
    keys=("app_id", "session_id", "event_id"),
    description="One row per error event, with the event before it and whether it was terminal.",
)


REJECTED_EVENTS_TABLE = TableSpec(
    "rejected_events",
    REJECTED_EVENTS,
    partition_by=("app_id",),
    keys=("app_id", "source_file", "source_row"),
    description="One row per raw row that failed validation, with every reason.",
)
