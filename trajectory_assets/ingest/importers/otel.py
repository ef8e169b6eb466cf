"""OpenTelemetry GenAI spans (JSON) → raw events.

Accepted shapes: `{"spans": [...]}` (the SDK's `ReadableSpan.to_json()` list, as any-agent and
most "export to file" helpers write it), a bare list of such spans, an OTLP/JSON document
(`{"resourceSpans": [{"scopeSpans": [{"spans": [...]}]}]}`, attributes as key/value lists), and
JSON Lines holding any of these per line.

Mapping
- session: `gen_ai.conversation.id` (or OpenInference `session.id`) when a span of the trace
  carries one, else the trace id as 32 hex digits. `session_start`/`session_end` take the times
  of the trace's root span (the span without a parent in the trace), or the first start and last
  end of its spans; the end's status is `failure` when the root span has status error, `success`
  when it has another status, absent (→ `unknown`) when there is no root span in the file.
- `llm_call`: `gen_ai.operation.name` in chat / text_completion / generate_content / call_llm /
  invoke_model (or OpenInference span kind LLM). latency = span duration; tokens from
  `gen_ai.usage.input_tokens|output_tokens` (old names `gen_ai.usage.prompt_tokens|
  completion_tokens`, OpenInference `llm.token_count.prompt|completion`); cache from
  `gen_ai.usage.cache_read.input_tokens`, its legacy alias `gen_ai.usage.cache_read_input_tokens`,
  `gen_ai.usage.input_tokens.cached` or OpenInference `llm.token_count.prompt_details.cache_read`.
  model: response model, else request model, else `llm.model_name`.
- `tool_call`: operation `execute_tool` (or span kind TOOL); `gen_ai.tool.name` / `tool.name`,
  tool latency = span duration, `gen_ai.tool.call.id` as request_id.
- errors: a span with status error, an `error.type` attribute or an `exception` span event is an
  error: an llm/tool span carries `error_type` itself (`error.type`, else the exception type, else
  `span_error`); any other span in error becomes an `error` event.
- turns: each llm_call opens the next turn (0-based); tool calls belong to the turn of the LLM call
  before them. agent_id: `gen_ai.agent.name` of the span or its nearest ancestor.
- Structural spans (agent, chain, workflow) give no event of their own. Event ids hash (trace id,
  span id, role), so the same span always maps to the same event, whatever file it is read from.
"""

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trajectory_assets.ingest.common import (
    EPOCH,
    Row,
    UnparseableFileError,
    dumps,
    event,
    json_error,
    non_negative,
    parse_ts,
    read_text,
    stable_id,
    to_int,
)

FORMAT = "otel"
SUFFIXES = (".json", ".jsonl")

LLM_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "call_llm", "invoke_model", "completion"}
)
TOOL_OPERATIONS = frozenset({"execute_tool"})

INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
CACHE_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_tokens.cached",
    "llm.token_count.prompt_details.cache_read",
)
MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
TOOL_NAME = ("gen_ai.tool.name", "tool.name")
CONVERSATION = ("gen_ai.conversation.id", "session.id")
TTFT_S = ("gen_ai.server.time_to_first_token", "gen_ai.response.time_to_first_token")

_OTLP_STATUS = {0: "unset", 1: "ok", 2: "error"}


class _Span:
    """A span in one normalized shape, whichever JSON flavour it came in."""

    __slots__ = (
        "attrs",
        "end_ns",
        "events",
        "name",
        "parent_id",
        "span_id",
        "start_ns",
        "status",
        "status_message",
        "trace_id",
    )

    def __init__(self, raw: dict[str, Any]) -> None:
        context = raw.get("context") or {}
        name = str(raw.get("name") or "")
        trace_id = _hex_id(raw.get("traceId", context.get("trace_id")), 32)
        span_id = _hex_id(raw.get("spanId", context.get("span_id")), 16)
        start_ns = _nanos(raw.get("startTimeUnixNano", raw.get("start_time")))
        if not trace_id or not span_id:
            raise UnparseableFileError(f"span {name!r} has no trace id or span id")
        if start_ns is None:
            raise UnparseableFileError(f"span {name!r} has no start time")
        self.name = name
        self.trace_id: str = trace_id
        self.span_id: str = span_id
        self.start_ns: int = start_ns
        self.end_ns: int | None = _nanos(raw.get("endTimeUnixNano", raw.get("end_time")))
        parent = raw.get("parent") or {}
        parent_id = raw.get("parentSpanId", raw.get("parent_id", parent.get("span_id")))
        self.parent_id = _hex_id(parent_id, 16) if parent_id not in (None, "", 0) else None
        self.attrs = _attributes(raw.get("attributes"))
        status = raw.get("status") or {}
        code = status.get("status_code", status.get("code"))
        if isinstance(code, int):
            code = _OTLP_STATUS.get(code, "unset")
        self.status = str(code or "unset").lower().removeprefix("status_code_")
        self.status_message = status.get("description") or status.get("message")
        self.events = raw.get("events") or []


