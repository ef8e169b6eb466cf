"""A provider's usage record as Tier A's counts, for `Session.llm_call(usage=...)`.

Tier A's `input_tokens` counts every input token, the cached ones included. Providers disagree:
Anthropic's usage and Bedrock's Converse usage count cache reads and writes apart from their
input count; OpenAI's (`prompt_tokens`, or the Responses API's `input_tokens` with
`input_tokens_details`) and Gemini's (`prompt_token_count`, `promptTokenCount` in its JSON)
include the cached ones. A producer passing Anthropic's numbers as they are has its calls
counted short; handing the record over lets the logger add them up. The fields read are those
genai-prices' own extractors read for each provider (the tests check the counts agree).
"""

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from trajectory_assets.ingest.common import ANTHROPIC_NESTED_COUNTS
from trajectory_assets.schema import CALL_PAYLOAD_COUNTS


@dataclass(frozen=True)
class UsageCounts:
    input_tokens: int | None
    output_tokens: int | None
    cache_tokens: int | None
    cache_write_tokens: int | None
    cache_write_1h_tokens: int | None = None  # of the writes, those kept for an hour
    web_searches: int | None = None  # server-side web searches, priced per search

    def payload_counts(self) -> dict[str, int]:
        """The counts Tier A keeps in an llm_call's payload, those the record gave."""
        return {key: value for key in CALL_PAYLOAD_COUNTS if (value := getattr(self, key))}


def usage_counts(usage: Any) -> UsageCounts:
    """The counts of an Anthropic, OpenAI, Gemini or Bedrock (Converse) usage record (the SDKs'
    objects, their JSON as a mapping or text; LiteLLM's and OpenRouter's OpenAI-shaped ones
    too), or of a whole response holding one; a count the record lacks is None. ValueError for
    a record of none of those shapes, and for a count that is no whole number from 0 to 10^12
    (a text, a bool, a fraction: the event would be refused at write, or the row rejected)."""
    if isinstance(usage, str | bytes):
        usage = json.loads(usage)
    counts = _counts(_record(usage))
    searches = _search_calls(usage)
    if searches is None or counts.web_searches is not None:
        return counts
    return replace(counts, web_searches=searches)


def _search_calls(response: Any) -> int | None:
    """OpenAI's Responses API reports the web searches of a whole response as its output items
    (`web_search_call`), not in its usage."""
    output = _get(response, "output")
    if not isinstance(output, list | tuple):
        return None
    return sum(1 for item in output if _get(item, "type") == "web_search_call") or None


def _counts(usage: Any) -> UsageCounts:
    if _get(usage, "prompt_tokens") is not None:  # OpenAI chat completions: inclusive
        details = _get(usage, "prompt_tokens_details")
        writes = _count(details, "cache_write_tokens", "cache_creation_tokens")
        reads = _count(details, "cached_tokens")
        hour = _get(details, "cache_creation_token_details")  # LiteLLM's, of Anthropic's
        return UsageCounts(  # LiteLLM's Anthropic fields where the details lack them
            _count(usage, "prompt_tokens"),
            _count(usage, "completion_tokens"),
            reads if reads is not None else _count(usage, "cache_read_input_tokens"),
            writes if writes is not None else _count(usage, "cache_creation_input_tokens"),
            _count(hour, "ephemeral_1h_input_tokens"),
            _count(_get(usage, "server_tool_use"), "web_search_requests"),
        )
    gemini = _gemini(usage)
    if gemini is not None:
        return gemini
    if _first(usage, "inputTokens", "outputTokens") is not None:  # Bedrock: the cache apart
        counts = _apart(
            _count(usage, "inputTokens"),
            _count(usage, "outputTokens"),
            _count(usage, "cacheReadInputTokens"),
            _count(usage, "cacheWriteInputTokens"),
        )
        return replace(counts, cache_write_1h_tokens=_bedrock_hour(_get(usage, "cacheDetails")))
    given, output = _count(usage, "input_tokens"), _count(usage, "output_tokens")
    if given is None and output is None:
        raise ValueError(
            f"a {type(usage).__name__} with none of prompt_tokens, input_tokens, output_tokens, "
            "prompt_token_count, candidates_token_count, inputTokens, outputTokens (the usage "
            "records of Anthropic, OpenAI, Gemini and Bedrock are taken)"
        )
    details = _get(usage, "input_tokens_details")
    if details is not None:  # OpenAI's Responses API: inclusive too
        writes = _count(details, "cache_write_tokens", "cache_creation_tokens")
        return UsageCounts(given, output, _count(details, "cached_tokens"), writes)
    reads = _count(usage, "cache_read_input_tokens")  # Anthropic: the cache counted apart
    counts = _apart(given, output, reads, _count(usage, "cache_creation_input_tokens"))
    nested = ANTHROPIC_NESTED_COUNTS.items()
    return replace(
        counts, **{key: _count(_get(usage, outer), inner) for key, (outer, inner) in nested}
    )


