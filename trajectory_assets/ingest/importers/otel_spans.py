"""OpenTelemetry spans in one normalized shape, from whichever encoding they arrive in.

Shared by the file importer (`otel`) and the live OTLP receiver (`trajectory_assets.ingest.otlp`),
so a span maps to the same events whether it was read from a file or received over the wire.

Encodings read: the SDK's `ReadableSpan.to_json()` (ids as `0x…` hex or 128-bit ints, `context`,
`parent`, attributes as an object, ISO or integer times), and OTLP/JSON (`traceId`/`spanId` as hex,
attributes as `[{key, value: AnyValue}]`, times in ns as strings, status codes as ints). Protobuf
requests are converted to the OTLP/JSON shape by the receiver before they get here.
"""

from collections.abc import Iterator
from typing import Any, Literal

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import to_float
from trajectory_assets.ingest.times import EPOCH, EPOCH_UNITS, parse_ts

LLM_OPERATIONS = frozenset(
    {"chat", "text_completion", "generate_content", "call_llm", "invoke_model", "completion"}
)
TOOL_OPERATIONS = frozenset({"execute_tool"})
AGENT_OPERATIONS = frozenset({"invoke_agent", "create_agent"})

INPUT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
OUTPUT_TOKENS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
)
TOTAL_TOKENS = ("gen_ai.usage.total_tokens", "llm.token_count.total")
CACHE_TOKENS = (
    "gen_ai.usage.cache_read.input_tokens",
    "gen_ai.usage.cache_read_input_tokens",
    "gen_ai.usage.input_tokens.cached",
    "gen_ai.usage.details.cache_read_tokens",  # pydantic-ai's
    "ai.usage.cachedInputTokens",  # the Vercel AI SDK's
    "llm.token_count.prompt_details.cache_read",
)
CACHE_WRITE_TOKENS = (
    "gen_ai.usage.cache_write.input_tokens",  # the GenAI conventions' (client-inference.md)
    "gen_ai.usage.cache_creation.input_tokens",  # their registry's, and most emitters
    "gen_ai.usage.cache_creation_input_tokens",
    "gen_ai.usage.input_tokens.cache_write",
    "gen_ai.usage.details.cache_write_tokens",  # pydantic-ai's
    "llm.token_count.prompt_details.cache_write",
)
MODEL = ("gen_ai.response.model", "gen_ai.request.model", "llm.model_name")
TOOL_NAME = ("gen_ai.tool.name", "tool.name", "ai.toolCall.name", "traceloop.entity.name")
TOOL_CALL_ID = ("gen_ai.tool.call.id", "ai.toolCall.id")
CONVERSATION = (
    "gen_ai.conversation.id",
    "session.id",  # OpenInference's
    "traceloop.association.properties.session_id",  # OpenLLMetry's association property
    "ai.telemetry.metadata.sessionId",  # the Vercel AI SDK's metadata, as its docs name it
)
TTFT_S = (
    "gen_ai.response.time_to_first_chunk",  # the GenAI conventions' span attribute (seconds)
    "gen_ai.server.time_to_first_token",
    "gen_ai.response.time_to_first_token",
    "gen_ai.client.operation.time_to_first_chunk",  # pydantic-ai's
)
TTFT_MS = ("ai.response.msToFirstChunk",)  # the Vercel AI SDK's stream spans
COSTS = ("gen_ai.usage.input_cost", "gen_ai.usage.output_cost")
NUMBERS = (
    *INPUT_TOKENS,
    *OUTPUT_TOKENS,
    *TOTAL_TOKENS,
    *CACHE_TOKENS,
    *CACHE_WRITE_TOKENS,
    *TTFT_S,
    *TTFT_MS,
    *COSTS,
)
"""Attributes read as numbers: a span with one that is not (`"12abc"`, `true`, `"NaN"`) is
refused with its name, not read as a call without tokens, or its whole trace failing."""

