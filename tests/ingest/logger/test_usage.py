"""A provider's usage record handed to `llm_call`: counted as Tier A counts (every input token,
cached ones included), whichever provider's convention it follows."""

import json
from pathlib import Path
from types import SimpleNamespace

from tests.ingest.conftest import FAST, NewLogger
from tests.ingest.lakes import raw_events
from trajectory_assets.ingest.logger.usage import UsageCounts, usage_counts

ANTHROPIC = {
    "input_tokens": 10,
    "cache_read_input_tokens": 800,
    "cache_creation_input_tokens": 200,
    "output_tokens": 50,
}


def test_anthropics_cache_counts_are_added_to_its_input() -> None:
    """Passed as they are, 800 cached of 10 input tokens priced the call as all cached."""
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


def test_the_logger_writes_the_counts_of_a_usage_record(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    logger = new_logger(str(tmp_path), "app", **FAST)
    with logger.session("s1") as s:
        assert s.llm_call("claude-sonnet-4", usage=SimpleNamespace(**ANTHROPIC))
        assert s.llm_call("claude-sonnet-4", usage=ANTHROPIC, output_tokens=60)  # given wins
        assert s.llm_call("m", usage={"input_tokens": "x", "cache_read_input_tokens": 1}) is None
    logger.close()
    assert logger.stats()["invalid"] == 1
    calls = [r for r in raw_events(tmp_path).to_pylist() if r["event_type"] == "llm_call"]
    counts = [(c["input_tokens"], c["cache_tokens"], c["output_tokens"]) for c in calls]
    assert counts == [(1010, 800, 50), (1010, 800, 60)]
    assert [json.loads(c["payload"])["cache_write_tokens"] for c in calls] == [200, 200]
