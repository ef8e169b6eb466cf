"""Sessions of several agents whose calls interleave (an orchestrator and the sub-agents it runs
at once), retried requests and resumed transcripts, through the importers.

Every importer once numbered turns with one counter per session, giving each event the turn of
the latest call of any agent: a sub-agent's tool call was counted in its sibling's turn, its
prompt in another agent's, and the error of a retried request went to the turn before the
retry. A resumed transcript imported again kept its first end.
"""

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.ingest.importers.test_otel_nesting import Trace
from tests.ingest.lakes import raw_events, raw_files
from trajectory_assets.ingest import EventLogger
from trajectory_assets.ingest.common import Row, stable_id
from trajectory_assets.ingest.importers import IMPORTERS
from trajectory_assets.ingest.run import ingest_files

T0 = dt.datetime(2026, 2, 3, 10, tzinfo=dt.UTC)


def turn_agents(rows: list[Row]) -> dict[int, set[str | None]]:
    """The agents of each turn's llm_calls (each call opens a turn: one agent per turn)."""
    calls: dict[int, set[str | None]] = {}
    for row in rows:
        if row["event_type"] == "llm_call":
            calls.setdefault(row["turn_index"], set()).add(row["agent_id"])
    return calls


def assert_each_event_in_its_agents_turn(rows: list[Row]) -> None:
    agents = turn_agents(rows)
    assert all(len(a) == 1 for a in agents.values()), agents
    for row in rows:
        if row["turn_index"] is not None and row["turn_index"] in agents:
            assert agents[row["turn_index"]] == {row["agent_id"]}, row


def entry(kind: str, uuid: str, parent: str | None, second: float, **fields: Any) -> str:
    return json.dumps(
        {
            "type": kind,
            "uuid": uuid,
            "parentUuid": parent,
            "timestamp": f"2026-02-03T10:00:{second:06.3f}Z",
            "sessionId": "multi-1",
            "isSidechain": False,
            **fields,
        }
    )


def reply(uuid: str, parent: str, second: float, blocks: list[Any], **side: Any) -> str:
    message = {
        "id": f"msg_{uuid}",
        "role": "assistant",
        "model": "claude-sonnet-4-5-20250929",
        "content": blocks,
        "usage": {"input_tokens": 10, "output_tokens": 5},
    }
    return entry("assistant", uuid, parent, second, message=message, requestId=f"r_{uuid}", **side)


def user(uuid: str, parent: str | None, second: float, content: Any, **side: Any) -> str:
    return entry("user", uuid, parent, second, message={"role": "user", "content": content}, **side)


def tool(name: str, use: str) -> dict[str, Any]:
    return {"type": "tool_use", "id": use, "name": name, "input": {}}


def result(use: str) -> list[dict[str, Any]]:
    return [{"type": "tool_result", "tool_use_id": use, "content": "ok"}]


def claude_code_orchestrator() -> str:
    """The main agent starts two sub-agents (Task) that run at once: the second's prompt and
    call come between the first's prompt, call and tool call; then a request of the main agent
    fails (a `system` error) and is sent again."""
    a, b = {"isSidechain": True, "agentId": "a"}, {"isSidechain": True, "agentId": "b"}
    lines = [
        user("m1", None, 0, "compare the two docs"),
        reply("m2", "m1", 1, [tool("Task", "t_a"), tool("Task", "t_b")]),
        user("a1", None, 2, "read doc 1", **a),
        user("b1", None, 2.5, "read doc 2", **b),
        reply("a2", "a1", 3, [tool("Read", "r_a")], **a),
        reply("b2", "b1", 4, [tool("Read", "r_b")], **b),
        user("a3", "a2", 5, result("r_a"), **a),
        user("b3", "b2", 5.5, result("r_b"), **b),
        reply("a4", "a3", 6, [{"type": "text", "text": "doc 1 says x"}], **a),
        reply("b4", "b3", 7, [{"type": "text", "text": "doc 2 says y"}], **b),
        user("m3", "m2", 8, [*result("t_a"), *result("t_b")]),
        entry("system", "m4", "m3", 9, level="error", subtype="api_error", content="429"),
        reply("m5", "m3", 10, [{"type": "text", "text": "they differ"}]),
    ]
    return "\n".join(lines) + "\n"


