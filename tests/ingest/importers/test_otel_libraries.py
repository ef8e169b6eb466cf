"""Spans as instrumentation libraries write them without the GenAI conventions' operation
names (each shape from the library's source): their model calls and tools were structure, so a
trace of the Vercel AI SDK gave no call, token or tool, OpenLLMetry's and pydantic-ai's no
tool, and each library's own conversation id, time to first chunk and cache reads were lost."""

import json
from pathlib import Path
from typing import Any

from tests.ingest.otel_json import otlp_file, otlp_span
from trajectory_assets.ingest.common import Row
from trajectory_assets.ingest.importers import IMPORTERS

TRACES = ("5af7651916cd43dd8448eb211c80319c", "6af7651916cd43dd8448eb211c80319c")


def _rows(tmp_path: Path, spans: list[dict[str, Any]]) -> list[Row]:
    return list(IMPORTERS["otel"].parse(otlp_file(tmp_path / "traces.json", spans)))


def _kinds(rows: list[Row], kind: str) -> list[Row]:
    return [r for r in rows if r["event_type"] == kind]


def test_the_vercel_ai_sdk_s_provider_calls_tools_and_session(tmp_path: Path) -> None:
    """`ai.streamText.doStream` is a provider call (`ai.streamText` wraps the whole step),
    `ai.toolCall` a tool; TTFT in milliseconds; the session in the telemetry metadata."""
    meta = {"ai.telemetry.functionId": "chat", "ai.telemetry.metadata.sessionId": "sess-v-1"}
    spans = []
    for n, trace in enumerate(TRACES):
        root = f"10f067aa0ba902a{n}"
        step = {"ai.operationId": "ai.streamText", "ai.usage.promptTokens": 2100, **meta}
        call: dict[str, Any] = {
            "ai.operationId": "ai.streamText.doStream",
            "gen_ai.request.model": "gpt-4o",
        }
        call |= {"gen_ai.usage.input_tokens": 1000, "gen_ai.usage.output_tokens": 50}
        call |= {"ai.usage.cachedInputTokens": 768, "ai.response.msToFirstChunk": "412.5"}
        tool = {"ai.operationId": "ai.toolCall", "ai.toolCall.name": "get_weather"}
        tool |= {"ai.toolCall.id": f"call_v{n}", "ai.toolCall.args": '{"city": "Paris"}'}
        spans += [
            otlp_span(trace, root, "", 0, 3000, step),
            otlp_span(trace, f"20f067aa0ba902a{n}", root, 10, 800, call | meta),
            otlp_span(trace, f"30f067aa0ba902a{n}", root, 810, 1200, tool | meta, 2 if n else 1),
        ]
    rows = _rows(tmp_path, spans)
    calls, tools = _kinds(rows, "llm_call"), _kinds(rows, "tool_call")
    assert [(c["input_tokens"], c["cache_tokens"], c["ttft_ms"]) for c in calls] == [
        (1000, 768, 412.5)
    ] * 2
    assert [(t["tool_name"], t["request_id"], t["error_type"]) for t in tools] == [
        ("get_weather", "call_v0", None),
        ("get_weather", "call_v1", "span_error"),
    ]
    assert json.loads(tools[0]["payload"])["arguments"] == '{"city": "Paris"}'
    assert {r["session_id"] for r in rows} == {"sess-v-1"}
    assert [c["turn_index"] for c in calls] == [0, 1]


