"""Instrumentations that stack spans for one call: each model or tool call counts once.

The trace below has the shape of smolagents traced through LiteLLM under OpenInference (built by
hand; the real traces that showed the bug are not public): each model call is an LLM span inside
an LLM span inside an LLM span, all three with the same token counts, and the agent span above
them states the run's true totals. Counting every LLM span triples calls and tokens.
"""

import json
from pathlib import Path
from typing import Any

import pyarrow.compute as pc

from tests.ingest.lakes import materialize
from trajectory_assets.ingest.importers import IMPORTERS
from trajectory_assets.ingest.run import ingest_files

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


class Trace:
    """Spans in OTLP/JSON, each given as (name, parent, kind, attributes)."""

    def __init__(self, trace_id: str = TRACE) -> None:
        self.trace_id = trace_id
        self.spans: list[dict[str, Any]] = []

    def add(
        self,
        name: str,
        parent: str | None,
        kind: str,
        start_ms: int,
        end_ms: int,
        attrs: dict[str, Any] | None = None,
        *,
        error: str | None = None,
    ) -> str:
        span_id = f"{len(self.spans) + 1:016x}"
        values = {"openinference.span.kind": kind, **(attrs or {})}
        span: dict[str, Any] = {
            "traceId": self.trace_id,
            "spanId": span_id,
            "parentSpanId": parent or "",
            "name": name,
            "startTimeUnixNano": str(T0 + start_ms * 1_000_000),
            "endTimeUnixNano": str(T0 + end_ms * 1_000_000),
            "attributes": [{"key": k, "value": _value(v)} for k, v in values.items()],
            "status": {"code": 2 if error else 1, "message": error or ""},
        }
        if error:
            span["events"] = [
                {
                    "name": "exception",
                    "attributes": [
                        {"key": "exception.type", "value": {"stringValue": "APIError"}},
                        {"key": "exception.message", "value": {"stringValue": error}},
                    ],
                }
            ]
        self.spans.append(span)
        return span_id

    def write(self, path: Path) -> Path:
        doc = {"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": self.spans}]}]}
        path.write_text(json.dumps(doc))
        return path


def _value(v: Any) -> dict[str, Any]:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    return {"stringValue": str(v)}


def _tokens(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "llm.token_count.prompt": prompt,
        "llm.token_count.completion": completion,
        "llm.token_count.total": prompt + completion,
    }


CALLS = [(339, 30), (420, 25), (512, 45)]  # per model call: prompt, completion


def smolagents_trace() -> Trace:
    trace = Trace()
    prompt = sum(p for p, _ in CALLS)
    completion = sum(c for _, c in CALLS)
    agent = trace.add("CodeAgent.run", None, "AGENT", 0, 9000, _tokens(prompt, completion))
    for step, (p, c) in enumerate(CALLS):
        base = step * 3000
        chain = trace.add(f"Step {step + 1}", agent, "CHAIN", base + 10, base + 2900)
        outer = trace.add(
            "LiteLLMModel.__call__", chain, "LLM", base + 20, base + 1500, _tokens(p, c)
        )
        middle = trace.add(
            "LiteLLMModel.generate", outer, "LLM", base + 30, base + 1490, _tokens(p, c)
        )
        trace.add(
            "completion",
            middle,
            "LLM",
            base + 40,
            base + 1480,
            {**_tokens(p, c), "llm.model_name": "gpt-4.1-mini-2025-04-14"},
        )
        if step == 0:  # a tool span inside a tool span: one tool call
            tool = trace.add(
                "WebSearchTool",
                chain,
                "TOOL",
                base + 1600,
                base + 2600,
                {"tool.name": "web_search"},
            )
            trace.add(
                "web_search", tool, "TOOL", base + 1610, base + 2590, {"tool.name": "web_search"}
            )
        else:
            name = "visit_webpage" if step == 1 else "final_answer"
            trace.add(name, chain, "TOOL", base + 1600, base + 2600, {"tool.name": name})
    return trace


def _agent_totals(trace: Trace) -> tuple[int, int]:
    """What the agent span states, read from the spans as written."""
    (agent,) = [
        s
        for s in trace.spans
        if {"key": "openinference.span.kind", "value": {"stringValue": "AGENT"}} in s["attributes"]
    ]
    values = {a["key"]: a["value"] for a in agent["attributes"]}
    return (
        int(values["llm.token_count.prompt"]["intValue"]),
        int(values["llm.token_count.completion"]["intValue"]),
    )


def test_a_wrapper_chain_counts_once_and_tokens_equal_the_agent_span(tmp_path: Path) -> None:
    trace = smolagents_trace()
    rows = list(IMPORTERS["otel"].parse(trace.write(tmp_path / "smolagents.json")))
    llm = [r for r in rows if r["event_type"] == "llm_call"]
    tools = [r for r in rows if r["event_type"] == "tool_call"]
    prompt, completion = _agent_totals(trace)
    assert len(llm) == 3 and len(tools) == 3
    assert sum(r["input_tokens"] for r in llm) == prompt == 1271
    assert sum(r["output_tokens"] for r in llm) == completion
    # the innermost span is the call: its latency and its model
    assert [r["latency_ms"] for r in llm] == [1440.0, 1440.0, 1440.0]
    assert {r["model"] for r in llm} == {"gpt-4.1-mini-2025-04-14"}
    assert [r["turn_index"] for r in llm] == [0, 1, 2]
    assert [len(json.loads(r["payload"])["wrapper_spans"]) for r in llm] == [2, 2, 2]
    assert [r["tool_name"] for r in tools] == ["web_search", "visit_webpage", "final_answer"]
    assert tools[0]["tool_latency_ms"] == 980.0  # the inner tool span
    assert not [r for r in rows if r["error_type"]]
    start = json.loads(rows[0]["payload"])
    assert start["agent_tokens"] == {"input": prompt, "output": completion}


