"""OTel attribute names the real any-agent traces do not use: OTLP/JSON, conversation ids, cache
tokens under the current and the legacy name, old token names, and spans in error."""

import json
from pathlib import Path
from typing import Any

from trajectory_assets.ingest.importers import IMPORTERS

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns


def _span(
    trace: str,
    span: str,
    parent: str,
    start_ms: int,
    end_ms: int,
    attrs: dict[str, Any],
    status: int = 1,
) -> dict[str, Any]:
    def value(v: Any) -> dict[str, Any]:
        return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": str(v)}

    return {
        "traceId": trace,
        "spanId": span,
        "parentSpanId": parent,
        "name": attrs.get("gen_ai.operation.name", "chain"),
        "startTimeUnixNano": str(T0 + start_ms * 1_000_000),
        "endTimeUnixNano": str(T0 + end_ms * 1_000_000),
        "attributes": [{"key": k, "value": value(v)} for k, v in attrs.items()],
        "status": {"code": status, "message": "boom" if status == 2 else ""},
    }


def test_otlp_json_with_current_and_legacy_names(tmp_path: Path) -> None:
    a, b = "0af7651916cd43dd8448eb211c80319c", "1bf7651916cd43dd8448eb211c80319c"
    conversation = {"gen_ai.conversation.id": "conv-1"}
    spans = [
        _span(
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
        _span(
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
        _span(
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
        _span(a, "00f067aa0ba902ba", "00f067aa0ba902b7", 2000, 2100, {"workflow": "x"}, status=2),
        _span(
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