def _bedrock_hour(details: Any) -> int | None:
    """Bedrock's writes kept for an hour: its `cacheDetails` entry of `ttl` 1h."""
    if not isinstance(details, list | tuple):
        return None
    found = [_count(d, "inputTokens") for d in details if _get(d, "ttl") == "1h"]
    return sum(n for n in found if n is not None) if found else None


RESPONSE_KEYS = ("usage", "usage_metadata", "usageMetadata")
"""Where a whole response keeps its usage record (Anthropic, OpenAI and Bedrock; Gemini's SDK
object and its JSON), for a producer handing over the response itself."""

MAX_COUNT = 10**12
"""As Tier A's validation: a count above it is a placeholder or a unit mistake."""


def _count(record: Any, *names: str) -> int | None:
    """The first of the fields the record has, as a token count."""
    for name in names:
        value = _get(record, name)
        if value is None:
            continue
        whole = not isinstance(value, bool) and (
            isinstance(value, numbers.Integral)  # numpy's and pandas' integers too
            or (isinstance(value, numbers.Real) and math.isfinite(value) and value == round(value))
        )  # JSON's 1200.0
        if not whole or not 0 <= int(value) <= MAX_COUNT:
            raise ValueError(f"{name} is {value!r}, not a whole number of tokens from 0 to 10^12")
        return int(value)
    return None


def _apart(given: Any, output: Any, reads: Any, writes: Any) -> UsageCounts:
    """Counts whose cache reads and writes are not in the input count: added to it."""
    total = None if given is None else given + (reads or 0) + (writes or 0)
    return UsageCounts(total, output, reads, writes)


GEMINI = {
    "prompt": ("prompt_token_count", "promptTokenCount"),
    "tool_prompt": ("tool_use_prompt_token_count", "toolUsePromptTokenCount"),
    "candidates": ("candidates_token_count", "candidatesTokenCount"),
    "thoughts": ("thoughts_token_count", "thoughtsTokenCount"),
    "cached": ("cached_content_token_count", "cachedContentTokenCount"),
}
"""Gemini's usage metadata, as the google-genai SDK names its fields and as its JSON does."""


COUNT_FIELDS = (
    "prompt_tokens",
    "completion_tokens",
    "input_tokens",
    "output_tokens",
    *GEMINI["prompt"],
    *GEMINI["candidates"],
    "inputTokens",
    "outputTokens",
)
"""The counts that tell a usage record of any shape taken."""


def _record(usage: Any) -> Any:
    """The usage record itself, or the one a whole response holds (and only such a one: a
    record's own field named `usage` is no response's)."""
    if any(_get(usage, name) is not None for name in COUNT_FIELDS):
        return usage
    for key in RESPONSE_KEYS:
        inner = _get(usage, key)
        if any(_get(inner, name) is not None for name in COUNT_FIELDS):
            return inner
    return usage


def _gemini(usage: Any) -> UsageCounts | None:
    """Gemini's prompt count holds its cached tokens; a tool-use prompt is input too, and
    thinking is billed as output. None for a record of another shape."""
    found = {key: _count(usage, *names) for key, names in GEMINI.items()}
    if found["prompt"] is None and found["candidates"] is None:
        return None
    return UsageCounts(
        _sum(found["prompt"], found["tool_prompt"]),
        _sum(found["candidates"], found["thoughts"]),
        found["cached"],
        None,
    )


def _sum(first: Any, second: Any) -> Any:
    return first if second is None else (second if first is None else first + second)


def _first(record: Any, *names: str) -> Any:
    return next((v for n in names if (v := _get(record, n)) is not None), None)


def _get(record: Any, name: str) -> Any:
    if record is None:
        return None
    if isinstance(record, Mapping):
        return record.get(name)
    return getattr(record, name, None)


def with_counts(payload: Any, counts: Mapping[str, int]) -> Any:
    """The call's payload with the counts Tier A keeps there (`cache_write_tokens` and the
    like), where the sessionizer reads them; its own keys win. A payload given as JSON text of
    an object is merged too; one of another kind is kept as it is (the writes are then priced
    as input)."""
    parsed = payload
    if isinstance(payload, str):
        try:
            parsed = json.loads(payload)
        except ValueError:
            return payload
    if parsed is None:
        parsed = {}
    if not isinstance(parsed, Mapping):
        return payload
    if "cache_write_tokens" in parsed:  # writes of its own: the record's hour is not of them
        counts = {k: v for k, v in counts.items() if k != "cache_write_1h_tokens"}
    return {**counts, **parsed}