def test_the_chain_materializes_to_the_agent_span_totals(tmp_path: Path) -> None:
    trace = smolagents_trace()
    path = trace.write(tmp_path / "smolagents.json")
    report = ingest_files(str(tmp_path / "lake"), "otel", [path])
    assert not report.failed
    sessions = materialize(tmp_path / "lake")["sessions"]
    assert sessions.num_rows == 1
    row = sessions.to_pylist()[0]
    prompt, completion = _agent_totals(trace)
    assert (row["n_llm_calls"], row["n_tool_calls"]) == (3, 3)
    assert (row["input_tokens"], row["output_tokens"]) == (prompt, completion)
    turns = materialize(tmp_path / "lake")["turns"]
    assert pc.sum(turns["n_llm_calls"]).as_py() == 3


def test_an_error_recorded_at_every_level_is_one_error(tmp_path: Path) -> None:
    trace = Trace()
    agent = trace.add("agent", None, "AGENT", 0, 3000)
    outer = trace.add("Model.__call__", agent, "LLM", 10, 900, error="rate limited")
    inner = trace.add("Model.generate", outer, "LLM", 20, 890, error="rate limited")
    trace.add("completion", inner, "LLM", 30, 880, error="rate limited")
    rows = list(IMPORTERS["otel"].parse(trace.write(tmp_path / "t.json")))
    errors = [(r["event_type"], r["error_type"]) for r in rows if r["error_type"]]
    assert errors == [("llm_call", "APIError")]


def test_a_wrapper_that_fails_by_itself_is_an_error(tmp_path: Path) -> None:
    """The call went through; the wrapper failed afterwards (parsing its output, say)."""
    trace = Trace()
    agent = trace.add("agent", None, "AGENT", 0, 3000)
    outer = trace.add("Model.__call__", agent, "LLM", 10, 900, error="unparseable output")
    trace.add("completion", outer, "LLM", 30, 880, _tokens(100, 10))
    rows = list(IMPORTERS["otel"].parse(trace.write(tmp_path / "t.json")))
    kinds = [(r["event_type"], r["error_type"]) for r in rows if "session" not in r["event_type"]]
    assert kinds == [("error", "APIError"), ("llm_call", None)]


def test_a_call_takes_what_it_lacks_from_its_wrapper(tmp_path: Path) -> None:
    trace = Trace()
    agent = trace.add("agent", None, "AGENT", 0, 3000)
    outer = trace.add(
        "Model.generate", agent, "LLM", 10, 900, {**_tokens(200, 20), "llm.model_name": "m"}
    )
    trace.add("http call", outer, "LLM", 30, 880)
    rows = list(IMPORTERS["otel"].parse(trace.write(tmp_path / "t.json")))
    (llm,) = [r for r in rows if r["event_type"] == "llm_call"]
    assert (llm["model"], llm["input_tokens"], llm["output_tokens"], llm["latency_ms"]) == (
        "m",
        200,
        20,
        850.0,
    )


def test_a_wrapper_around_two_calls_lends_them_nothing(tmp_path: Path) -> None:
    """Two requests under one wrapper (a retry, a continuation): two calls, their own tokens."""
    trace = Trace()
    agent = trace.add("agent", None, "AGENT", 0, 3000)
    outer = trace.add("Model.generate", agent, "LLM", 10, 2000, _tokens(300, 30))
    trace.add("completion", outer, "LLM", 20, 900, error="overloaded")
    trace.add("completion", outer, "LLM", 1000, 1900, _tokens(300, 30))
    rows = list(IMPORTERS["otel"].parse(trace.write(tmp_path / "t.json")))
    llm = [r for r in rows if r["event_type"] == "llm_call"]
    assert [(r["input_tokens"], r["error_type"]) for r in llm] == [(None, "APIError"), (300, None)]


def test_an_agent_called_as_a_tool_keeps_both_tool_calls(tmp_path: Path) -> None:
    """A tool span above an agent span is a call of its own, not a wrapper of the agent's tools."""
    trace = Trace()
    root = trace.add("manager", None, "AGENT", 0, 5000)
    tool = trace.add("ask_researcher", root, "TOOL", 100, 4000, {"tool.name": "ask_researcher"})
    sub = trace.add("researcher", tool, "AGENT", 110, 3900)
    trace.add("search", sub, "TOOL", 200, 900, {"tool.name": "search"})
    rows = list(IMPORTERS["otel"].parse(trace.write(tmp_path / "t.json")))
    tools = [r["tool_name"] for r in rows if r["event_type"] == "tool_call"]
    assert tools == ["ask_researcher", "search"]


def test_cache_reads_counted_apart_from_input_are_added_up(tmp_path: Path) -> None:
    """Tier A: input_tokens includes cached tokens. A span whose numbers show the Anthropic
    convention (reads above input; or total = input + output + reads + writes) is added up."""
    trace = Trace()
    agent = trace.add("agent", None, "AGENT", 0, 3000)
    trace.add(
        "anthropic.messages",
        agent,
        "LLM",
        10,
        900,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.usage.cache_creation.input_tokens": 500,
        },
    )
    trace.add(
        "openai.chat",
        agent,
        "LLM",
        1000,
        1900,
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 2000,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.usage.cache_read.input_tokens": 1024,
        },
    )
    rows = list(IMPORTERS["otel"].parse(trace.write(tmp_path / "t.json")))
    llm = [r for r in rows if r["event_type"] == "llm_call"]
    assert [(r["input_tokens"], r["cache_tokens"]) for r in llm] == [(3512, 3000), (2000, 1024)]
    assert json.loads(llm[0]["payload"])["cache_write_tokens"] == 500
