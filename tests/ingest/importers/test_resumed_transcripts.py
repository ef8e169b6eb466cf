"""A Claude Code session resumed into a new file under a new `sessionId`, the conversation so
far copied in first (same `uuid`, `message.id`, `requestId` and time; claude-code-log's notes on
resumed sessions, ccusage's de-duplication): the resumed session counted every earlier call and
its tokens again."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.ingest import real_transcripts
from tests.ingest.lakes import raw_events
from tests.ingest.transcripts import claude_transcript
from trajectory_assets.ingest.importers import IMPORTERS
from trajectory_assets.ingest.run import ingest_files

ORIGINAL = real_transcripts.FIXTURES / "claude_code" / "representative_messages.jsonl"
RESUMED = "9f1c2d3e-4b5a-4c6d-8e7f-000000000002"


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _resumed(folder: Path, since: int = 0) -> tuple[Path, Path]:
    """The original transcript and its resumed session's file: a summary line, the copies
    (from entry `since`: some versions copy from the last compaction), then one new exchange a
    week later."""
    old = _lines(ORIGINAL)
    original = folder / ORIGINAL.name
    original.write_text(ORIGINAL.read_text())
    kept = [e for e in old if e.get("type") in ("user", "assistant")]
    rows: list[dict[str, Any]] = [{"type": "summary", "summary": "s", "leafUuid": kept[-1]["uuid"]}]
    rows += [dict(copy.deepcopy(e), sessionId=RESUMED) for e in kept[since:]]
    prompt = dict(copy.deepcopy(kept[0]), uuid="new-u", parentUuid=kept[-1]["uuid"])
    prompt |= {"sessionId": RESUMED, "timestamp": "2025-07-01T12:00:00.000Z"}
    prompt["message"] = {"role": "user", "content": "Now add a test."}
    answer = copy.deepcopy(next(e for e in kept if e["type"] == "assistant"))
    answer |= {"uuid": "new-a", "parentUuid": "new-u", "sessionId": RESUMED}
    answer |= {"timestamp": "2025-07-01T12:00:05.000Z", "requestId": "req_new"}
    answer["message"] = dict(answer["message"], id="msg_new", content=[{"type": "text"}])
    answer["message"]["usage"] = {"input_tokens": 100, "output_tokens": 10}
    rows += [prompt, answer]
    resumed = folder / f"{RESUMED}.jsonl"
    resumed.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return original, resumed


def _calls(rows: Any) -> dict[str, list[str | None]]:
    found: dict[str, list[str | None]] = {}
    for row in rows:
        if row["event_type"] == "llm_call":
            found.setdefault(row["session_id"], []).append(row["request_id"])
    return found


@pytest.mark.parametrize("first", ["original", "resumed"])
def test_a_resumed_session_s_copies_count_in_the_session_they_were_written_in(
    tmp_path: Path, first: str
) -> None:
    folder = tmp_path / "-home-user-proj"
    folder.mkdir()
    original, resumed = _resumed(folder)
    before = _calls(IMPORTERS["claude-code"].parse(ORIGINAL))
    (session,) = before
    by_file = {"original": original, "resumed": resumed}
    for name in (first, *(n for n in by_file if n != first)):  # either file imported first
        report = ingest_files(str(tmp_path / "lake"), "claude-code", [by_file[name]])
        assert not report.failed and not report.changed
    raw = raw_events(tmp_path / "lake").to_pylist()
    assert _calls(raw) == {session: before[session], RESUMED: ["req_new"]}
    (call,) = [r for r in raw if r["session_id"] == RESUMED and r["event_type"] == "llm_call"]
    assert call["turn_index"] == 0  # its turns are its own, from 0
    starts = [r["ts"] for r in raw if r["session_id"] == RESUMED and "session" in r["event_type"]]
    assert min(starts).isoformat().startswith("2025-07-01T12:00")


def test_the_copies_stay_the_resumed_session_s_when_the_original_is_gone(tmp_path: Path) -> None:
    """Claude Code prunes old transcripts: the copies are then the only record of those calls."""
    original, resumed = _resumed(tmp_path)
    original.unlink()
    (session,) = _calls(IMPORTERS["claude-code"].parse(ORIGINAL)).values()
    calls = _calls(IMPORTERS["claude-code"].parse(resumed))
    assert calls == {RESUMED: [*session, "req_new"]}


def test_an_original_written_to_after_its_resumption_keeps_its_entries(tmp_path: Path) -> None:
    """The older session is the one that started first: the original, though the user went on
    in it after resuming it elsewhere (its last entry is then the later one). (Where the copy
    starts with the first entry, the first times are equal and the one that ended first is
    taken for the original, here wrongly: nothing in the files tells them apart.)"""
    original, resumed = _resumed(tmp_path, since=2)
    prompt = [e for e in _lines(original) if e.get("type") == "user"][-1]
    later = prompt | {"uuid": "later", "timestamp": "2025-08-01T00:00:00.000Z"}
    with original.open("a") as out:
        out.write("\n" + json.dumps(later) + "\n")
    (session,) = _calls(IMPORTERS["claude-code"].parse(ORIGINAL))
    assert session in _calls(IMPORTERS["claude-code"].parse(original))
    assert _calls(IMPORTERS["claude-code"].parse(resumed)) == {RESUMED: ["req_new"]}


def test_the_copies_stay_out_once_the_original_is_pruned(tmp_path: Path) -> None:
    """Claude Code deletes old transcripts (`cleanupPeriodDays`): imported again after the
    original was gone, the resumed session's copies went in as its own events, every call
    counted twice, a month after the first import had left them to the original."""
    folder = tmp_path / "-home-user-proj"
    folder.mkdir()
    original, _ = _resumed(folder)
    lake = str(tmp_path / "lake")
    assert not ingest_files(lake, "claude-code", [folder]).failed
    before = raw_events(tmp_path / "lake").num_rows
    original.unlink()
    again = ingest_files(lake, "claude-code", [folder])
    assert (again.events_written, again.failed, again.changed) == (0, [], [])
    raw = raw_events(tmp_path / "lake").to_pylist()
    assert len(raw) == before
    (session,) = _calls(IMPORTERS["claude-code"].parse(ORIGINAL))
    assert _calls(raw) == {session: _calls(raw)[session], RESUMED: ["req_new"]}


def test_a_session_whose_sub_agent_file_came_first_takes_its_conversation(tmp_path: Path) -> None:
    """Events before a session's stored ones are copies only where its start is stored: a
    sub-agent's file imported alone gives none, and its conversation comes later."""
    lines = claude_transcript().splitlines()
    side = [line for line in lines if '"isSidechain": true' in line]
    alone = tmp_path / "alone" / "agent-a1b2c3.jsonl"
    alone.parent.mkdir()
    alone.write_text("\n".join(side) + "\n")
    lake = str(tmp_path / "lake")
    assert ingest_files(lake, "claude-code", [alone]).ok  # with a note of the transcript missing
    whole = tmp_path / "whole" / "0a7c3d9e-hand-made.jsonl"
    whole.parent.mkdir()
    whole.write_text(claude_transcript())
    assert ingest_files(lake, "claude-code", [whole]).events_written > 0
    kinds = [r["event_type"] for r in raw_events(tmp_path / "lake").to_pylist()]
    assert kinds.count("session_start") == 1 and "user_message" in kinds