def test_claude_code_sub_agents_running_at_once_keep_their_own_turns(tmp_path: Path) -> None:
    path = tmp_path / "multi-1.jsonl"
    path.write_text(claude_code_orchestrator())
    rows = list(IMPORTERS["claude-code"].parse(path))
    assert_each_event_in_its_agents_turn(rows)
    calls = {a: [t for t, agents in turn_agents(rows).items() if a in agents] for a in "ab"}
    assert calls == {"a": [1, 3], "b": [2, 4]}  # main's are 0 and 5
    turns = {(r["event_type"], r["agent_id"]): r["turn_index"] for r in rows}
    assert turns[("tool_call", "a")] == 1
    assert turns[("tool_call", "b")] == 2  # b's call's, though a's came between
    assert turns[("user_message", "b")] == 2  # b's prompt: the turn b's call opens
    assert turns[("error", "main")] == 5  # the retried request's, not a sub-agent's turn 4


@pytest.mark.parametrize("named_calls", [False, True])
def test_otel_agents_of_one_name_side_by_side_keep_their_own_turns(
    tmp_path: Path, named_calls: bool
) -> None:
    """Two runs of one agent (`researcher`) as nested `invoke_agent` spans at once: the first's
    tool span starts after the second's model call. Instrumentations that name the agent on
    the call spans too had each span count as an agent of its own."""
    trace = Trace()
    name = "gen_ai.agent.name"
    own = {name: "researcher"} if named_calls else {}
    root = trace.add("invoke_agent orchestrator", None, "AGENT", 0, 5000, {name: "orchestrator"})
    trace.add("chat", root, "LLM", 10, 100, {"llm.model_name": "gpt-4o"})
    first = trace.add("invoke_agent researcher", root, "AGENT", 200, 3000, {name: "researcher"})
    second = trace.add("invoke_agent researcher", root, "AGENT", 210, 3000, {name: "researcher"})
    trace.add("chat", first, "LLM", 300, 500, {"llm.model_name": "gpt-4o", **own})
    trace.add("chat", second, "LLM", 550, 800, {"llm.model_name": "gpt-4o", **own})
    trace.add("web_search", first, "TOOL", 600, 900, {"tool.name": "search_1", **own})
    trace.add("web_search", second, "TOOL", 950, 1200, {"tool.name": "search_2", **own})
    rows = list(IMPORTERS["otel"].parse(trace.write(tmp_path / "trace.json")))
    turns = {r["tool_name"]: r["turn_index"] for r in rows if r["event_type"] == "tool_call"}
    assert turns == {"search_1": 1, "search_2": 2}


def codex_lines(*, resumed: bool) -> str:
    def line(second: int, kind: str, **payload: Any) -> str:
        ts = f"2026-02-03T11:00:{second:02d}.000Z"
        return json.dumps({"timestamp": ts, "type": kind, "payload": payload})

    def said(second: int, role: str, text: str) -> str:
        kind = "input_text" if role == "user" else "output_text"
        content = [{"type": kind, "text": text}]
        return line(second, "response_item", type="message", role=role, content=content)

    lines = [
        line(0, "session_meta", id="rollout-1", cwd="/w", cli_version="0.46.0"),
        line(1, "turn_context", cwd="/w", model="gpt-5-codex"),
        said(1, "user", "make the build pass"),
        said(3, "assistant", "On it."),
        said(6, "user", "and the tests"),
        line(7, "event_msg", type="stream_error", message="stream disconnected; retrying"),
        said(9, "assistant", "Done."),
    ]
    if resumed:  # the next day's resume appends to the same file, and fails
        lines += [said(20, "user", "and lint"), line(21, "event_msg", type="error", message="429")]
    return "\n".join(lines) + "\n"


