"""A provider's usage record handed to `llm_call`: counted as Tier A counts (every input token,
cached ones included), whichever provider's convention it follows."""

import json
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.ingest.conftest import FAST, NewLogger
from tests.ingest.lakes import raw_events
from trajectory_assets.ingest.logger.usage import UsageCounts, usage_counts, with_counts

ANTHROPIC = {
    "input_tokens": 10,
    "cache_read_input_tokens": 800,
    "cache_creation_input_tokens": 200,
    "output_tokens": 50,
}


def test_anthropics_cache_counts_are_added_to_its_input() -> None:
    """Passed as they are, 800 cached and 200 written of 10 input tokens counted the call as 10
    input tokens (the tables now add them up when the cache exceeds the input, not otherwise)."""
    assert usage_counts(ANTHROPIC) == UsageCounts(1010, 50, 800, 200)
    assert usage_counts(SimpleNamespace(**ANTHROPIC)) == UsageCounts(1010, 50, 800, 200)
    assert usage_counts({"input_tokens": 7, "output_tokens": 1}) == UsageCounts(7, 1, None, None)


def test_openais_counts_already_hold_the_cached_tokens() -> None:
    chat = {
        "prompt_tokens": 1000,
        "completion_tokens": 50,
        "prompt_tokens_details": SimpleNamespace(cached_tokens=800),
    }
    assert usage_counts(chat) == UsageCounts(1000, 50, 800, None)
    responses = {
        "input_tokens": 1000,
        "output_tokens": 50,
        "input_tokens_details": {"cached_tokens": 800},
    }
    assert usage_counts(responses) == UsageCounts(1000, 50, 800, None)
    # cache writes where OpenAI-shaped records (OpenRouter's, LiteLLM's) put them: not input
    written = {**chat, "prompt_tokens_details": {"cached_tokens": 800, "cache_write_tokens": 90}}
    assert usage_counts(written) == UsageCounts(1000, 50, 800, 90)
    litellm = {"prompt_tokens": 1010, "completion_tokens": 50, "cache_creation_input_tokens": 200}
    assert usage_counts({**litellm, "prompt_tokens_details": {"cached_tokens": 800}}) == (
        UsageCounts(1010, 50, 800, 200)
    )
    # LiteLLM's reads of an Anthropic model at the top alone (no details), as OpenHands keeps
    # them: its importer reads them there too, so a call counts alike however it came in
    assert usage_counts({**litellm, "cache_read_input_tokens": 800}) == (
        UsageCounts(1010, 50, 800, 200)
    )


GEMINI = {
    "promptTokenCount": 1000,
    "cachedContentTokenCount": 400,
    "candidatesTokenCount": 50,
    "thoughtsTokenCount": 20,
    "toolUsePromptTokenCount": 7,
    "totalTokenCount": 1077,
}
ANTHROPIC_FULL = {
    **ANTHROPIC,
    "cache_creation": {"ephemeral_5m_input_tokens": 150, "ephemeral_1h_input_tokens": 50},
    "server_tool_use": {"web_search_requests": 2},
}
BEDROCK_HOUR = {
    "inputTokens": 10,
    "outputTokens": 5,
    "cacheWriteInputTokens": 1000,
    "cacheDetails": [{"ttl": "5m", "inputTokens": 600}, {"ttl": "1h", "inputTokens": 400}],
}
BEDROCK = {
    "inputTokens": 10,
    "outputTokens": 5,
    "totalTokens": 5015,
    "cacheReadInputTokens": 4000,
    "cacheWriteInputTokens": 1000,
}


def _snake(record: dict[str, int]) -> SimpleNamespace:
    """A record as an SDK object names its fields (google-genai's usage metadata)."""
    return SimpleNamespace(**{re.sub("([A-Z])", r"_\1", k).lower(): v for k, v in record.items()})


