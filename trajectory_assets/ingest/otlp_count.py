"""How much an OTLP trace request holds, counted before it is decoded: a few hundred bytes of
gzip can hold 200,000 empty spans (two bytes each on the wire), and decoding them took 165
bytes of memory each before any could be counted, then a gigabyte and a rejected row each.

A protobuf body is walked by its wire format down to its spans (each field skipped by its
length, nothing decoded): `ExportTraceServiceRequest.resource_spans` (1) → `ResourceSpans.
scope_spans` (2) → `ScopeSpans.spans` (2). Spans are counted, and every other field of those
three messages apart (resources, scopes, their own fields, unknown fields: up to `OTHERS_PER_SPAN`
times the limit of spans), so that a body of unknown fields costs no longer a walk than one of
spans. A JSON body, once parsed, counts its resources and scopes as the others.
"""

from typing import Any

from trajectory_assets.errors import BadRequestError

_LIST_FIELD = (1, 2, 2)  # the field number of the list each level holds: request, resource, scope
_MAX_VARINT_BYTES = 10  # of a 64-bit value: protobuf's own limit
OTHERS_PER_SPAN = 4
"""Other fields a request may hold per span of its limit: a Collector's batch appends each
request it took as resources of their own (some six fields each), so 40,000 spans may come in
20,000 resources of two (120,000 others)."""


class TooManySpansError(BadRequestError):
    """A request that holds more than a receiver takes at once (413: it is not sent again)."""


def check_protobuf(body: bytes, limit: int) -> None:
    """TooManySpansError past `limit` spans, or past `OTHERS_PER_SPAN` times as many other
    fields; BadRequestError for a group (wire type 3 or 4, which no OTLP producer writes:
    skipping one means decoding it), another wire type no protobuf has, or a varint longer than
    ten bytes. A body cut short is counted as far as it reads: the parser then
    says what is wrong with it."""
    spans, others = _walk(memoryview(body), limit)
    _check(spans, others, limit)


def check_json(resources: list[Any], limit: int) -> None:
    """`check_protobuf` of a parsed OTLP/JSON body's `resourceSpans` (entries that are not
    what they should be count as nothing: the mapping says what is wrong)."""
    spans, others = 0, len(resources)
    for resource in resources:
        scopes = (
            resource.get("scopeSpans") or resource.get("instrumentationLibrarySpans")
            if isinstance(resource, dict)
            else None
        )
        for scope in scopes if isinstance(scopes, list) else ():
            listed = scope.get("spans") if isinstance(scope, dict) else None
            others += 1
            spans += len(listed) if isinstance(listed, list) else 0
    _check(spans, others, limit)


def _check(spans: int, others: int, limit: int) -> None:
    batches = "send smaller batches (the Collector's batch processor: send_batch_max_size)"
    if spans > limit:
        raise TooManySpansError(f"more than {limit:,} spans in one request: {batches}")
    if others > OTHERS_PER_SPAN * limit:
        raise TooManySpansError(
            f"more than {OTHERS_PER_SPAN * limit:,} resources, scopes and their other fields in "
            f"one request: {batches}"
        )


def _walk(body: memoryview, limit: int) -> tuple[int, int]:
    """(spans, other fields) of the request's three levels, up to just past `limit` of either."""
    spans = others = 0
    nested = [(0, len(body), 0)]  # (start, end, level): 0 the request, 1 a resource, 2 a scope
    try:
        while nested:
            pos, end, level = nested.pop()
            while pos < end:
                tag, pos = _varint(body, pos)
                field, wire = tag >> 3, tag & 7
                if wire == 2:  # length-delimited: a message, text, bytes or a packed list
                    size, pos = _varint(body, pos)
                    if field == _LIST_FIELD[level] and level == 2:
                        spans += 1
                    else:
                        others += 1
                        if field == _LIST_FIELD[level]:
                            nested.append((pos, pos + size, level + 1))
                    pos += size
                elif wire in (0, 1, 5):  # a varint, 8 bytes, 4 bytes
                    pos = _varint(body, pos)[1] if wire == 0 else pos + (8 if wire == 1 else 4)
                    others += 1
                else:
                    kind = "a group, which OTLP does not use" if wire in (3, 4) else "no protobuf"
                    raise BadRequestError(
                        f"not an ExportTraceServiceRequest: it holds wire type {wire} ({kind})"
                    )
                if spans > limit or others > OTHERS_PER_SPAN * limit:
                    return spans, others
    except IndexError:  # cut short: counted as far as it reads
        pass
    return spans, others


def _varint(body: memoryview, pos: int) -> tuple[int, int]:
    """The varint at `pos` and the position after it; IndexError past the body's end."""
    value = 0
    for shift in range(0, 7 * _MAX_VARINT_BYTES, 7):
        byte = body[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
    raise BadRequestError("not an ExportTraceServiceRequest: a varint longer than ten bytes")
