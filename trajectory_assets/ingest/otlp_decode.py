"""OTLP/HTTP trace requests and responses: the wire format, with `opentelemetry-proto`.

A request body is an `ExportTraceServiceRequest`, binary protobuf (`application/x-protobuf`) or
OTLP/JSON (`application/json`: the protobuf JSON mapping, except that trace and span ids are
hex strings, and enums may be integers). Either way it becomes `ResourceSpans`: the resource's
`service.name` and its spans as dicts of the OTLP/JSON shape that `otel_spans.Span` reads, so
received spans go through exactly the mapping of the file importer.

Responses follow the OTLP/HTTP specification: 200 with an `ExportTraceServiceResponse` in the
request's encoding (with `partial_success` when some spans were rejected), and failures with a
`google.rpc.Status` body. That message (code = 1, message = 2) is encoded here by hand; its two
fields do not justify depending on googleapis-common-protos.
"""

import json
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trajectory_assets.errors import BadRequestError
from trajectory_assets.ingest.importers.otel_spans import attributes, raw_spans, service_app
from trajectory_assets.ingest.otlp_count import check_json, check_protobuf

if TYPE_CHECKING:
    from collections.abc import Iterable

    from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
    from opentelemetry.proto.trace.v1.trace_pb2 import Span as PbSpan

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# google.rpc.Code values used in Status bodies
INVALID_ARGUMENT = 3
UNAVAILABLE = 14


@dataclass
class ResourceSpans:
    service: str | None
    spans: list[dict[str, Any]] = field(default_factory=list)


def media_type(content_type: str | None) -> str | None:
    """`application/json; charset=utf-8` → `application/json`; None for other types."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind if kind in (PROTOBUF, JSON) else None


class BodyTooLargeError(BadRequestError):
    """A body over the limit once decompressed: 1 MB of gzip can hold 1 GB of zeros."""


def decompress(body: bytes, encoding: str | None, limit: int) -> bytes:
    """The body under its Content-Encoding (gzip, deflate or none), at most `limit` bytes once
    decompressed (BodyTooLargeError beyond, found without holding more); ValueError for
    another encoding."""
    name = (encoding or "identity").strip().lower()
    if name not in ("gzip", "deflate", "identity"):
        raise ValueError(f"unsupported Content-Encoding {encoding!r}")
    if name == "identity":
        return body
    out = bytearray()
    rest = body
    try:
        while rest:  # gzip may hold several members, one after the other
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS if name == "gzip" else zlib.MAX_WBITS)
            out += inflate.decompress(rest, limit + 1 - len(out))
            if len(out) > limit:
                raise BodyTooLargeError(f"body above {limit} bytes once decompressed")
            if not inflate.eof:
                raise BadRequestError(f"body is not valid {name}: it ends inside the stream")
            rest = inflate.unused_data if name == "gzip" else b""
    except zlib.error as exc:
        raise BadRequestError(f"body is not valid {name}: {exc}") from None
    return bytes(out)


def decode(body: bytes, kind: str, max_spans: int = 100_000) -> list[ResourceSpans]:
    """The request's resources and spans; TooManySpansError past `max_spans` spans
    (`otlp_count`)."""
    if kind == PROTOBUF:
        return decode_protobuf(body, max_spans)
    return decode_json(body, max_spans)


def decode_protobuf(body: bytes, max_spans: int = 100_000) -> list[ResourceSpans]:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    check_protobuf(body, max_spans)
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise BadRequestError(f"not an ExportTraceServiceRequest: {exc}") from None
    out = []
    for resource in request.resource_spans:
        resource_attrs = _attrs(resource.resource.attributes)
        spans = [_span(span) for scope in resource.scope_spans for span in scope.spans]
        out.append(ResourceSpans(_service(resource_attrs), spans))
    return out


def _span(span: "PbSpan") -> dict[str, Any]:
    """A protobuf span in the OTLP/JSON shape (hex ids), attributes as plain values."""
    return {
        "traceId": span.trace_id.hex(),
        "spanId": span.span_id.hex(),
        "parentSpanId": span.parent_span_id.hex(),
        "name": span.name,
        "startTimeUnixNano": span.start_time_unix_nano or None,
        "endTimeUnixNano": span.end_time_unix_nano or None,
        "attributes": _attrs(span.attributes),
        "status": {"code": span.status.code, "message": span.status.message},
        "events": [{"name": e.name, "attributes": _attrs(e.attributes)} for e in span.events],
    }


def _attrs(values: "Iterable[KeyValue]") -> dict[str, Any]:
    return {kv.key: _value(kv.value) for kv in values}


def _value(value: "AnyValue") -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return _attrs(value.kvlist_value.values)
    if kind == "bytes_value":
        return value.bytes_value.hex()
    return getattr(value, kind)


def decode_json(body: bytes, max_spans: int = 100_000) -> list[ResourceSpans]:
    try:
        doc = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequestError(f"not JSON: {exc}") from None
    except RecursionError:
        raise BadRequestError("not an ExportTraceServiceRequest: nested too deeply") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("resourceSpans", []), list):
        raise BadRequestError("not an ExportTraceServiceRequest: no resourceSpans list")
    check_json(doc.get("resourceSpans") or [], max_spans)
    out = []
    for resource in doc.get("resourceSpans") or []:
        if not isinstance(resource, dict):
            raise BadRequestError("a resourceSpans entry is not an object")
        try:
            resource_attrs = attributes((resource.get("resource") or {}).get("attributes"))
            spans = list(raw_spans({"resourceSpans": [resource]}))
        except (ValueError, TypeError, AttributeError, RecursionError) as exc:
            raise BadRequestError(f"malformed resourceSpans: {exc}") from None
        if not all(isinstance(span, dict) for span in spans):
            raise BadRequestError("malformed resourceSpans: a span is not an object")
        out.append(ResourceSpans(_service(resource_attrs), [s for s in spans]))
    return out


def _service(resource_attrs: dict[str, Any]) -> str | None:
    return service_app(resource_attrs.get("service.name"))


def success(kind: str, rejected: int = 0, message: str = "") -> bytes:
    """An ExportTraceServiceResponse, with partial_success when spans were rejected."""
    if kind == JSON:
        if not rejected:
            return b"{}"
        partial = {"rejectedSpans": str(rejected), "errorMessage": message}
        return json.dumps({"partialSuccess": partial}).encode()
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    response = ExportTraceServiceResponse()
    if rejected:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return bytes(response.SerializeToString())


def status(kind: str, code: int, message: str) -> bytes:
    """A google.rpc.Status body in the request's encoding."""
    if kind == JSON:
        return json.dumps({"code": code, "message": message}).encode()
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
