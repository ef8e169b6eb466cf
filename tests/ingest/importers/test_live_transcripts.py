"""Transcripts of coding agents as they are written, imported again as they grow: what is not
finished yet waits for a later import, and the current shapes of their entries read right."""

import datetime as dt
import json
import warnings
from pathlib import Path
from typing import Any

import pytest

from tests.ingest.lakes import raw_events
from trajectory_assets.ingest.common import LeftOut
from trajectory_assets.ingest.importers import IMPORTERS
from trajectory_assets.ingest.run import ingest_files

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def at(minutes_ago: float) -> str:
    return (NOW - dt.timedelta(minutes=minutes_ago)).isoformat().replace("+00:00", "Z")


def claude(kind: str, uuid: str, parent: str | None, when: str, message: Any, **extra: Any) -> str:
    fields: dict[str, Any] = {"type": kind, "uuid": uuid, "parentUuid": parent, "timestamp": when}
    fields |= {"sessionId": "s-live", "isSidechain": False, "message": message}
    return json.dumps({**fields, **extra})


def answer(blocks: list[Any], stop: str | None, output_tokens: int) -> dict[str, Any]:
    usage = {"input_tokens": 10, "output_tokens": output_tokens}
    message = {"id": "msg_1", "role": "assistant", "model": "claude-sonnet-4-5"}
    return message | {"content": blocks, "stop_reason": stop, "usage": usage}


BASH = {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "pytest"}}
FAILED = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "Exit 1", "is_error": True}


def claude_lines(minutes_ago: float) -> list[str]:
    """A prompt, then a response running a tool whose result is not written yet."""
    return [
        claude("user", "u1", None, at(minutes_ago + 2), {"role": "user", "content": "fix it"}),
        claude("assistant", "a1", "u1", at(minutes_ago + 1), answer([BASH], "tool_use", 40)),
    ]


def kinds(path: Path, fmt: str) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for row in IMPORTERS[fmt].parse(path):
        found.setdefault(row["event_type"], []).append(row)
    return found


def test_a_live_sessions_running_tool_waits_and_a_later_import_takes_it_whole(
    tmp_path: Path,
) -> None:
    """Imported while the tool ran, the call was kept without its result for good (the lake
    keeps an event's first copy): no error, no latency, after every later import."""
    source, lake = tmp_path / "s-live.jsonl", tmp_path / "lake"
    source.write_text("\n".join(claude_lines(minutes_ago=1)) + "\n")
    with pytest.warns(LeftOut, match=r"s-live: 1 unfinished event\(s\) .* left for a later"):
        assert "tool_call" not in kinds(source, "claude-code")
    (first,) = ingest_files(str(lake), "claude-code", [source]).files
    assert "left for a later import" in " ".join(first.left_out)  # said beside the file
    grown = [*claude_lines(minutes_ago=1), claude("user", "u2", "a1", at(0), {"content": [FAILED]})]
    source.write_text("\n".join(grown) + "\n")
    (grew,) = ingest_files(str(lake), "claude-code", [source]).files
    assert grew.changed == ()  # nothing of the first import's differs from the lake's copy
    calls = [r for r in raw_events(lake).to_pylist() if r["event_type"] == "tool_call"]
    assert [(c["error_type"], c["tool_latency_ms"] > 0) for c in calls] == [("tool_error", True)]


def test_a_quiet_sessions_unfinished_events_are_taken_as_they_are(tmp_path: Path) -> None:
    """An agent killed mid-tool never writes the result: an hour on, the call is imported."""
    source = tmp_path / "s-live.jsonl"
    source.write_text("\n".join(claude_lines(minutes_ago=61)) + "\n")
    calls = kinds(source, "claude-code")["tool_call"]
    assert [(c["tool_name"], c["tool_latency_ms"]) for c in calls] == [("Bash", None)]


