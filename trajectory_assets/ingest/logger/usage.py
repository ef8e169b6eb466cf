"""A provider's usage record as Tier A's counts, for `Session.llm_call(usage=...)`.

Tier A's `input_tokens` counts every input token, the cached ones included. Providers disagree:
Anthropic's usage counts cache reads and writes apart from its `input_tokens`; OpenAI's
(`prompt_tokens`, or the Responses API's `input_tokens` with `input_tokens_details`) includes
the cached ones. A producer passing Anthropic's numbers as they are has its calls priced as all
cached, or undercharged; handing the record over lets the logger add them up.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UsageCounts:
    input_tokens: int | None
    output_tokens: int | None
    cache_tokens: int | None
    cache_write_tokens: int | None


def usage_counts(usage: Any) -> UsageCounts:
    """The counts of an Anthropic or OpenAI usage record (the SDKs' objects, or their JSON as
    a mapping); a count the record lacks is None."""
    if _get(usage, "prompt_tokens") is not None:  # OpenAI chat completions: inclusive
        cached = _get(_get(usage, "prompt_tokens_details"), "cached_tokens")
        return UsageCounts(
            _get(usage, "prompt_tokens"), _get(usage, "completion_tokens"), cached, None
        )
    given, output = _get(usage, "input_tokens"), _get(usage, "output_tokens")
    details = _get(usage, "input_tokens_details")
    if details is not None:  # OpenAI's Responses API: inclusive too
        return UsageCounts(given, output, _get(details, "cached_tokens"), None)
    reads = _get(usage, "cache_read_input_tokens")  # Anthropic: the cache counted apart
    writes = _get(usage, "cache_creation_input_tokens")
    total = None if given is None else given + (reads or 0) + (writes or 0)
    return UsageCounts(total, output, reads, writes)


def _get(record: Any, name: str) -> Any:
    if record is None:
        return None
    if isinstance(record, Mapping):
        return record.get(name)
    return getattr(record, name, None)
