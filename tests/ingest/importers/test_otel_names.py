"""OTel attribute names the real any-agent traces do not use: OTLP/JSON, conversation ids, cache
tokens under the current and the legacy name, old token names, and spans in error."""

import json
from pathlib import Path
from typing import Any

from tests.ingest.otel_json import otlp_file, otlp_span
from trajectory_assets.ingest.importers import IMPORTERS


def test_otlp_json_with_current_and_legacy_names(tmp_path: Path) -> None:
    a, b = "0af7651916cd43dd8448eb211c80319c", "1bf7651916cd43dd8448eb211c80319c"
    conversation = {"gen_ai.conversation.id": "conv-1"}
    spans = [
        otlp_span(
            a,
            "00f067aa0ba902b7",
            "",
            0,
            5000,
            {
                "gen_ai.operation.name": "invoke_agent",
                "gen_ai.agent.name": "planner",
                **conversation,
            },
        ),
        otlp_span(
            a,
            "00f067aa0ba902b8",
            "00f067aa0ba902b7",
            10,
            910,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.response.model": "gpt-4o-2024-08-06",
                "gen_ai.usage.input_tokens": 1000,
                "gen_ai.usage.output_tokens": 50,
                "gen_ai.usage.cache_read.input_tokens": 768,
            },
        ),
        otlp_span(
            a,
            "00f067aa0ba902b9",
            "00f067aa0ba902b7",
            920,
            1920,
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search",
                "gen_ai.tool.call.id": "call_1",
                "error.type": "TimeoutError",
            },
            status=2,
        ),
        otlp_span(
            a, "00f067aa0ba902ba", "00f067aa0ba902b7", 2000, 2100, {"workflow": "x"}, status=2
        ),
        otlp_span(
            b,
            "00f067aa0ba902bb",
            "",
            6000,
            6500,
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.prompt_tokens": 300,
                "gen_ai.usage.completion_tokens": 20,
                "gen_ai.usage.cache_read_input_tokens": 256,
                **conversation,
            },
        ),
    ]
    path = tmp_path / "otlp.json"
    path.write_text(
        json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]})
    )

    rows = list(IMPORTERS["otel"].parse(path))
    assert {r["session_id"] for r in rows} == {"conv-1"}
    llm = [r for r in rows if r["event_type"] == "llm_call"]
    assert [
        (r["model"], r["input_tokens"], r["output_tokens"], r["cache_tokens"]) for r in llm
    ] == [
        ("gpt-4o-2024-08-06", 1000, 50, 768),
        ("gpt-4o", 300, 20, 256),
    ]
    assert llm[0]["latency_ms"] == 900.0 and llm[0]["agent_id"] == "planner"
    (tool,) = [r for r in rows if r["event_type"] == "tool_call"]
    assert (tool["tool_name"], tool["request_id"], tool["error_type"]) == (
        "search",
        "call_1",
        "TimeoutError",
    )
    assert tool["tool_latency_ms"] == 1000.0 and json.loads(tool["payload"])["message"] == "boom"
    (error,) = [r for r in rows if r["event_type"] == "error"]
    assert error["error_type"] == "span_error"
    ends = [
        json.loads(r["payload"]).get("status") for r in rows if r["event_type"] == "session_end"
    ]
    assert ends == ["success", "success"]
    assert rows[0]["ts"].isoformat() == "2026-01-01T00:00:00+00:00"


def test_the_conventions_current_ttft_and_cache_write_names(tmp_path: Path) -> None:
    """`gen_ai.response.time_to_first_chunk` (seconds) is the GenAI conventions' span attribute
    for a streamed call's first chunk, `gen_ai.usage.cache_write.input_tokens` their cache
    writes: both were dropped (TTFT null, the writes unpriced), as was a call OpenLLMetry
    marks by `llm.request.type` alone."""
    t = "2af7651916cd43dd8448eb211c80319c"
    current = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": "claude-sonnet-4-5",
        "gen_ai.usage.input_tokens": 3000,
        "gen_ai.usage.output_tokens": 150,
        "gen_ai.usage.cache_read.input_tokens": 2500,
        "gen_ai.usage.cache_write.input_tokens": 300,
    }
    older: dict[str, Any] = {"llm.request.type": "chat", "gen_ai.request.model": "gpt-4o"}
    older |= {"gen_ai.usage.prompt_tokens": 100, "gen_ai.usage.completion_tokens": 20}
    spans = [
        otlp_span(t, "00f067aa0ba902c1", "", 0, 1000, current),
        otlp_span(t, "00f067aa0ba902c2", "", 2000, 2500, older),
    ]
    spans[0]["attributes"].append(
        {"key": "gen_ai.response.time_to_first_chunk", "value": {"doubleValue": 0.25}}
    )
    rows = list(IMPORTERS["otel"].parse(otlp_file(tmp_path / "current.json", spans)))
    first, second = [r for r in rows if r["event_type"] == "llm_call"]
    assert first["ttft_ms"] == 250.0
    assert json.loads(first["payload"])["cache_write_tokens"] == 300
    assert (second["model"], second["input_tokens"], second["output_tokens"]) == ("gpt-4o", 100, 20)


