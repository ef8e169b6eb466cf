"""OpenTelemetry GenAI spans (JSON) → raw events.

Accepted shapes: `{"spans": [...]}` (the SDK's `ReadableSpan.to_json()` list, as any-agent and
most "export to file" helpers write it), a bare list of such spans, an OTLP/JSON document
(`{"resourceSpans": [{"scopeSpans": [{"spans": [...]}]}]}`, attributes as key/value lists), and
JSON Lines holding any of these per line. The live receiver (`trajectory_assets.ingest.otlp`)
maps the spans it receives with `trace_events` below, so both ways give the same events.

Mapping
- app: the import's `--app-id`, else the `service.name` of the span's resource (as `serve` files
  it), else `otel`; the SDK's stand-in for an unset name (`unknown_service…`) names none.
- session: `gen_ai.conversation.id` (or OpenInference `session.id`) when a span of the trace
  carries one, else the trace id as 32 hex digits. `session_start`/`session_end` take the times
  of the trace's root span (the span without a parent in the trace), or the first start and last
  end of its spans; the end's status is `failure` when the root span has status error, `success`
  when it has another status, absent (→ `unknown`) when there is no root span in the file.
- `llm_call`: `gen_ai.operation.name` in chat / text_completion / generate_content / call_llm /
  invoke_model (or OpenInference span kind LLM, or, without either, OpenLLMetry's
  `llm.request.type`). latency = span duration; TTFT from `gen_ai.response.time_to_first_chunk`
  (the conventions' span attribute, seconds) or older names; tokens from
  `gen_ai.usage.input_tokens|output_tokens` (old names `gen_ai.usage.prompt_tokens|
  completion_tokens`, OpenInference `llm.token_count.prompt|completion`); cache from
  `gen_ai.usage.cache_read.input_tokens`, its legacy alias `gen_ai.usage.cache_read_input_tokens`,
  `gen_ai.usage.input_tokens.cached` or OpenInference `llm.token_count.prompt_details.cache_read`.
  The GenAI conventions count cached tokens in the input, as Tier A does; a span whose numbers
  show they were counted apart (Anthropic style: more cache reads than input, or a total equal to
  input + output + cache reads + writes) gets them added up (`common.input_with_cache`). Cache
  writes (`gen_ai.usage.cache_write.input_tokens`, or older names) go in the payload. model:
  response model, else request model, else `llm.model_name`.
- `tool_call`: operation `execute_tool` (or span kind TOOL); `gen_ai.tool.name` / `tool.name`,
  tool latency = span duration, `gen_ai.tool.call.id` as request_id.
- one call, one event: instrumentations stack spans for one call (smolagents through LiteLLM
  under OpenInference records each model call as an LLM span inside an LLM span inside an LLM
  span, all with the same tokens; the agent span above states the true total). A call span with a
  call span of the same kind below it (not across an agent span) is a wrapper, not a call: only
  the innermost span of the chain, closest to the wire, becomes the event, and it takes what it
  lacks (model, tokens, TTFT, ids) from the wrappers directly above it that wrap no other call.
  The wrappers' ids are in the payload (`wrapper_spans`).
- errors: a span with status error, an `error.type` attribute or an `exception` span event is an
  error: an llm/tool span carries `error_type` itself (`error.type`, else the exception type, else
  `span_error`); any other span in error becomes an `error` event, except a wrapper whose wrapped
  call already carries the error (the same exception, recorded again on the way up).
- turns (`turns.Turns`): each llm_call opens the next turn (0-based); tool calls and errors belong
  to the turn of their agent's LLM call before them (agents nested as `invoke_agent` spans run
  side by side: a sub-agent's tool call is never counted in a sibling's turn). agent_id:
  `gen_ai.agent.name` of the span or its nearest ancestor. The traces of one conversation (a
  chat served over HTTP: a trace per request) number the session's turns on from each other,
  in the order they started, and on from its traces that the lake holds (`otel_sessions`);
  each trace gives its own `session_start` and `session_end`, so the session starts at the
  first and ends with the last.
- Structural spans (agent, chain, workflow) give no event of their own; token totals that the
  first agent span states go in the session_start payload (`agent_tokens`), to check the calls
  against. Event ids hash (trace id, span id, role), so the same span always maps to the same
  event, whatever file it is read from.
"""

import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import (
    Row,
    dumps,
    event,
    input_with_cache,
    non_negative,
    stable_id,
    to_int,
)
from trajectory_assets.ingest.importers.otel_files import TraceFiles, first_copies, load_spans
from trajectory_assets.ingest.importers.otel_sessions import TraceTurns
from trajectory_assets.ingest.importers.otel_spans import (
    CACHE_TOKENS,
    CACHE_WRITE_TOKENS,
    CONVERSATION,
    COSTS,
    INPUT_TOKENS,
    MODEL,
    OUTPUT_TOKENS,
    TOOL_CALL_ID,
    TOOL_NAME,
    TOTAL_TOKENS,
    TTFT_MS,
    TTFT_S,
    Span,
    failure,
    first,
    spans_app,
)
from trajectory_assets.ingest.importers.otel_tree import CALLS, Tree
from trajectory_assets.ingest.importers.turns import Turns
from trajectory_assets.ingest.times import EPOCH