@pytest.mark.parametrize(
    ("provider", "response", "record"),
    [
        ("anthropic", {"model": "claude-sonnet-4-5", "usage": ANTHROPIC}, ANTHROPIC),
        ("google", {"usageMetadata": GEMINI}, GEMINI),
        ("google", {"usageMetadata": GEMINI}, _snake(GEMINI)),
        ("google", {"usageMetadata": {"promptTokenCount": 12}}, {"promptTokenCount": 12}),
        ("aws", {"usage": BEDROCK}, BEDROCK),
        ("anthropic", {"model": "claude-sonnet-4-5", "usage": ANTHROPIC_FULL}, ANTHROPIC_FULL),
        ("aws", {"usage": BEDROCK_HOUR}, BEDROCK_HOUR),
    ],
)
def test_the_counts_are_those_genai_prices_reads(provider: str, response: Any, record: Any) -> None:
    """Gemini's prompt holds its cached tokens, its thinking is output and a tool-use prompt
    input; Bedrock counts the cache apart, as Anthropic does. genai-prices, which prices the
    calls, reads each provider's record so: the counts agree with its extractor's."""
    from genai_prices import extract_usage

    expected = extract_usage(response, provider_id=provider).usage
    got = usage_counts(record)  # a count the record lacks: None here, 0 in genai-prices
    assert got.input_tokens == expected.input_tokens
    assert (got.output_tokens or 0) == expected.output_tokens
    assert (got.cache_tokens or 0) == expected.cache_read_tokens
    assert (got.cache_write_tokens or 0) == expected.cache_write_tokens
    # writes kept for an hour and web searches, which genai-prices prices apart
    assert (got.cache_write_1h_tokens or 0) == expected.cache_write_1h_tokens
    assert (got.web_searches or 0) == expected.web_searches


@pytest.mark.parametrize(
    "record",
    [
        {"prompt_tokens": "1200", "completion_tokens": 5},  # a text: the event was lost at write
        {"prompt_tokens": True, "completion_tokens": 5},
        {"prompt_tokens": 1200.7, "completion_tokens": 5},  # stored as 1200
        '{"prompt_tokens": NaN, "completion_tokens": 5}',
        {"prompt_tokens": 2**63, "completion_tokens": 5},
        {"promptTokenCount": 1000, "candidatesTokenCount": 500, "thoughtsTokenCount": -300},
        {**BEDROCK, "cacheWriteInputTokens": -2000},  # made the input 1,000 lower, priced
    ],
)
def test_a_count_that_is_no_whole_number_of_tokens_is_refused_and_named(record: Any) -> None:
    with pytest.raises(ValueError, match=r"is .*, not a whole number of tokens from 0 to 10"):
        usage_counts(record)
    assert usage_counts({"prompt_tokens": 1200.0, "completion_tokens": 5}).input_tokens == 1200


def test_litellms_records_keep_an_hours_writes_and_web_searches() -> None:
    litellm = {
        "prompt_tokens": 12_000,
        "completion_tokens": 50,
        "prompt_tokens_details": {
            "cached_tokens": 800,
            "cache_creation_tokens": 10_000,
            "cache_creation_token_details": {"ephemeral_1h_input_tokens": 4_000},
        },
        "server_tool_use": {"web_search_requests": 3},
    }
    assert usage_counts(litellm) == UsageCounts(12_000, 50, 800, 10_000, 4_000, 3)


def test_a_responses_api_responses_web_searches_are_its_search_call_items() -> None:
    """OpenAI's Responses API reports them as output items, outside its usage: genai-prices
    prices them ($0.01 each for gpt-4o), and `usage=response` counted none."""
    usage = {
        "input_tokens": 1000,
        "output_tokens": 50,
        "input_tokens_details": {"cached_tokens": 0},
    }
    items = [{"type": "web_search_call", "status": "completed"}] * 2 + [{"type": "message"}]
    response = SimpleNamespace(id="resp_1", output=[SimpleNamespace(**i) for i in items])
    response.usage = usage
    assert usage_counts(response) == UsageCounts(1000, 50, 0, None, None, 2)
    assert usage_counts(json.dumps({"output": items, "usage": usage})).web_searches == 2
    assert usage_counts({"output": [{"type": "message"}], "usage": usage}).web_searches is None