def test_a_span_starting_with_the_call_it_is_in_belongs_to_that_call_s_turn(
    tmp_path: Path,
) -> None:
    """At a clock's millisecond a retry's failed HTTP span starts with its model call: sorted
    by (start, end) it came first, so its error went to the turn before (think time -100)."""
    t = "3af7651916cd43dd8448eb211c80319c"
    chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    spans = [
        otlp_span(t, "00f067aa0ba902d1", "", 0, 1000, chat),
        otlp_span(t, "00f067aa0ba902d2", "", 1100, 1500, chat),
        otlp_span(t, "00f067aa0ba902d3", "00f067aa0ba902d2", 1100, 1200, {"error.type": "503"}, 2),
    ]
    rows = list(IMPORTERS["otel"].parse(otlp_file(tmp_path / "tie.json", spans)))
    (error,) = [r for r in rows if r["event_type"] == "error"]
    assert error["turn_index"] == 1
    # a tool failing at once, as the next call starts: the first call's turn still
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t", "error.type": "E"}
    agent = {"gen_ai.operation.name": "invoke_agent"}
    beside = [
        otlp_span(t, "00f067aa0ba902e0", "", 0, 3000, agent),
        otlp_span(t, "00f067aa0ba902e1", "00f067aa0ba902e0", 0, 1000, chat),
        otlp_span(t, "00f067aa0ba902e2", "00f067aa0ba902e0", 1000, 1000, tool, 2),
        otlp_span(t, "00f067aa0ba902e3", "00f067aa0ba902e0", 1000, 2000, chat),
    ]
    rows = list(IMPORTERS["otel"].parse(otlp_file(tmp_path / "beside.json", beside)))
    (failed,) = [r for r in rows if r["event_type"] == "tool_call"]
    assert failed["turn_index"] == 0
    # a wrapper's error (LiteLLM's span around the provider's call): its call's turn
    wrapper = chat | {"error.type": "RateLimitError"}
    wrapped = [
        otlp_span(t, "00f067aa0ba902f1", "", 0, 500, chat),
        otlp_span(t, "00f067aa0ba902f2", "", 1000, 2000, wrapper, 2),
        otlp_span(t, "00f067aa0ba902f3", "00f067aa0ba902f2", 1000, 1900, chat),
    ]
    rows = list(IMPORTERS["otel"].parse(otlp_file(tmp_path / "wrapped.json", wrapped)))
    assert [(r["event_type"], r["turn_index"]) for r in rows[1:-1]] == [
        ("llm_call", 0),
        ("llm_call", 1),
        ("error", 1),
    ]


def test_the_sdk_console_exporter_s_file_is_read(tmp_path: Path) -> None:
    """ConsoleSpanExporter, the SDK's only file output, writes each span's `to_json()` (indented)
    one after another: "invalid JSON ... Extra data"."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

    path = tmp_path / "console.json"
    with path.open("w") as out:
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out)))
        tracer = provider.get_tracer("agent")
        with tracer.start_as_current_span(
            "invoke_agent", attributes={"gen_ai.operation.name": "invoke_agent"}
        ):
            for _ in range(2):
                with tracer.start_as_current_span("chat gpt-4o") as span:
                    span.set_attribute("gen_ai.operation.name", "chat")
                    span.set_attribute("gen_ai.request.model", "gpt-4o")
                    span.set_attribute("gen_ai.usage.input_tokens", 10)
        provider.shutdown()
    assert path.read_text().count('"trace_id"') == 3
    rows = list(IMPORTERS["otel"].parse(path))
    assert [r["event_type"] for r in rows].count("llm_call") == 2


def test_an_openinference_tool_s_input_is_its_arguments(tmp_path: Path) -> None:
    """The loop columns compare tool calls by their arguments: OpenInference's TOOL spans carry
    them as `input.value`, and every such call's hash was null."""
    t = "4af7651916cd43dd8448eb211c80319c"
    tool = {"openinference.span.kind": "TOOL", "tool.name": "get_time"}
    tool |= {"input.value": "{'timezone': 'America/New_York'}"}
    rows = list(
        IMPORTERS["otel"].parse(
            otlp_file(tmp_path / "oi.json", [otlp_span(t, "00f067aa0ba902e1", "", 0, 10, tool)])
        )
    )
    (call,) = [r for r in rows if r["event_type"] == "tool_call"]
    assert json.loads(call["payload"])["arguments"] == "{'timezone': 'America/New_York'}"