def test_a_codex_stream_error_belongs_to_the_retried_calls_turn(tmp_path: Path) -> None:
    path = tmp_path / "rollout-2026-02-03T11-00-00-1.jsonl"
    path.write_text(codex_lines(resumed=False))
    rows = list(IMPORTERS["codex"].parse(path))
    (error,) = [r for r in rows if r["event_type"] == "error"]
    calls = [r["turn_index"] for r in rows if r["event_type"] == "llm_call"]
    assert calls == [0, 1] and error["turn_index"] == 1


def test_a_resumed_transcript_imported_again_ends_anew(tmp_path: Path) -> None:
    """The end of the first import kept its place: the session never showed the failure that
    ended it after the resume (one import of the final file did)."""
    lake, path = tmp_path / "lake", tmp_path / "rollout-2026-02-03T11-00-00-1.jsonl"
    path.write_text(codex_lines(resumed=False))
    ingest_files(str(lake), "codex", [path])
    path.write_text(codex_lines(resumed=True))
    report = ingest_files(str(lake), "codex", [path])
    assert report.changed == []  # nothing re-sent with other content
    events = raw_events(lake).sort_by([("ts", "ascending")])
    ends = events.filter(pc.equal(events["event_type"], "session_end"))
    assert [json.loads(p).get("status") for p in ends["payload"].to_pylist()] == [None, "failure"]
    assert report.events_written == 3  # the prompt, the error and the new end


def test_logger_handles_of_one_session_share_its_turns(tmp_path: Path) -> None:
    """A sub-agent's handle, and a process resuming the session the next day, began again at
    turn 0: the sub-agent's call and the next day's were counted in the orchestrator's turn 0
    (a turn lasting 23 hours)."""
    logger = EventLogger(str(tmp_path), "app")
    main = logger.session("s-1", agent_id="main", start=False)
    main.start(ts=T0)
    main.llm_call("gpt-4o", input_tokens=1, output_tokens=1, ts=T0)
    sub = logger.session("s-1", agent_id="sub", start=False)  # its first turn: the session's next
    sub.llm_call("gpt-4o", input_tokens=1, output_tokens=1, ts=T0 + dt.timedelta(seconds=1))
    main.next_turn()
    main.tool_call("search", ts=T0 + dt.timedelta(seconds=2))
    logger.close()
    resumed = EventLogger(str(tmp_path), "app", drop_existing=True)
    later = resumed.session("s-1", agent_id="main", start=False, turn=3)
    later.llm_call("gpt-4o", input_tokens=1, output_tokens=1, ts=T0 + dt.timedelta(days=1))
    later.end(ts=T0 + dt.timedelta(days=1, seconds=1))
    resumed.close()
    events = raw_events(tmp_path).sort_by([("ts", "ascending")])
    turns = [(e["event_type"], e["agent_id"], e["turn_index"]) for e in events.to_pylist()]
    assert turns == [
        ("session_start", "main", None),
        ("llm_call", "main", 0),
        ("llm_call", "sub", 1),
        ("tool_call", "main", 2),
        ("llm_call", "main", 3),
        ("session_end", "main", None),
    ]


def test_an_end_imported_under_its_earlier_id_is_not_written_again(tmp_path: Path) -> None:
    """The transcript importers once keyed a session's end by the session alone: after the
    upgrade, a re-import of unchanged files ended every session a second time (n_events + 1)."""
    lake, path = tmp_path / "lake", tmp_path / "rollout-2026-02-03T11-00-00-1.jsonl"
    path.write_text(codex_lines(resumed=False))
    ingest_files(str(lake), "codex", [path])
    (stored,) = raw_files(lake)
    table = pq.read_table(stored)
    ids = [
        stable_id("codex", "rollout-1", "session_end") if kind == "session_end" else event_id
        for kind, event_id in zip(
            table["event_type"].to_pylist(), table["event_id"].to_pylist(), strict=True
        )
    ]
    pq.write_table(table.set_column(0, "event_id", pa.array(ids)), stored)  # as written before
    again = ingest_files(str(lake), "codex", [path])
    assert (again.events_written, again.changed) == (0, [])
    path.write_text(codex_lines(resumed=True))  # a resumed file still ends anew
    assert ingest_files(str(lake), "codex", [path]).events_written == 3