def test_writes_given_in_the_payload_take_no_hour_from_the_record() -> None:
    """3,000 writes of one's own and the record's 8,000 written for an hour: more for an hour
    than written, which no price can take."""
    counts = usage_counts(ANTHROPIC_FULL).payload_counts()
    assert with_counts({"cache_write_tokens": 3_000}, counts) == {
        "cache_write_tokens": 3_000,
        "web_searches": 2,
    }
    assert with_counts('{"note": 1}', counts) == {**counts, "note": 1}


def test_numpy_and_pandas_integers_are_whole_numbers() -> None:
    """Counts from a DataFrame's row: refusing them lost the call."""
    import numpy as np
    import pandas as pd

    row = pd.DataFrame({"prompt_tokens": [100], "completion_tokens": [5]}).iloc[0]
    assert usage_counts(row) == UsageCounts(100, 5, None, None)
    record = {"prompt_tokens": np.int32(100), "completion_tokens": np.float64(5.0)}
    assert usage_counts(record) == UsageCounts(100, 5, None, None)


def test_a_whole_response_is_taken_for_its_usage_record() -> None:
    """`usage=response` instead of `response.usage`: the call was refused and lost. A record's
    own field named `usage` is not a response's."""
    assert usage_counts({"usage": 0, "prompt_tokens": 4, "completion_tokens": 1}).input_tokens == 4
    assert usage_counts({"id": "msg_1", "usage": ANTHROPIC}) == UsageCounts(1010, 50, 800, 200)
    gemini = SimpleNamespace(text="hi", usage_metadata=_snake(GEMINI))
    assert usage_counts(gemini) == UsageCounts(1007, 70, 400, None)
    assert usage_counts(json.dumps({"usageMetadata": GEMINI})).input_tokens == 1007


def test_a_record_as_json_text_is_read_and_one_of_no_known_shape_is_refused() -> None:
    assert usage_counts(json.dumps(ANTHROPIC)) == UsageCounts(1010, 50, 800, 200)
    with pytest.raises(ValueError, match="none of prompt_tokens, input_tokens, output_tokens"):
        usage_counts({"prompt_token_details": 10})


def test_the_logger_writes_the_counts_of_a_usage_record(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    logger = new_logger(str(tmp_path), "app", **FAST)
    with logger.session("s1") as s:
        assert s.llm_call("claude-sonnet-4", usage=SimpleNamespace(**ANTHROPIC))
        assert s.llm_call("claude-sonnet-4", usage=ANTHROPIC, output_tokens=60)  # given wins
        assert s.llm_call("m", usage={"input_tokens": "x", "cache_read_input_tokens": 1}) is None
        assert s.llm_call("m", usage={"tokens": 10}) is None  # no known shape
        assert s.llm_call("m", usage=ANTHROPIC, payload='{"note": "x"}')  # JSON text: merged
    logger.close()
    assert logger.stats()["invalid"] == 2
    calls = [r for r in raw_events(tmp_path).to_pylist() if r["event_type"] == "llm_call"]
    counts = [(c["input_tokens"], c["cache_tokens"], c["output_tokens"]) for c in calls]
    assert counts == [(1010, 800, 50), (1010, 800, 60), (1010, 800, 50)]
    assert [json.loads(c["payload"])["cache_write_tokens"] for c in calls] == [200, 200, 200]
    assert json.loads(calls[2]["payload"])["note"] == "x"


def test_metrics_only_keeps_a_calls_cache_writes(tmp_path: Path, new_logger: NewLogger) -> None:
    """They are priced at the cache-write rate: dropped with the payload, as ordinary input."""
    logger = new_logger(str(tmp_path), "app", capture="metrics_only", **FAST)
    with logger.session("s1") as s:
        assert s.llm_call("claude-sonnet-4", usage=ANTHROPIC, payload={"prompt": "secret"})
        assert s.llm_call("claude-sonnet-4-5", usage=ANTHROPIC_FULL, payload={"prompt": "x"})
    logger.close()
    calls = [r for r in raw_events(tmp_path).to_pylist() if r["event_type"] == "llm_call"]
    assert [json.loads(c["payload"]) for c in calls] == [
        {"cache_write_tokens": 200},
        {"cache_write_tokens": 200, "cache_write_1h_tokens": 50, "web_searches": 2},
    ]