def _hex_id(value: Any, width: int) -> str | None:
    """Trace and span ids as lower-case hex: SDK JSON writes them as (128-bit) ints, OTLP as hex."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise UnparseableFileError(f"not a span or trace id: {value!r}")
    if isinstance(value, int):
        return format(value, f"0{width}x")
    text = str(value).strip().lower()
    return text.removeprefix("0x")


def _nanos(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and not value.strip().lstrip("-").isdigit():
        delta = parse_ts(value) - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    return int(value)


def _any_value(value: Any) -> Any:
    """OTLP AnyValue ({"stringValue": ...}) to a plain value."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [_any_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return _attributes(value["kvlistValue"].get("values", []))
    return None


def _attributes(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, list):
        return {item["key"]: _any_value(item.get("value")) for item in raw if "key" in item}
    raise UnparseableFileError(f"span attributes are neither an object nor a list: {raw!r:.80}")


def _first(attrs: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = attrs.get(name)
        if value is not None and value != "":
            return value
    return None


def _raw_spans(doc: Any) -> Iterator[dict[str, Any]]:
    if isinstance(doc, list):
        for item in doc:
            if isinstance(item, dict) and ("spans" in item or "resourceSpans" in item):
                yield from _raw_spans(item)
            elif isinstance(item, dict):
                yield item
            else:
                raise UnparseableFileError("a list entry is not a span object")
    elif isinstance(doc, dict) and "resourceSpans" in doc:
        for resource in doc["resourceSpans"] or []:
            for scope in (
                resource.get("scopeSpans") or resource.get("instrumentationLibrarySpans") or []
            ):
                yield from scope.get("spans") or []
    elif isinstance(doc, dict) and isinstance(doc.get("spans"), list):
        yield from doc["spans"]
    elif isinstance(doc, dict) and ("context" in doc or "traceId" in doc):
        yield doc
    else:
        raise UnparseableFileError("no spans: expected {'spans': [...]}, a span list or OTLP JSON")


def _load(path: str | Path) -> list[_Span]:
    text = read_text(path)
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError as whole:  # JSON Lines, or broken
        lines = [line for line in text.splitlines() if line.strip()]
        try:
            docs = [json.loads(line) for line in lines]
        except json.JSONDecodeError:
            raise json_error(whole, text) from None
        if len(docs) < 2:
            raise json_error(whole, text) from None
    return [_Span(raw) for doc in docs for raw in _raw_spans(doc)]


def _kind(span: _Span) -> str:
    op = str(span.attrs.get("gen_ai.operation.name") or "").lower()
    oi = str(span.attrs.get("openinference.span.kind") or "").upper()
    if op in LLM_OPERATIONS or (not op and oi == "LLM"):
        return "llm_call"
    if op in TOOL_OPERATIONS or (not op and oi == "TOOL"):
        return "tool_call"
    return "other"


def _error(span: _Span) -> tuple[str, str | None] | None:
    """(error_type, message) when the span records a failure."""
    exception = next(
        (e for e in span.events if isinstance(e, dict) and e.get("name") == "exception"), None
    )
    exc_attrs = _attributes(exception.get("attributes")) if exception else {}
    error_type = span.attrs.get("error.type") or exc_attrs.get("exception.type")
    if span.status != "error" and not error_type:
        return None
    message = span.status_message or exc_attrs.get("exception.message")
    return str(error_type or "span_error"), (str(message) if message is not None else None)


def _ts(ns: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=ns // 1000)


def _ms(span: _Span) -> float | None:
    if span.end_ns is None or span.start_ns is None:
        return None
    return non_negative((span.end_ns - span.start_ns) / 1e6)


def parse(path: str | Path) -> Iterator[Row]:
    spans = _load(path)
    if not spans:
        raise UnparseableFileError("the file holds no spans")
    by_trace: dict[str, list[_Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    for trace_id, trace in by_trace.items():
        yield from _trace_events(trace_id, trace)


def _trace_events(trace_id: str, trace: list[_Span]) -> Iterator[Row]:
    # one span may be exported twice (a retried export): keep the first copy
    unique: dict[str, _Span] = {}
    for span in trace:
        unique.setdefault(span.span_id, span)
    spans = sorted(unique.values(), key=lambda s: (s.start_ns, s.end_ns or 0, s.span_id))
    by_id = {s.span_id: s for s in spans}
    conversation = next((c for s in spans if (c := _first(s.attrs, CONVERSATION))), None)
    session_id = str(conversation) if conversation is not None else trace_id
    roots = [s for s in spans if s.parent_id is None or s.parent_id not in by_id]
    root = next((s for s in roots if s.parent_id is None), None)

    def agent_of(span: _Span) -> str | None:
        seen: set[str] = set()
        current: _Span | None = span
        while current is not None and current.span_id not in seen:
            name = current.attrs.get("gen_ai.agent.name")
            if name:
                return str(name)
            seen.add(current.span_id)
            current = by_id.get(current.parent_id) if current.parent_id else None
        return None

    start_ns = root.start_ns if root else min(s.start_ns for s in spans)
    end_ns = (root.end_ns if root and root.end_ns else None) or max(
        (s.end_ns or s.start_ns) for s in spans
    )
    start_payload: dict[str, Any] = {"trace_id": trace_id, "source": FORMAT}
    if root is not None:
        start_payload["root_span"] = root.name
    seq = 0
    yield event(
        "session_start",
        event_id=stable_id(FORMAT, trace_id, "session_start"),
        session_id=session_id,
        ts=_ts(start_ns),
        seq=seq,
        agent_id=agent_of(root) if root else None,
        payload=dumps(start_payload),
    )
    turn = -1
    for span in spans:
        kind = _kind(span)
        failure = _error(span)
        if kind == "other" and failure is None:
            continue
        seq += 1
        common: dict[str, Any] = {
            "seq": seq,
            "agent_id": agent_of(span),
            "error_type": failure[0] if failure else None,
        }
        payload: dict[str, Any] = {"span_id": span.span_id, "span_name": span.name}
        if failure and failure[1]:
            payload["message"] = failure[1]
        if kind == "llm_call":
            turn += 1
            ttft_s = _first(span.attrs, TTFT_S)
            cost = [
                span.attrs.get("gen_ai.usage.input_cost"),
                span.attrs.get("gen_ai.usage.output_cost"),
            ]
            if any(c is not None for c in cost):
                payload["cost_usd"] = sum(float(c) for c in cost if c is not None)
            yield event(
                "llm_call",
                event_id=stable_id(FORMAT, trace_id, span.span_id, "llm_call"),
                session_id=session_id,
                ts=_ts(span.start_ns),
                turn_index=turn,
                model=_str(_first(span.attrs, MODEL)),
                request_id=_str(
                    span.attrs.get("gen_ai.response.id") or span.attrs.get("gen_ai.request.id")
                ),
                latency_ms=_ms(span),
                ttft_ms=non_negative(float(ttft_s) * 1000) if ttft_s is not None else None,
                input_tokens=to_int(_first(span.attrs, INPUT_TOKENS)),
                output_tokens=to_int(_first(span.attrs, OUTPUT_TOKENS)),
                cache_tokens=to_int(_first(span.attrs, CACHE_TOKENS)),
                payload=dumps(payload),
                **common,
            )
        elif kind == "tool_call":
            args = span.attrs.get("gen_ai.tool.args") or span.attrs.get(
                "gen_ai.tool.call.arguments"
            )
            if args is not None:
                payload["arguments"] = args
            yield event(
                "tool_call",
                event_id=stable_id(FORMAT, trace_id, span.span_id, "tool_call"),
                session_id=session_id,
                ts=_ts(span.start_ns),
                turn_index=max(turn, 0),
                tool_name=_str(_first(span.attrs, TOOL_NAME)) or span.name,
                request_id=_str(span.attrs.get("gen_ai.tool.call.id")),
                tool_latency_ms=_ms(span),
                payload=dumps(payload),
                **common,
            )
        else:
            yield event(
                "error",
                event_id=stable_id(FORMAT, trace_id, span.span_id, "error"),
                session_id=session_id,
                ts=_ts(span.end_ns or span.start_ns),
                turn_index=turn if turn >= 0 else None,
                payload=dumps(payload),
                **common,
            )
    end_payload: dict[str, Any] = {"trace_id": trace_id}
    if root is not None:
        end_payload["status"] = "failure" if root.status == "error" else "success"
    yield event(
        "session_end",
        event_id=stable_id(FORMAT, trace_id, "session_end"),
        session_id=session_id,
        ts=_ts(end_ns),
        seq=seq + 1,
        agent_id=agent_of(root) if root else None,
        payload=dumps(end_payload),
    )


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