FORMAT = "otel"
SUFFIXES = (".json", ".jsonl")


def parse(
    path: str | Path,
    turns: Callable[[str], TraceTurns] | None = None,
    app_id: str | None = None,
    together: TraceFiles | None = None,
) -> Iterator[Row]:
    """The file's events, each trace's in the app `app_id`, else the one its resource's
    `service.name` names, else `otel` (as `serve` files them, so a program's traces imported
    from its exported files and received live are one app's). A session's traces number its
    turns in the order they started, on from the ones `turns(app)` knows (the lake's, when the
    ingest gives them). Its traces are taken whole, with their spans in the files imported
    `together` (`otel_files`)."""
    spans, unread = load_spans(path)
    if not spans and not unread:
        raise UnparseableFileError("the file holds no spans")
    if together is not None:
        spans = together.whole_traces(str(path), spans)
    else:
        spans = first_copies(str(path), {str(path): spans})
    by_app: dict[str, list[Span]] = {}
    for service, span in spans:
        by_app.setdefault(spans_app(app_id, service), []).append(span)
    for app, app_spans in sorted(by_app.items()):
        app_turns = turns(app) if turns is not None else TraceTurns()
        traces = by_trace(app_spans)
        app_turns.recall(
            c for trace in traces.values() if (c := conversation_of(trace)) is not None
        )
        for trace_id, trace in sorted(traces.items(), key=lambda item: started(item[1])):
            for row in numbered_events(trace_id, trace, app_turns):
                row["app_id"] = app
                yield row


def numbered_events(trace_id: str, trace: list[Span], turns: TraceTurns) -> list[Row]:
    """The trace's events, its turns numbered on from its conversation's traces before it (a
    trace without one is a session of its own, numbered from 0)."""
    conversation = conversation_of(trace)
    if conversation is None:
        return list(trace_events(trace_id, trace))
    first = turns.first_turn(conversation, trace_id)
    rows = list(trace_events(trace_id, trace, first_turn=first))
    turns.numbered(conversation, trace_id, first, rows)
    return rows


def conversation_of(trace: list[Span]) -> str | None:
    """The conversation id a span of the trace carries: its session, over several traces."""
    conversation = next((c for s in trace if (c := first(s.attrs, CONVERSATION))), None)
    return None if conversation is None else str(conversation)


def session_of(trace_id: str, trace: list[Span]) -> str:
    """The trace's conversation, else the trace itself."""
    return conversation_of(trace) or trace_id


def started(trace: list[Span]) -> tuple[int, str]:
    """The order of a session's traces: by their first span's start."""
    return min(s.start_ns for s in trace), trace[0].trace_id


def by_trace(spans: list[Span]) -> dict[str, list[Span]]:
    out: dict[str, list[Span]] = {}
    for span in spans:
        out.setdefault(span.trace_id, []).append(span)
    return out


