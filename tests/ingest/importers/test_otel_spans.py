"""What a span must have to become events (the file importer and the OTLP receiver share it):
ids of hex digits that are not all zero, a start time, and no end before the start."""

from typing import Any

import pytest

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.importers.otel_spans import Span

START = 1_764_000_000_000_000_000


def span(**changes: Any) -> dict[str, Any]:
    good = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "chat",
        "startTimeUnixNano": str(START),
        "endTimeUnixNano": str(START + 2_000_000),
    }
    return {**good, **changes}


def test_a_good_span_and_an_unset_end() -> None:
    read = Span(span())
    assert (read.trace_id, read.start_ns, read.end_ns) == (
        span()["traceId"],
        START,
        START + 2_000_000,
    )
    assert Span(span(endTimeUnixNano="0")).end_ns is None  # OTLP's zero: unset
    short = Span(span(traceId="abc123", spanId="0x1f"))  # a file's ids without leading zeros
    assert (short.trace_id, short.span_id) == ("0" * 26 + "abc123", "0" * 14 + "1f")


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"traceId": "0" * 32}, "has an invalid trace id '000"),
        ({"traceId": "not-hex!"}, "has an invalid trace id 'not-hex!': OTLP ids are 32 hex"),
        ({"spanId": "0" * 16}, "has an invalid span id"),
        ({"spanId": "a" * 17}, "has an invalid span id"),
        ({"traceId": ""}, "has no trace id or span id"),
        ({"startTimeUnixNano": "0"}, "has no start time"),
        ({"startTimeUnixNano": "notanumber"}, "has a start time that is no time: 'notanumber'"),
        ({"endTimeUnixNano": str(START - 1)}, "ends before it starts"),
        ({"startTimeUnixNano": "3" + "0" * 20}, "has a start time of 3000"),  # year 11,000
        ({"startTimeUnixNano": "-1"}, "has a start time of -1 ns, outside years 1970 to 9999"),
    ],
)
def test_a_span_that_cannot_be_events_is_refused_with_its_reason(
    changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(UnparseableFileError, match="span 'chat' ") as refused:
        Span(span(**changes))
    assert reason in str(refused.value)


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        (
            [{"key": "gen_ai.usage.input_tokens", "value": {"stringValue": "12abc"}}],
            "gen_ai.usage.input_tokens is not a finite number: '12abc'",  # was null, silently
        ),
        ({"gen_ai.usage.input_cost": "abc"}, "gen_ai.usage.input_cost is not"),  # failed a file
        ({"gen_ai.server.time_to_first_token": True}, "time_to_first_token is not"),
        ({"llm.token_count.total": "NaN"}, "llm.token_count.total is not a finite number"),
    ],
)
def test_a_number_attribute_that_is_no_number_refuses_the_span_by_name(
    attributes: Any, reason: str
) -> None:
    with pytest.raises(UnparseableFileError, match="span 'chat': ") as refused:
        Span(span(attributes=attributes))
    assert reason in str(refused.value)


def test_number_attributes_as_otlp_strings_or_empty_are_read() -> None:
    attributes = [
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "269"}},  # int64 as a string
        {"key": "gen_ai.usage.output_cost", "value": {"stringValue": ""}},  # empty: not stated
    ]
    assert Span(span(attributes=attributes)).attrs["gen_ai.usage.input_tokens"] in (269, "269")


@pytest.mark.parametrize(
    "start",
    [
        START // 1_000_000_000,  # seconds
        START // 1_000_000,  # milliseconds, as JavaScript's Date.now()
        str(START // 1_000),  # microseconds, as text
        START / 1e9,  # fractional seconds, as Python's time.time()
        START,  # nanoseconds, kept exact
        "2025-11-24T16:00:00Z",
    ],
)
def test_a_span_lists_epoch_times_are_read_by_their_size(start: int | float | str) -> None:
    """A span list (`start_time`/`end_time`, the SDK's `to_json` shape) written by hand with
    epoch seconds was read as nanoseconds: its spans landed on 1970-01-01, named as having no
    time. OTLP's `…UnixNano` stay nanoseconds, whatever their size."""
    listed = {k: v for k, v in span().items() if not k.endswith("UnixNano")}
    read = Span({**listed, "start_time": start, "end_time": None})
    assert read.start_ns == START
    assert Span(span(startTimeUnixNano=str(START // 1_000_000_000))).start_ns == 1_764_000_000