Kind = Literal["llm_call", "tool_call", "agent", "other"]

_OTLP_STATUS = {0: "unset", 1: "ok", 2: "error"}


class Span:
    """A span in one normalized shape, whichever JSON flavour it came in."""

    __slots__ = (
        "attrs",
        "end_ns",
        "events",
        "name",
        "parent_id",
        "raw",
        "span_id",
        "start_ns",
        "status",
        "status_message",
        "trace_id",
    )

    def __init__(self, raw: dict[str, Any]) -> None:
        context = raw.get("context") or {}
        name = str(raw.get("name") or "")
        trace_id = hex_id(raw.get("traceId", context.get("trace_id")), 32)
        span_id = hex_id(raw.get("spanId", context.get("span_id")), 16)
        if not trace_id or not span_id:
            raise UnparseableFileError(f"span {name!r} has no trace id or span id")
        for what, value, width in (("trace id", trace_id, 32), ("span id", span_id, 16)):
            if len(value) > width or value.strip("0123456789abcdef") or not value.strip("0"):
                raise UnparseableFileError(
                    f"span {name!r} has an invalid {what} {value!r}: OTLP ids are {width} hex "
                    "digits, not all zero"
                )
        start_ns = _time(name, "start", raw, "startTimeUnixNano")
        end_ns = _time(name, "end", raw, "endTimeUnixNano")
        if not start_ns:  # OTLP's zero is an unset time
            raise UnparseableFileError(f"span {name!r} has no start time")
        for which, ns in (("start", start_ns), ("end", end_ns or 0)):
            if not MIN_NS <= ns <= MAX_NS:  # a datetime cannot hold it: mapping would fail
                raise UnparseableFileError(
                    f"span {name!r} has {_a(which)} time of {ns} ns, outside years 1970 to 9999"
                )
        if end_ns and end_ns < start_ns:  # zero: unset, as for the start
            raise UnparseableFileError(f"span {name!r} ends before it starts")
        self.name = name
        self.trace_id: str = trace_id
        self.span_id: str = span_id
        self.start_ns: int = start_ns
        self.end_ns: int | None = end_ns or None
        parent = raw.get("parent") or {}
        parent_id = raw.get("parentSpanId", raw.get("parent_id", parent.get("span_id")))
        self.parent_id = hex_id(parent_id, 16) if parent_id not in (None, "", 0) else None
        self.attrs = attributes(raw.get("attributes"))
        for key in NUMBERS:
            stated = self.attrs.get(key)
            if stated not in (None, "") and (isinstance(stated, bool) or to_float(stated) is None):
                raise UnparseableFileError(
                    f"span {name!r}: {key} is not a finite number: {stated!r:.40}"
                )
        status = raw.get("status") or {}
        code = status.get("status_code", status.get("code"))
        if isinstance(code, int):
            code = _OTLP_STATUS.get(code, "unset")
        self.status = str(code or "unset").lower().removeprefix("status_code_")
        self.status_message = status.get("description") or status.get("message")
        self.events = raw.get("events") or []
        self.raw: dict[str, Any] | None = None  # the record as read, kept by whoever needs it

    def differences(self, other: "Span") -> list[str]:
        """What two spans of one id disagree on: nothing for the same span sent twice."""
        fields = ("name", "parent_id", "start_ns", "end_ns", "attrs", "status")
        return [f for f in fields if getattr(self, f) != getattr(other, f)]


def reused_reason(span: Span, differences: list[str], before: str = "was received before") -> str:
    return (
        f"span id {span.span_id} of trace {span.trace_id} {before} with another "
        f"{', '.join(differences)}: span ids are unique in a trace, so the first one is kept"
    )


MIN_NS = 0  # 1970-01-01 (no day of the lake's partitions names one before it), and 9999-12-31
MAX_NS = 253_402_300_799 * 10**9


