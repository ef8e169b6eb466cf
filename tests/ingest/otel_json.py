"""OTLP/JSON spans and files, as the Collector's file exporter writes them, for importer
tests of attribute names."""

import json
from pathlib import Path
from typing import Any

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z in ns


def otlp_span(
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


def otlp_file(path: Path, spans: list[dict[str, Any]]) -> Path:
    path.write_text(
        json.dumps({"resourceSpans": [{"resource": {}, "scopeSpans": [{"spans": spans}]}]})
    )
    return path