def test_openllmetry_s_decorated_tools_and_association_session(tmp_path: Path) -> None:
    """`traceloop.span.kind` marks a decorated tool (named by `traceloop.entity.name`); a
    session is the association property `session_id`."""
    assoc = {"traceloop.association.properties.session_id": "sess-tl-1"}
    spans = []
    for n, trace in enumerate(TRACES):
        root = f"10f067aa0ba902b{n}"
        flow = {"traceloop.span.kind": "workflow", "traceloop.entity.name": "support_agent"}
        chat: dict[str, Any] = {"llm.request.type": "chat", "gen_ai.request.model": "gpt-4o-mini"}
        chat |= {"gen_ai.usage.prompt_tokens": 700, "gen_ai.usage.completion_tokens": 50}
        tool = {"traceloop.span.kind": "tool", "traceloop.entity.name": "get_weather"}
        spans += [
            otlp_span(trace, root, "", 0, 3000, flow | assoc),
            otlp_span(trace, f"20f067aa0ba902b{n}", root, 10, 800, chat | assoc),
            otlp_span(trace, f"30f067aa0ba902b{n}", root, 810, 1200, tool | assoc),
        ]
    rows = _rows(tmp_path, spans)
    assert len(_kinds(rows, "llm_call")) == 2
    assert [t["tool_name"] for t in _kinds(rows, "tool_call")] == ["get_weather"] * 2
    assert {r["session_id"] for r in rows} == {"sess-tl-1"}


def test_pydantic_ai_s_tools_ttft_and_cache_before_its_operation_names(tmp_path: Path) -> None:
    """A tool span names its tool and call id, no operation; the call's time to first chunk
    and cache reads have names of pydantic-ai's own."""
    trace, root = TRACES[0], "10f067aa0ba902c0"
    agent = {"gen_ai.agent.name": "support", "logfire.msg": "support run"}
    chat: dict[str, Any] = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    chat |= {"gen_ai.usage.input_tokens": 1200, "gen_ai.usage.output_tokens": 60}
    chat |= {"gen_ai.usage.details.cache_read_tokens": 1024}
    chat |= {"gen_ai.client.operation.time_to_first_chunk": "0.41"}
    tool = {"gen_ai.tool.name": "get_weather", "gen_ai.tool.call.id": "call_p0"}
    rows = _rows(
        tmp_path,
        [
            otlp_span(trace, root, "", 0, 3000, agent),
            otlp_span(trace, "20f067aa0ba902c0", root, 10, 800, chat),
            otlp_span(trace, "30f067aa0ba902c0", root, 810, 1200, tool),
        ],
    )
    ((call,), (used,)) = _kinds(rows, "llm_call"), _kinds(rows, "tool_call")
    assert (call["cache_tokens"], call["ttft_ms"], call["agent_id"]) == (1024, 410.0, "support")
    assert (used["tool_name"], used["request_id"], used["agent_id"]) == (
        "get_weather",
        "call_p0",
        "support",
    )


def test_an_openinference_agent_span_names_its_calls_agent(tmp_path: Path) -> None:
    """The OpenAI Agents SDK through OpenInference names an agent by its AGENT span alone."""
    trace, root = TRACES[0], "10f067aa0ba902d0"
    agent = {"openinference.span.kind": "AGENT"}
    llm: dict[str, Any] = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4.1"}
    llm |= {"llm.token_count.prompt": 900, "llm.token_count.completion": 30}
    spans = [
        otlp_span(trace, root, "", 0, 3000, agent),
        otlp_span(trace, "20f067aa0ba902d0", root, 10, 800, llm),
    ]
    spans[0]["name"] = "Triage Agent"
    (call,) = _kinds(_rows(tmp_path, spans), "llm_call")
    assert (call["agent_id"], call["input_tokens"]) == ("Triage Agent", 900)


def test_an_openinference_agent_node_beside_the_conventions_names_names_no_agent(
    tmp_path: Path,
) -> None:
    """LangGraph's node called `agent`, marked AGENT, in a trace that names its agent by the
    conventions elsewhere: its calls were given to `agent`, the tools to the named agent."""
    trace, root = TRACES[0], "10f067aa0ba902e0"
    node = {"openinference.span.kind": "AGENT"}
    llm: dict[str, Any] = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4.1"}
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
    tool |= {"gen_ai.agent.name": "any_agent"}
    spans = [
        otlp_span(trace, root, "", 0, 3000, node),
        otlp_span(trace, "20f067aa0ba902e0", root, 10, 800, llm),
        otlp_span(trace, "30f067aa0ba902e0", root, 900, 1000, tool),
    ]
    spans[0]["name"] = "agent"
    (call,) = _kinds(_rows(tmp_path, spans), "llm_call")
    assert call["agent_id"] is None  # as before: not `agent`
