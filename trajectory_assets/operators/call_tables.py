"""The call-grained tables `sessionize` writes beside `sessions` (`llm_calls`, `tool_calls`): one
row per valid, de-duplicated call, so latency, tokens and cost can be cut by call without
re-reading the raw lake."""

import pyarrow as pa

from trajectory_assets.operators.session_tables import EVENT_COLUMNS
from trajectory_assets.schema import APP_ID, SESSION_DAY, SESSION_ID, TableSpec, column

CALL_ERROR_TYPE = column(
    "error_type", pa.string(), "The call's `error_type`; null when it succeeded."
)
CALL_ERROR_CODE = column("error_code", pa.string(), "The call's `error_code`.")

CALL_KEYS = (SESSION_DAY, APP_ID, SESSION_ID, *EVENT_COLUMNS)
"""The columns every call table starts with: where and when the call happened, and by whom."""

LLM_CALLS = pa.schema(
    [
        *CALL_KEYS,
        column("request_id", pa.string(), "The event's `request_id`."),
        column("model", pa.string(), "The model called."),
        column("ttft_ms", pa.float64(), "Time to first token, ms."),
        column("latency_ms", pa.float64(), "Latency of the call, ms."),
        column(
            "input_tokens",
            pa.int64(),
            "Input tokens of the call, cached ones included (see `cache_added_to_input`).",
        ),
        column("output_tokens", pa.int64(), "Output tokens of the call."),
        column("cache_tokens", pa.int64(), "Input tokens served from cache."),
        column(
            "cache_write_tokens",
            pa.int64(),
            "Input tokens written to the cache (the payload's `cache_write_tokens`, which the "
            "importers fill from Anthropic's `cache_creation_input_tokens` and its likes); null "
            "when the source did not say.",
        ),
        CALL_ERROR_TYPE,
        CALL_ERROR_CODE,
        column(
            "cost_usd",
            pa.float64(),
            "Price of the call in USD from the pinned genai-prices database or the lake's "
            "`prices.yaml` (which wins), at `ts`; null when the model has no price or the call "
            "has neither input nor output tokens nor a web search (never 0 for an unknown cost).",
        ),
        column(
            "price_source",
            pa.string(),
            "The price `cost_usd` took: `genai-prices <version>: <provider>/<model>`, or "
            "`prices.yaml: <model>` (`from <day>` for a later period; `<model> 20% off "
            "genai-prices …` for a discount); null with the cost.",
        ),
        column(
            "cache_added_to_input",
            pa.bool_(),
            "The event counted its cache reads and writes apart from `input_tokens` (more of "
            "them than input tokens: Anthropic's usage as it comes), so they were added to "
            "`input_tokens` here and in `turns` and `sessions`; the raw event keeps its counts.",
        ),
        column(
            "cache_write_1h_tokens",
            pa.int64(),
            "Those of `cache_write_tokens` written to the cache for an hour (the payload's "
            "`cache_write_1h_tokens`: Anthropic's `ephemeral_1h_input_tokens`), priced at the "
            "model's 1-hour cache-write rate, else its cache-write rate, else as input; null "
            "when the source did not say.",
        ),
        column(
            "web_searches",
            pa.int64(),
            "Server-side web searches the call made (the payload's `web_searches`: Anthropic's "
            "`server_tool_use.web_search_requests`), priced per search; null when not said.",
        ),
    ]
)

TOOL_CALLS = pa.schema(
    [
        *CALL_KEYS,
        column("tool_name", pa.string(), "The tool called."),
        column("tool_latency_ms", pa.float64(), "Time the tool took, ms."),
        CALL_ERROR_TYPE,
        CALL_ERROR_CODE,
        column(
            "arguments_hash",
            pa.string(),
            "md5 (32 hex digits) of the payload's `arguments` as compact JSON; null when the "
            "payload is not a JSON object or `arguments` is absent or null.",
        ),
        column(
            "is_terminal",
            pa.bool_(),
            "An erroring call after which no `llm_call` or `tool_call` comes in the session (as "
            "in `errors`); false for every other call.",
        ),
    ]
)


LLM_CALLS_TABLE = TableSpec(
    "llm_calls",
    LLM_CALLS,
    partition_by=("app_id",),
    keys=("app_id", "session_id", "event_id"),
    description="One row per valid, de-duplicated llm_call: keys, latency, tokens, cost_usd.",
)


TOOL_CALLS_TABLE = TableSpec(
    "tool_calls",
    TOOL_CALLS,
    partition_by=("app_id",),
    keys=("app_id", "session_id", "event_id"),
    description="One row per valid, de-duplicated tool_call: latency, error, arguments hash.",
)
