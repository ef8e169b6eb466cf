"""OpenHands token counts in SPEC.md's convention (input includes cached tokens).

LiteLLM's `prompt_tokens`, which OpenHands records, already includes cache reads; the real
fixtures have no cache hits, so these records are built by hand in OpenHands' output shape.
"""

import json
from pathlib import Path

from trajectory_assets.ingest.importers import IMPORTERS


def _record(usages: list[dict[str, object]]) -> dict[str, object]:
    history = [
        {"id": 0, "timestamp": "2026-01-05T10:00:00", "source": "user", "action": "message"},
        {"id": 1, "timestamp": "2026-01-05T10:00:05", "source": "agent", "action": "finish"},
    ]
    return {
        "instance_id": "demo__1",
        "metadata": {"agent_class": "CodeActAgent", "llm_config": {"model": "m"}},
        "history": history,
        "metrics": {"token_usages": usages},
        "error": None,
    }


def test_prompt_tokens_already_include_cache_reads(tmp_path: Path) -> None:
    usage = {"prompt_tokens": 5000, "completion_tokens": 40, "cache_read_tokens": 4096}
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps(_record([{**usage, "response_id": "r1"}])) + "\n")
    (call,) = [r for r in IMPORTERS["openhands"].parse(path) if r["event_type"] == "llm_call"]
    assert (call["input_tokens"], call["cache_tokens"]) == (5000, 4096)


def test_counts_that_left_the_cache_out_are_added_up(tmp_path: Path) -> None:
    usage = {
        "prompt_tokens": 9,
        "completion_tokens": 40,
        "cache_read_tokens": 12000,
        "cache_write_tokens": 300,
    }
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps(_record([{**usage, "response_id": "r1"}])) + "\n")
    (call,) = [r for r in IMPORTERS["openhands"].parse(path) if r["event_type"] == "llm_call"]
    assert (call["input_tokens"], call["cache_tokens"]) == (12309, 12000)


def test_a_response_recorded_twice_counts_once(tmp_path: Path) -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "response_id": "r1"}
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps(_record([usage, usage])) + "\n")
    calls = [r for r in IMPORTERS["openhands"].parse(path) if r["event_type"] == "llm_call"]
    assert [(r["input_tokens"], r["output_tokens"]) for r in calls] == [(100, 10)]