def test_a_response_still_streaming_waits_for_its_last_line(tmp_path: Path) -> None:
    prompt = claude("user", "u1", None, at(3), {"role": "user", "content": "explain"})
    partial = answer([{"type": "text", "text": "It"}], None, 12)
    source = tmp_path / "s-live.jsonl"
    source.write_text(f"{prompt}\n{claude('assistant', 'a1', 'u1', at(1), partial)}\n")
    with pytest.warns(LeftOut, match="2 unfinished"):  # the call and its text
        found = kinds(source, "claude-code")
    assert "llm_call" not in found and "agent_message" not in found
    done = answer([{"type": "text", "text": "It works"}], "end_turn", 187)
    source.write_text(f"{prompt}\n{claude('assistant', 'a1', 'u1', at(1), done)}\n")
    assert [c["output_tokens"] for c in kinds(source, "claude-code")["llm_call"]] == [187]


def test_claude_codes_own_user_entries_are_no_prompts_and_a_retry_error_keeps_its_status(
    tmp_path: Path,
) -> None:
    """A compaction's summary and the marker of an interrupted request were user messages
    opening turns; a retried request's status and message, under `error` in recent versions,
    were null."""
    error = {"status": 529, "error": {"type": "error", "error": {"message": "Overloaded"}}}
    lines = [
        claude("user", "u1", None, at(90), {"role": "user", "content": "go"}),
        claude("assistant", "a1", "u1", at(89), answer([{"type": "text", "text": "ok"}], "x", 5)),
        claude("user", "u2", "a1", at(88), {"content": "This session is being continued..."})[:-1]
        + ', "isCompactSummary": true, "isVisibleInTranscriptOnly": true}',
        claude("user", "u3", "u2", at(87), {"content": [{"type": "text", "text": INTERRUPTED}]}),
        json.dumps(
            {"type": "system", "subtype": "api_error", "level": "error", "error": error}
            | {"uuid": "y1", "timestamp": at(86), "sessionId": "s-live", "retryAttempt": 1}
        ),
    ]
    source = tmp_path / "s-live.jsonl"
    source.write_text("\n".join(lines) + "\n")
    found = kinds(source, "claude-code")
    assert [json.loads(m["payload"])["text"] for m in found["user_message"]] == ["go"]
    (retried,) = found["error"]
    assert retried["error_code"] == "529"
    assert json.loads(retried["payload"])["message"] == "Overloaded"


INTERRUPTED = "[Request interrupted by user for tool use]"


def test_the_errors_of_retries_that_all_failed_stay_in_the_failed_requests_turn(
    tmp_path: Path,
) -> None:
    """They went to the turn of the next call, which answered the user's next prompt."""
    error = {"status": 529, "error": {"message": "Overloaded"}}
    failed = {"role": "assistant", "model": "<synthetic>", "content": "API Error: 529"}
    lines = [
        claude("user", "u1", None, at(90), {"role": "user", "content": "go"}),
        claude("assistant", "a1", "u1", at(89), answer([{"type": "text", "text": "ok"}], "x", 5)),
        claude("user", "u2", "a1", at(88), {"role": "user", "content": "and tests"}),
        json.dumps(
            {"type": "system", "level": "error", "error": error, "subtype": "api_error"}
            | {"uuid": "y1", "timestamp": at(87), "sessionId": "s-live"}
        ),
        claude("assistant", "a2", "u2", at(86), failed, isApiErrorMessage=True),
        claude("user", "u3", "a2", at(85), {"role": "user", "content": "continue"}),
        claude("assistant", "a3", "u3", at(84), answer([], "end_turn", 5) | {"id": "msg_3"}),
    ]
    source = tmp_path / "s-live.jsonl"
    source.write_text("\n".join(lines) + "\n")
    found = kinds(source, "claude-code")
    assert [(e["error_code"], e["turn_index"]) for e in found["error"]] == [("529", 0), (None, 0)]
    assert [c["turn_index"] for c in found["llm_call"]] == [0, 1]


