"""An instrumented program: the OpenTelemetry SDK sends GenAI spans with its OTLP exporter."""

import json
from pathlib import Path


def send_agent_runs(endpoint: str, spans_file: Path) -> None:
    """Two agent runs traced with the SDK, exported over OTLP/HTTP (protobuf) and, for the
    comparison, to a file in the SDK's own JSON through an in-memory exporter."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    memory = InMemorySpanExporter()
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.ingest.test_otlp")
    for run in range(2):
        agent = {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support",
            "gen_ai.conversation.id": f"conversation-{run}",
        }
        with tracer.start_as_current_span("invoke_agent support", attributes=agent):
            for step in range(3):
                with tracer.start_as_current_span(
                    "chat gpt-4o",
                    attributes={
                        "gen_ai.operation.name": "chat",
                        "gen_ai.request.model": "gpt-4o",
                        "gen_ai.response.model": "gpt-4o-2024-08-06",
                        "gen_ai.usage.input_tokens": 1000 + 100 * step,
                        "gen_ai.usage.output_tokens": 50 + step,
                        "gen_ai.usage.cache_read.input_tokens": 512,
                    },
                ):
                    pass
                tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
                with tracer.start_as_current_span("execute_tool search", attributes=tool) as span:
                    if run == 1 and step == 2:
                        span.set_status(Status(StatusCode.ERROR, "search timed out"))
                        span.set_attribute("error.type", "TimeoutError")
    provider.force_flush()
    provider.shutdown()
    spans = [json.loads(s.to_json()) for s in memory.get_finished_spans()]
    spans_file.write_text(json.dumps({"spans": spans}))