def hex_id(value: Any, width: int) -> str | None:
    """Trace and span ids as lower-case hex: SDK JSON writes them as (128-bit) ints, OTLP as hex."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise UnparseableFileError(f"not a span or trace id: {value!r}")
    if isinstance(value, int):
        return format(value, f"0{width}x")
    text = str(value).strip().lower().removeprefix("0x")
    hexadecimal = not text.strip("0123456789abcdef")
    return text.zfill(width) if hexadecimal else text  # a file's id without its leading zeros


def _a(which: str) -> str:
    """`a start`, `an end`: which of a span's times a message names."""
    return f"{'an' if which == 'end' else 'a'} {which}"


def _time(name: str, which: str, raw: dict[str, Any], nano_key: str) -> int | None:
    """A span's start or end in epoch nanoseconds. OTLP's `…UnixNano` are nanoseconds; a span
    list's `start_time`/`end_time` (the SDK's `to_json` writes ISO text) may be any epoch number,
    read by its size as `ingest` reads a `ts`: seconds there were taken as nanoseconds, and the
    spans landed on 1970-01-01 as if they had no time."""
    value = raw.get(nano_key, raw.get(f"{which}_time"))
    try:
        return nanos(value, by_size=nano_key not in raw)
    except (ValueError, TypeError):
        raise UnparseableFileError(
            f"span {name!r} has {_a(which)} time that is no time: {value!r}"
        ) from None