def test_a_sub_agent_file_below_a_resumed_session_leaves_the_copies_too(tmp_path: Path) -> None:
    """Read from `<session>/subagents/`, the resumed session's copies were looked for in the
    sub-agents' folder, and came back: a watcher importing changed files counted them twice."""
    folder = tmp_path / "-home-user-proj"
    folder.mkdir()
    _, resumed = _resumed(folder)
    below = folder / RESUMED / "subagents" / "agent-x1.jsonl"
    below.parent.mkdir(parents=True)
    side = _lines(resumed)[-2] | {"uuid": "side-u", "isSidechain": True, "agentId": "x1"}
    below.write_text(json.dumps(side) + "\n")
    for path in (resumed, below):
        assert _calls(IMPORTERS["claude-code"].parse(path))[RESUMED] == ["req_new"]


def test_a_session_s_copy_in_another_folder_is_read_too(tmp_path: Path) -> None:
    """A session's files are read together within a folder: a copy of its transcript in
    another (a backup, another machine's), holding an exchange more, was skipped whole."""
    one, other = tmp_path / "one", tmp_path / "other"
    one.mkdir()
    other.mkdir()
    lines = ORIGINAL.read_text().splitlines()
    (one / ORIGINAL.name).write_text("\n".join(lines) + "\n")
    kept = [e for e in _lines(ORIGINAL) if e.get("type") == "assistant"][-1]
    more = kept | {"uuid": "more-a", "requestId": "req_more", "timestamp": "2025-06-14T11:00:00Z"}
    more["message"] = dict(more["message"], id="msg_more")
    (other / ORIGINAL.name).write_text("\n".join(lines) + "\n" + json.dumps(more) + "\n")
    report = ingest_files(str(tmp_path / "lake"), "claude-code", [one, other])
    assert report.events_written > 0 and not report.failed
    (calls,) = _calls(raw_events(tmp_path / "lake").to_pylist()).values()
    assert "req_more" in calls