def codex(when: str, kind: str, **payload: Any) -> str:
    return json.dumps({"timestamp": when, "type": kind, "payload": payload})


def count(when: str, total: int, last: int) -> str:
    usage = {"input_tokens": total, "cached_input_tokens": 0, "output_tokens": 0}
    info = {"total_token_usage": usage, "last_token_usage": {**usage, "input_tokens": last}}
    return codex(when, "event_msg", type="token_count", info=info)


def rollout(minutes_ago: float) -> list[str]:
    prompt = [{"type": "input_text", "text": "build it"}]
    return [
        codex(at(minutes_ago + 30), "session_meta", id="r-live", cwd="/w"),
        codex(at(minutes_ago + 30), "turn_context", model="gpt-5-codex"),
        codex(at(minutes_ago + 29), "response_item", type="message", role="user", content=prompt),
        codex(at(minutes_ago + 28), "response_item", type="reasoning", summary=[]),
        codex(at(minutes_ago + 27), "event_msg", type="turn_aborted", reason="interrupted"),
        codex(at(minutes_ago + 26), "response_item", type="message", role="user", content=prompt),
        codex(at(minutes_ago + 25), "response_item", type="function_call", name="shell")[:-2]
        + ', "arguments": "{}", "call_id": "call_A"}}',
        count(at(minutes_ago + 24), 8000, 8000),
        codex(at(minutes_ago + 3), "response_item", type="function_call_output")[:-2]
        + ', "call_id": "call_A", "output": "aborted"}}',
        count(at(minutes_ago + 2), 18000, 10000),  # a compaction's request: no items
        codex(at(minutes_ago + 1), "compacted", message="summary"),
    ]


def test_a_codex_count_goes_to_the_response_it_closed_and_a_stopped_tool_is_an_error(
    tmp_path: Path,
) -> None:
    """A compaction's count went to the response an interruption had stopped, 13 minutes
    before, giving it the compaction's tokens and a 13-minute latency."""
    source = tmp_path / "rollout.jsonl"
    source.write_text("\n".join(rollout(minutes_ago=120)) + "\n")
    found = kinds(source, "codex")
    calls = [(c["input_tokens"], c["latency_ms"] <= 180_000) for c in found["llm_call"]]
    assert calls == [(None, True), (8000, True), (10000, True)]
    assert [c["error_type"] for c in found["tool_call"]] == ["aborted"]


def test_a_live_rollouts_running_tool_waits(tmp_path: Path) -> None:
    source = tmp_path / "rollout.jsonl"
    source.write_text("\n".join(rollout(minutes_ago=-20)[:8]) + "\n")  # its call still running
    with pytest.warns(LeftOut, match="1 unfinished"):
        assert "tool_call" not in kinds(source, "codex")


def test_a_sub_agents_response_still_streaming_waits_while_another_writes_on(
    tmp_path: Path,
) -> None:
    """Only the session's last entry was looked at: a sub-agent's response still streaming,
    another's written after it, was imported with its first output count for good."""
    tasks = [
        {"type": "tool_use", "id": f"toolu_{x}", "name": "Task", "input": {"prompt": x}}
        for x in "AB"
    ]

    def side(agent: str) -> dict[str, Any]:
        return {"isSidechain": True, "agentId": agent}

    def reply(msg: str, stop: str | None, tokens: int) -> dict[str, Any]:
        return answer([{"type": "text", "text": "..."}], stop, tokens) | {"id": msg}

    lines = [
        claude("user", "u1", None, at(5), {"role": "user", "content": "look"}),
        claude("assistant", "a1", "u1", at(4), answer(tasks, "tool_use", 30)),
        claude("user", "ua", "a1", at(3.5), {"role": "user", "content": "A"}, **side("A")),
        claude("user", "ub", "a1", at(3.4), {"role": "user", "content": "B"}, **side("B")),
        claude("assistant", "aa", "ua", at(3), reply("msg_a", None, 3), **side("A")),
        claude("assistant", "ab", "ub", at(2), reply("msg_b", "end_turn", 90), **side("B")),
    ]
    source = tmp_path / "s-live.jsonl"
    source.write_text("\n".join(lines) + "\n")
    with pytest.warns(LeftOut, match="4 unfinished"):  # two tasks, A's call and its text
        found = kinds(source, "claude-code")
    assert [(c["agent_id"], c["output_tokens"]) for c in found["llm_call"]] == [
        ("main", 30),
        ("B", 90),
    ]


