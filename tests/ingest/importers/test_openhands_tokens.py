"""OpenHands token counts in Tier A's convention (input includes cached tokens).

LiteLLM's `prompt_tokens`, which OpenHands records, already includes cache reads; the real
fixtures have no cache hits, so these records are built by hand in OpenHands' output shape.
"""

import json
from pathlib import Path

import pytest

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.importers import IMPORTERS
from trajectory_assets.ingest.run import ingest_files


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
    assert json.loads(call["payload"])["cache_write_tokens"] == 300  # priced at its own rate


def test_a_response_recorded_twice_counts_once(tmp_path: Path) -> None:
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "response_id": "r1"}
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps(_record([usage, usage])) + "\n")
    calls = [r for r in IMPORTERS["openhands"].parse(path) if r["event_type"] == "llm_call"]
    assert [(r["input_tokens"], r["output_tokens"]) for r in calls] == [(100, 10)]


def test_output_jsonl_cut_at_the_end_imports_its_whole_lines_and_damage_inside_is_named(
    tmp_path: Path,
) -> None:
    """An output.jsonl still being written ends in a cut line: the whole instances before it
    import; a damaged line inside names its own line, not the whole-document parse error.
    (The records have no token usages and no costs: an agent action without a call to place
    used to stop the import with an IndexError.)"""
    parse = IMPORTERS["openhands"].parse
    record = _record([])
    lines = [json.dumps({**record, "instance_id": f"demo__{i}"}) for i in range(3)]
    being_written = tmp_path / "output.jsonl"
    being_written.write_text("\n".join([*lines, lines[0][:100]]) + "\n")
    (imported,) = ingest_files(str(tmp_path / "lake"), "openhands", [being_written]).files
    assert imported.ok and len(imported.sessions) == 3
    assert imported.left_out == (
        "the last line is cut off (as a file still being written ends), left out: line 4",
    )
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join([lines[0], lines[1][:100], lines[2]]) + "\n")
    with pytest.raises(UnparseableFileError, match=r"^line 2 is not JSON"):
        list(parse(damaged))


def test_cache_writes_beyond_the_input_count_are_added_to_it(tmp_path: Path) -> None:
    """Anthropic-style usage without a total: 3 input tokens and 20,000 written to the cache
    left `input_tokens` at 3 beside 20,000 cache writes (input totals undercounted)."""
    usage = {"prompt_tokens": 3, "completion_tokens": 500, "cache_write_tokens": 20_000}
    path = tmp_path / "output.jsonl"
    path.write_text(json.dumps(_record([{**usage, "response_id": "r1"}])) + "\n")
    (call,) = [r for r in IMPORTERS["openhands"].parse(path) if r["event_type"] == "llm_call"]
    assert call["input_tokens"] == 20_003
    assert json.loads(call["payload"])["cache_write_tokens"] == 20_000