def nanos(value: Any, *, by_size: bool = False) -> int | None:
    """Epoch nanoseconds of ISO text, or of a number: nanoseconds, or (`by_size`) seconds,
    milliseconds or microseconds by its size (`parse_ts`); nanoseconds are kept exact."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if not isinstance(value, str) and (not by_size or abs(value) >= EPOCH_UNITS[0][0]):
        return int(value)
    delta = parse_ts(value) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


def any_value(value: Any) -> Any:
    """OTLP AnyValue ({"stringValue": ...}) to a plain value."""
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "boolValue", "doubleValue", "bytesValue"):
        if key in value:
            return value[key]
    if "intValue" in value:
        return int(value["intValue"])
    if "arrayValue" in value:
        return [any_value(v) for v in (value["arrayValue"] or {}).get("values", [])]
    if "kvlistValue" in value:
        return attributes((value["kvlistValue"] or {}).get("values", []))
    return None


def attributes(raw: Any) -> dict[str, Any]:
    if raw is None:
        return {}
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, list):
        return {
            item["key"]: any_value(item.get("value"))
            for item in raw
            if isinstance(item, dict) and "key" in item
        }
    raise UnparseableFileError(f"span attributes are neither an object nor a list: {raw!r:.80}")


def first(attrs: dict[str, Any], names: tuple[str, ...]) -> Any:
    """The value of the first of `names` the span carries (current names before legacy ones)."""
    for name in names:
        value = attrs.get(name)
        if value is not None and value != "":
            return value
    return None


DEFAULT_APP = "otel"
"""The app of spans whose resource names no service."""


def spans_app(given: str | None, service: str | None) -> str:
    """The app spans are filed under, by `ingest` and `serve` alike (a program's exported files
    and its live traces are one app's): the one asked for (`--app-id`), else the one their
    resource's `service.name` names (`service_app`), else DEFAULT_APP."""
    return given or service or DEFAULT_APP


def service_app(name: Any) -> str | None:
    """The app a resource's `service.name` names; none when it is unset or the SDK's stand-in
    for unset (`unknown_service`, `unknown_service:<executable>`, which would file every
    unnamed program under an app of its own executable's name)."""
    text = "" if name is None else str(name)
    if not text.strip() or text == "unknown_service" or text.startswith("unknown_service:"):
        return None
    return text


def raw_spans(doc: Any) -> Iterator[dict[str, Any]]:
    """The span objects of one JSON document in any accepted shape."""
    return (raw for _, raw in service_spans(doc))


def service_spans(doc: Any) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(the app its resource's `service.name` names, span object) for each span of one JSON
    document in any accepted shape: OTLP/JSON states the resource per `resourceSpans`, the
    SDK's `to_json()` in each span."""
    if isinstance(doc, list):
        for item in doc:
            if isinstance(item, dict) and ("spans" in item or "resourceSpans" in item):
                yield from service_spans(item)
            elif isinstance(item, dict):
                yield _own_service(item), item
            else:
                raise UnparseableFileError("a list entry is not a span object")
    elif isinstance(doc, dict) and "resourceSpans" in doc:
        for resource in doc["resourceSpans"] or []:
            service = _service_of(resource.get("resource"))
            for scope in (
                resource.get("scopeSpans") or resource.get("instrumentationLibrarySpans") or []
            ):
                yield from ((service, raw) for raw in scope.get("spans") or [])
    elif isinstance(doc, dict) and isinstance(doc.get("spans"), list):
        yield from ((_own_service(raw), raw) for raw in doc["spans"])
    elif isinstance(doc, dict) and ("context" in doc or "traceId" in doc):
        yield _own_service(doc), doc
    else:
        raise UnparseableFileError("no spans: expected {'spans': [...]}, a span list or OTLP JSON")


def _own_service(raw: Any) -> str | None:
    return _service_of(raw.get("resource")) if isinstance(raw, dict) else None


def _service_of(resource: Any) -> str | None:
    if not isinstance(resource, dict):
        return None
    return service_app(attributes(resource.get("attributes")).get("service.name"))


def kind(span: Span) -> Kind:
    """What a span stands for: a model call, a tool call, an agent run, or structure."""
    op = str(span.attrs.get("gen_ai.operation.name") or "").lower()
    oi = str(span.attrs.get("openinference.span.kind") or "").upper()
    if not op and not oi:
        op = _library_operation(span.attrs)
    if op in LLM_OPERATIONS or (not op and oi == "LLM"):
        return "llm_call"
    if op in TOOL_OPERATIONS or (not op and oi == "TOOL"):
        return "tool_call"
    if op in AGENT_OPERATIONS or (not op and oi == "AGENT"):
        return "agent"
    return "other"


LIBRARY_KINDS = {"tool": "execute_tool", "agent": "invoke_agent"}


def _library_operation(attrs: dict[str, Any]) -> str:
    """The GenAI conventions' operation of a span of a library that names it otherwise (its
    calls and tools were structure, so every model call, token and tool of its traces was
    lost): OpenLLMetry's calls by their request type and its decorators' tools and agents, the
    Vercel AI SDK's provider calls and tool calls before it took the conventions' names, and
    pydantic-ai's tool spans before it named their operation."""
    request = str(attrs.get("llm.request.type") or "").lower()
    if request:
        return request
    traceloop = str(attrs.get("traceloop.span.kind") or "").lower()
    if traceloop in LIBRARY_KINDS:
        return LIBRARY_KINDS[traceloop]
    vercel = str(attrs.get("ai.operationId") or "")
    if vercel.endswith((".doGenerate", ".doStream")):  # not the doEmbed of embeddings
        return "chat"
    if vercel == "ai.toolCall" or (
        attrs.get("gen_ai.tool.name") and "gen_ai.tool.call.id" in attrs
    ):
        return "execute_tool"
    return ""


def failure(span: Span) -> tuple[str, str | None] | None:
    """(error_type, message) when the span records a failure."""
    exception = next(
        (e for e in span.events if isinstance(e, dict) and e.get("name") == "exception"), None
    )
    exc_attrs = attributes(exception.get("attributes")) if exception else {}
    error_type = span.attrs.get("error.type") or exc_attrs.get("exception.type")
    if span.status != "error" and not error_type:
        return None
    message = span.status_message or exc_attrs.get("exception.message")
    return str(error_type or "span_error"), (str(message) if message is not None else None)