def test_an_event_the_lake_holds_that_the_transcript_no_longer_gives_is_named(
    tmp_path: Path,
) -> None:
    """A compaction's summary imported as a prompt by 0.5.5 stayed one after the upgrade, and a
    new import said nothing (it compared only the events it gave)."""
    prompt = claude("user", "u1", None, at(90), {"role": "user", "content": "go"})
    summary = claude("user", "u2", "u1", at(80), {"role": "user", "content": "So far: ..."})
    source, lake = tmp_path / "s-live.jsonl", tmp_path / "lake"
    source.write_text(f"{prompt}\n{summary}\n")
    ingest_files(str(lake), "claude-code", [source])  # as a release that took it for a prompt
    source.write_text(f'{prompt}\n{summary[:-1]}, "isCompactSummary": true}}\n')
    (again,) = ingest_files(str(lake), "claude-code", [source]).files
    assert [line.split(": ", 1)[1] for line in again.changed] == [
        "a user message held, no longer read from the source"
    ]
    # another writer's user message of the session (the event logger's, an export's) is none of
    # the transcript's: following the advice to forget the session would have lost it
    logged = {"event_id": "logged-1", "app_id": "claude-code", "session_id": "s-live"}
    logged |= {"event_type": "user_message", "ts": at(85), "agent_id": "main"}
    (tmp_path / "logged.jsonl").write_text(json.dumps(logged) + "\n")
    ingest_files(str(lake), "jsonl", [tmp_path / "logged.jsonl"])
    source.write_text(f"{prompt}\n")  # the summary's line gone too: nothing else to name
    (third,) = ingest_files(str(lake), "claude-code", [source]).files
    assert [line.split(": ", 1)[1] for line in third.changed] == [
        "a user message held, no longer read from the source"
    ]


def test_a_call_abandoned_before_a_later_response_is_taken_at_once(tmp_path: Path) -> None:
    """Every call without a result was held while the session was live, one a user interrupted
    (the agent answered on) too: resumed within the hour, the session's earlier import of it
    was then named as an event no longer read."""
    again = answer([{"type": "text", "text": "ok"}], "end_turn", 9) | {"id": "msg_2"}
    lines = [
        *claude_lines(minutes_ago=3),
        claude("user", "u2", "a1", at(2), {"content": [{"type": "text", "text": INTERRUPTED}]}),
        claude("user", "u3", "u2", at(1.5), {"role": "user", "content": "try again"}),
        claude("assistant", "a2", "u3", at(1), again),
    ]
    source = tmp_path / "s-live.jsonl"
    source.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LeftOut)  # nothing is left for later
        calls = kinds(source, "claude-code")["tool_call"]
    assert [(c["tool_name"], c["tool_latency_ms"]) for c in calls] == [("Bash", None)]


def test_a_call_interrupted_before_any_answer_is_taken_at_once(tmp_path: Path) -> None:
    """Held until the agent answered on: imported in between, the call was held again after
    a quiet import had written it."""
    marker = {"content": [{"type": "text", "text": INTERRUPTED}]}
    lines = [*claude_lines(minutes_ago=3), claude("user", "u2", "a1", at(2), marker)]
    source = tmp_path / "s-live.jsonl"
    source.write_text("\n".join(lines) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", LeftOut)
        calls = kinds(source, "claude-code")["tool_call"]
    assert [c["tool_name"] for c in calls] == ["Bash"]