def _ts(ns: int) -> dt.datetime:
    return EPOCH + dt.timedelta(microseconds=ns // 1000)


def _ms(span: Span) -> float | None:
    if span.end_ns is None or span.start_ns is None:
        return None
    return non_negative((span.end_ns - span.start_ns) / 1e6)


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def trace_events(trace_id: str, trace: list[Span], first_turn: int = 0) -> Iterator[Row]:
    """The events of one trace's spans (app_id left unset: the caller's), its first model
    call opening turn `first_turn` (`numbered_events` says which)."""
    # one span may be exported twice (a retried export): keep the first copy
    unique: dict[str, Span] = {}
    for span in trace:
        unique.setdefault(span.span_id, span)
    tree = Tree(list(unique.values()))
    spans = tree.event_order()
    session_id = session_of(trace_id, spans)
    root = next((s for s in spans if s.parent_id is None), None)

    start_ns = root.start_ns if root else min(s.start_ns for s in spans)
    end_ns = (root.end_ns if root and root.end_ns else None) or max(
        (s.end_ns or s.start_ns) for s in spans
    )
    start_payload: dict[str, Any] = {"trace_id": trace_id, "source": FORMAT}
    if root is not None:
        start_payload["root_span"] = root.name
    if first_turn:
        start_payload["first_turn"] = first_turn
    stated = _stated_totals(spans, tree)
    if stated:
        start_payload["agent_tokens"] = stated
    seq = 0
    yield event(
        "session_start",
        event_id=stable_id(FORMAT, trace_id, "session_start"),
        session_id=session_id,
        ts=_ts(start_ns),
        seq=seq,
        agent_id=tree.agent_of(root) if root else None,
        payload=dumps(start_payload),
    )
    turns = Turns(first_turn)
    for span in spans:
        span_kind = tree.kinds[span.span_id]
        failed = failure(span)
        wrapper = tree.is_wrapper(span)
        if wrapper and failed is not None:
            wrapped = tree.leaves[span.span_id][span_kind]
            if any(failure(tree.by_id[s]) is not None for s in wrapped):
                continue  # the wrapped call carries this error already
        role: str
        if span_kind in CALLS and not wrapper:
            role = span_kind
        elif failed is not None:
            role = "error"
        else:
            continue
        seq += 1
        agent = tree.agent_run(span)
        turn = turns.open(agent) if role == "llm_call" else turns.current(agent)
        common: dict[str, Any] = {
            "event_id": stable_id(FORMAT, trace_id, span.span_id, role),
            "session_id": session_id,
            "seq": seq,
            "agent_id": tree.agent_of(span),
            "error_type": failed[0] if failed else None,
        }
        payload: dict[str, Any] = {"span_id": span.span_id, "span_name": span.name}
        if failed and failed[1]:
            payload["message"] = failed[1]
        if role == "llm_call":
            chain = [span, *tree.wrappers_of(span)]
            yield _llm_call(span, chain, turn, payload, common)
        elif role == "tool_call":
            chain = [span, *tree.wrappers_of(span)]
            yield _tool_call(span, chain, turn, payload, common)
        else:
            yield event(
                "error",
                ts=_ts(span.end_ns or span.start_ns),
                turn_index=turn if turns.opened else None,
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
        agent_id=tree.agent_of(root) if root else None,
        payload=dumps(end_payload),
    )


def _stated_totals(spans: list[Span], tree: Tree) -> dict[str, int]:
    """What the outermost agent span states about the run's tokens (smolagents does), so the
    mapped calls can be checked against it: `input`/`output`, as stated."""
    agent = next((s for s in spans if tree.kinds[s.span_id] == "agent"), None)
    if agent is None:
        return {}
    stated = {
        "input": to_int(first(agent.attrs, INPUT_TOKENS)),
        "output": to_int(first(agent.attrs, OUTPUT_TOKENS)),
    }
    return {k: v for k, v in stated.items() if v is not None}


def _pick(chain: list[Span], names: tuple[str, ...]) -> Any:
    """The call's own value, else the nearest wrapper's."""
    for span in chain:
        value = first(span.attrs, names)
        if value is not None:
            return value
    return None


def _llm_call(
    span: Span, chain: list[Span], turn: int, payload: dict[str, Any], common: dict[str, Any]
) -> Row:
    if len(chain) > 1:
        payload["wrapper_spans"] = [s.span_id for s in chain[1:]]
    cost = [_pick(chain, (name,)) for name in COSTS]
    if any(c is not None for c in cost):
        payload["cost_usd"] = sum(float(c) for c in cost if c is not None)
    output = to_int(_pick(chain, OUTPUT_TOKENS))
    reads = to_int(_pick(chain, CACHE_TOKENS))
    writes = to_int(_pick(chain, CACHE_WRITE_TOKENS))
    if writes is not None:
        payload["cache_write_tokens"] = writes
    stated = to_int(_pick(chain, INPUT_TOKENS))
    input_tokens, added = input_with_cache(
        stated, reads, writes, output_tokens=output, total_tokens=to_int(_pick(chain, TOTAL_TOKENS))
    )
    if added:
        payload["input_tokens_stated"] = stated
    ttft_s = _pick(chain, TTFT_S)
    if ttft_s is None and (ttft_ms := _pick(chain, TTFT_MS)) is not None:
        ttft_s = float(ttft_ms) / 1000
    return event(
        "llm_call",
        ts=_ts(span.start_ns),
        turn_index=turn,
        model=_str(_pick(chain, MODEL)),
        request_id=_str(_pick(chain, ("gen_ai.response.id", "gen_ai.request.id"))),
        latency_ms=_ms(span),
        ttft_ms=non_negative(float(ttft_s) * 1000) if ttft_s is not None else None,
        input_tokens=input_tokens,
        output_tokens=output,
        cache_tokens=reads,
        payload=dumps(payload),
        **common,
    )


TOOL_ARGUMENTS = (
    "gen_ai.tool.args",
    "gen_ai.tool.call.arguments",
    "input.value",
    "ai.toolCall.args",
    "traceloop.entity.input",
)
"""A tool call's arguments: the GenAI conventions', an older name, OpenInference's input of a
TOOL span, the Vercel AI SDK's, OpenLLMetry's decorated tool's input (the loop columns compare
calls by them: without, every hash was null)."""


def _tool_call(
    span: Span, chain: list[Span], turn: int, payload: dict[str, Any], common: dict[str, Any]
) -> Row:
    if len(chain) > 1:
        payload["wrapper_spans"] = [s.span_id for s in chain[1:]]
    args = _pick(chain, TOOL_ARGUMENTS)
    if args is not None:
        payload["arguments"] = args
    return event(
        "tool_call",
        ts=_ts(span.start_ns),
        turn_index=turn,
        tool_name=_str(_pick(chain, TOOL_NAME)) or span.name,
        request_id=_str(_pick(chain, TOOL_CALL_ID)),
        tool_latency_ms=_ms(span),
        payload=dumps(payload),
        **common,
    )
