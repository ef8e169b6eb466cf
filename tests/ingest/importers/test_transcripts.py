"""Coding-agent transcripts: Claude Code sessions and Codex CLI rollouts.

The public examples (`tests/fixtures/real/claude_code`, `codex_cli`) are format fixtures that two
parsers of these files wrote by hand; they have no split responses, sub-agents, cache tokens,
API errors, tool calls in Codex or token counts. The two transcripts of
`tests.ingest.transcripts` add those. Every expectation is counted from the source lines by
`tests.ingest.real_transcripts`, independently of the importers.
"""

import datetime as dt
import itertools
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.ingest import real_transcripts
from tests.ingest.lakes import materialize, raw_events, raw_files
from tests.ingest.transcripts import claude_transcript, codex_rollout
from trajectory_assets.ingest.common import LeftOut
from trajectory_assets.ingest.importers import IMPORTERS
from trajectory_assets.ingest.run import ingest_files


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    folder = tmp_path_factory.mktemp("transcripts")
    claude = folder / "0a7c3d9e-hand-made.jsonl"
    claude.write_text(claude_transcript())
    codex = folder / "rollout-2026-02-03T11-00-00-0199a1b2-hand-made.jsonl"
    codex.write_text(codex_rollout())
    return {
        "claude-code": [*real_transcripts.CLAUDE_CODE, claude],
        "codex": [*real_transcripts.CODEX, codex],
    }


EXPECT = {
    "claude-code": real_transcripts.expect_claude_code,
    "codex": real_transcripts.expect_codex,
}


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, sources: dict[str, list[Path]]) -> Path:
    root = tmp_path_factory.mktemp("lake")
    for fmt, paths in sources.items():
        report = ingest_files(str(root), fmt, paths)
        assert [(f.path, f.reason) for f in report.failed] == []
    return root


def _app(table: pa.Table, app: str) -> pa.Table:
    return table.filter(pc.equal(table["app_id"], app))


def _sum(table: pa.Table, column: str) -> int:
    return int(pc.sum(table[column]).as_py() or 0)


@pytest.mark.parametrize("fmt", EXPECT)
def test_raw_events_equal_what_the_transcripts_state(
    lake: Path, sources: dict[str, list[Path]], fmt: str
) -> None:
    expected = EXPECT[fmt](sources[fmt])
    raw = _app(raw_events(lake), fmt)
    kinds = raw["event_type"].to_pylist()
    assert len(set(raw["event_id"].to_pylist())) == raw.num_rows
    assert set(raw["session_id"].to_pylist()) == expected.sessions
    assert kinds.count("llm_call") == expected.llm_calls
    assert kinds.count("tool_call") == expected.tool_calls
    assert raw.filter(pc.is_valid(raw["error_type"])).num_rows == expected.errors
    assert _sum(raw, "input_tokens") == expected.input_tokens
    assert _sum(raw, "output_tokens") == expected.output_tokens
    assert _sum(raw, "cache_tokens") == expected.cache_tokens


@pytest.mark.parametrize("fmt", EXPECT)
def test_sessions_materialize_with_the_same_numbers(
    lake: Path, sources: dict[str, list[Path]], fmt: str
) -> None:
    expected = EXPECT[fmt](sources[fmt])
    sessions = _app(materialize(lake)["sessions"], fmt)
    assert sessions.num_rows == len(expected.sessions)
    assert _sum(sessions, "n_llm_calls") == expected.llm_calls
    assert _sum(sessions, "n_tool_calls") == expected.tool_calls
    assert _sum(sessions, "n_errors") == expected.errors
    assert _sum(sessions, "input_tokens") == expected.input_tokens
    assert _sum(sessions, "cache_tokens") == expected.cache_tokens


def test_reimporting_adds_nothing(lake: Path, sources: dict[str, list[Path]]) -> None:
    before = {p: p.stat().st_mtime_ns for p in raw_files(lake)}
    for fmt, paths in sources.items():
        again = ingest_files(str(lake), fmt, paths)
        assert again.events_written == 0 and not again.failed
    assert {p: p.stat().st_mtime_ns for p in raw_files(lake)} == before


def test_the_hand_made_numbers(sources: dict[str, list[Path]]) -> None:
    """The counts the two built transcripts were written to have."""
    claude = real_transcripts.expect_claude_code(sources["claude-code"][-1:])
    assert (claude.llm_calls, claude.tool_calls, claude.errors) == (4, 3, 3)
    assert claude.input_tokens == 12 + 2000 + 15000 + 8 + 17400 + 900 + 960
    codex = real_transcripts.expect_codex(sources["codex"][-1:])
    assert (codex.llm_calls, codex.tool_calls, codex.errors) == (3, 2, 2)
    assert (codex.input_tokens, codex.cache_tokens, codex.output_tokens) == (12500, 10000, 190)


def test_claude_code_split_response_sub_agent_and_latencies(sources: dict[str, list[Path]]) -> None:
    rows = list(IMPORTERS["claude-code"].parse(sources["claude-code"][-1]))
    calls = [r for r in rows if r["event_type"] == "llm_call"]
    first = calls[0]
    assert (first["input_tokens"], first["cache_tokens"], first["output_tokens"]) == (
        17012,
        15000,
        350,
    )
    payload = json.loads(first["payload"])
    assert (payload["lines"], payload["cache_write_tokens"]) == (3, 2000)
    assert (payload["cache_write_1h_tokens"], payload["web_searches"]) == (500, 1)
    assert first["latency_ms"] == 6000.0  # from the prompt (00:00) to the last line (00:06)
    assert [r["agent_id"] for r in calls] == ["main", "main", "a1b2c3", "a1b2c3"]
    assert [r["turn_index"] for r in calls] == [0, 1, 2, 3]
    tools = {r["tool_name"]: r for r in rows if r["event_type"] == "tool_call"}
    assert (tools["Bash"]["error_type"], tools["Bash"]["tool_latency_ms"]) == ("tool_error", 3000.0)
    assert tools["Task"]["tool_latency_ms"] == 7000.0 and tools["Task"]["error_type"] is None
    errors = [(r["event_type"], r["error_type"], r["error_code"]) for r in rows if r["error_type"]]
    assert errors == [
        ("tool_call", "tool_error", None),
        ("error", "api_error", None),
        ("error", "rate_limit", "429"),
    ]
    (end,) = [r for r in rows if r["event_type"] == "session_end"]
    assert json.loads(end["payload"]) == {"status": "failure"}


def test_codex_calls_tokens_and_tools(sources: dict[str, list[Path]]) -> None:
    rows = list(IMPORTERS["codex"].parse(sources["codex"][-1]))
    calls = [r for r in rows if r["event_type"] == "llm_call"]
    assert [(r["input_tokens"], r["cache_tokens"], r["output_tokens"]) for r in calls] == [
        (4000, 3000, 50),
        (4200, 3500, 60),
        (4300, 3500, 80),
    ]
    assert {r["model"] for r in calls} == {"gpt-5-codex"}
    assert [r["latency_ms"] for r in calls] == [3000.0, 2000.0, 3000.0]
    tools = [r for r in rows if r["event_type"] == "tool_call"]
    assert [(r["request_id"], r["error_type"], r["error_code"]) for r in tools] == [
        ("call_1", None, None),
        ("call_2", "exit_code", "1"),
    ]
    assert [r["tool_latency_ms"] for r in tools] == [1000.0, 1500.0]
    users = [json.loads(r["payload"])["text"] for r in rows if r["event_type"] == "user_message"]
    assert users == ["make the build pass"]
    assert [r["seq"] for r in rows] == list(range(len(rows)))


def test_files_that_are_not_transcripts_are_reported(tmp_path: Path) -> None:
    other = tmp_path / "events.jsonl"
    other.write_text('{"event_id": "e1", "session_id": "s", "ts": 1, "event_type": "x"}\n')
    report = ingest_files(str(tmp_path / "lake"), "claude-code", [other, *real_transcripts.CODEX])
    assert [f.reason.split(":")[0] for f in report.failed] == ["not a Claude Code transcript"] * 2
    report = ingest_files(
        str(tmp_path / "lake"), "codex", [other, *real_transcripts.CLAUDE_CODE[:1]]
    )
    assert {f.reason.split(":")[0] for f in report.failed} == {"not a Codex rollout"}


def test_a_sub_agent_file_adds_to_its_parent_session(tmp_path: Path) -> None:
    """Recent Claude Code writes a sub-agent to `agent-<id>.jsonl` with the parent's sessionId:
    its calls join the parent's session, which keeps one start and one end. Read alone, each
    file numbered its turns from 0, the sub-agent's into the main conversation's turns: a
    session's files beside each other are read together, whichever is imported, and an import
    of both reads the session once."""
    lines = claude_transcript().splitlines()
    side = [line for line in lines if '"isSidechain": true' in line]
    alone = tmp_path / "alone" / "agent-a1b2c3.jsonl"  # no parent transcript beside it
    alone.parent.mkdir()
    alone.write_text("\n".join(side) + "\n")
    with pytest.warns(LeftOut, match=r"without the session's transcript \(0a7c3d9e-hand-made"):
        rows = list(IMPORTERS["claude-code"].parse(alone))  # `ingest` shows it as a note
    assert {r["event_type"] for r in rows} == {
        "user_message",
        "llm_call",
        "tool_call",
        "agent_message",
    }
    assert {r["agent_id"] for r in rows} == {"a1b2c3"}
    main_file, agent_file = tmp_path / "0a7c3d9e-hand-made.jsonl", tmp_path / "agent-a1b2c3.jsonl"
    main_file.write_text("\n".join(x for x in lines if x not in side) + "\n")
    agent_file.write_text("\n".join(side) + "\n")
    whole = tmp_path / "whole" / "0a7c3d9e-hand-made.jsonl"
    whole.parent.mkdir()
    whole.write_text(claude_transcript())
    as_one = list(IMPORTERS["claude-code"].parse(whole))
    for either in (main_file, agent_file):
        assert list(IMPORTERS["claude-code"].parse(either)) == as_one
    below = tmp_path / "below" / "0a7c3d9e-hand-made" / "subagents" / "agent-a1b2c3.jsonl"
    below.parent.mkdir(parents=True)
    agent_file.rename(below)  # where later versions put it
    main_file.rename(tmp_path / "below" / main_file.name)
    for either in (below, tmp_path / "below" / main_file.name):
        assert list(IMPORTERS["claude-code"].parse(either)) == as_one
    agent_file.write_text(below.read_text())
    main_file.write_text((tmp_path / "below" / main_file.name).read_text())

    report = ingest_files(str(tmp_path / "lake"), "claude-code", [agent_file, main_file])
    assert not report.failed
    raw = raw_events(tmp_path / "lake")
    kinds = raw["event_type"].to_pylist()
    assert (kinds.count("session_start"), kinds.count("session_end")) == (1, 1)
    expected = real_transcripts.expect_claude_code([main_file, agent_file])
    assert (kinds.count("llm_call"), kinds.count("tool_call")) == (
        expected.llm_calls,
        expected.tool_calls,
    )
    assert set(raw["session_id"].to_pylist()) == expected.sessions
    # read once: the second file's events were not "already present" on a first import
    assert (report.events_written, report.events_skipped) == (raw.num_rows, 0)
    assert [f.status for f in report.files] == ["imported", "imported"]
    again = ingest_files(str(tmp_path / "lake"), "claude-code", [main_file, agent_file])
    assert (again.events_written, again.events_skipped) == (0, raw.num_rows)


def test_a_codex_response_without_its_token_count_shifts_nothing(tmp_path: Path) -> None:
    """Drop the first response's count: the later counts still go to their own responses."""
    lines = codex_rollout().splitlines()
    first_count = next(i for i, x in enumerate(lines) if '"token_count"' in x)
    path = tmp_path / "rollout.jsonl"
    path.write_text("\n".join(lines[:first_count] + lines[first_count + 1 :]) + "\n")
    calls = [r for r in IMPORTERS["codex"].parse(path) if r["event_type"] == "llm_call"]
    assert [r["input_tokens"] for r in calls] == [None, 8200, 4300]  # running totals from 0


@pytest.mark.parametrize(("fmt", "index"), [("claude-code", 3), ("codex", 0)])
def test_a_cut_last_line_is_skipped_but_a_damaged_line_inside_fails_the_file(
    tmp_path: Path, fmt: str, index: int
) -> None:
    """A file still being written ends in a cut line, which is left out with a note (it may be
    a finished file cut by a copy); a cut line inside would lose its events without a word, so
    the file fails, naming the line (and nothing of it is imported)."""
    source = (real_transcripts.CLAUDE_CODE if fmt == "claude-code" else real_transcripts.CODEX)[
        index
    ]
    lines = source.read_text().splitlines()
    being_written = tmp_path / "being_written.jsonl"
    being_written.write_text("\n".join([*lines, lines[1][:40]]) + "\n")
    (whole,) = ingest_files(str(tmp_path / "a"), fmt, [source]).files
    (cut_end,) = ingest_files(str(tmp_path / "b"), fmt, [being_written]).files
    assert cut_end.ok and cut_end.events == whole.events > 0
    assert whole.left_out == ()
    assert cut_end.left_out == (
        f"the last line is cut off (as a file still being written ends), left out: line "
        f"{len(lines) + 1}",
    )
    damaged = tmp_path / "damaged.jsonl"
    damaged.write_text("\n".join([lines[0], lines[1][:40], *lines[2:]]) + "\n")
    (failed,) = ingest_files(str(tmp_path / "c"), fmt, [damaged]).files
    assert failed.status == "failed" and failed.reason.startswith("line 2 is not JSON (")
    assert ": column " in failed.reason  # not "starting at at column"
    assert failed.written == 0


@pytest.mark.parametrize(("fmt", "index"), [("claude-code", 3), ("codex", 0)])
def test_lines_that_may_have_held_events_are_left_out_with_a_note(
    tmp_path: Path, fmt: str, index: int
) -> None:
    """JSON lines of no known shape and entries whose time cannot be read import nothing: the
    import says which lines it left out, so a misspelt `timestamp` does not lose a turn silently."""
    source = (real_transcripts.CLAUDE_CODE if fmt == "claude-code" else real_transcripts.CODEX)[
        index
    ]
    lines = source.read_text().splitlines()
    untimed = json.loads(lines[1])
    untimed["timesstamp"] = untimed.pop("timestamp")
    odd = tmp_path / "odd.jsonl"
    odd.write_text("\n".join([lines[0], json.dumps(untimed), *lines[2:], '"oops"', "42", "{}"]))
    (result,) = ingest_files(str(tmp_path / "lake"), fmt, [odd]).files
    assert result.ok, result.reason
    n = len(lines)
    assert result.left_out == (
        f"3 JSON line(s) that are no object with a type, left out: line {n + 1}, {n + 2}, {n + 3}",
        "1 entry line(s) without a readable timestamp, left out: line 2",
    )


def test_a_request_sent_on_after_a_response_starts_at_that_responses_end() -> None:
    """An assistant entry answering an earlier response (no user entry between) went out when
    that response ended: timed from the user entry before both, the calls overlapped."""
    source = next(p for p in real_transcripts.CLAUDE_CODE if p.name == "todowrite_examples.jsonl")
    calls = [r for r in IMPORTERS["claude-code"].parse(source) if r["event_type"] == "llm_call"]
    latencies = {r["request_id"]: r["latency_ms"] for r in calls}
    assert latencies["req_002"] == 5000.0  # 10:00:05 (req_001's end) to 10:00:10, not 10 s
    assert latencies["req_004"] == 60000.0  # 10:01:00 (req_003's end) to 10:02:00, not 109 s
    ends = sorted((r["ts"], r["ts"] + dt.timedelta(milliseconds=r["latency_ms"])) for r in calls)
    assert all(end <= start for (_, end), (start, _) in itertools.pairwise(ends))


@pytest.mark.parametrize("first", ["edge_cases.jsonl", "todowrite_examples.jsonl"])
def test_a_session_with_lines_in_another_file_is_read_whole_whichever_comes_first(
    tmp_path: Path, first: str
) -> None:
    """`edge_cases.jsonl` holds one line of `todowrite_session`, a copy of one in
    `todowrite_examples.jsonl`: imported first, it made a session of that one response, whose
    events the lake kept (turn 0 with two calls, turn 3 gone, a second start and end)."""
    folder = tmp_path / "transcripts"
    folder.mkdir()
    fixtures = {p.name: p for p in real_transcripts.CLAUDE_CODE}
    for name in ("edge_cases.jsonl", "todowrite_examples.jsonl"):
        (folder / name).write_bytes(fixtures[name].read_bytes())
    second = next(n for n in ("edge_cases.jsonl", "todowrite_examples.jsonl") if n != first)
    for name in (first, second):  # two imports, one file each
        ingest_files(str(tmp_path / "lake"), "claude-code", [folder / name])
    raw = raw_events(tmp_path / "lake")
    session = raw.filter(pc.equal(raw["session_id"], "todowrite_session"))
    calls = session.filter(pc.equal(session["event_type"], "llm_call"))
    assert sorted(calls["turn_index"].to_pylist()) == [0, 1, 2, 3, 4, 5]  # 6 responses
    types = session["event_type"].to_pylist()
    assert (types.count("session_start"), types.count("session_end")) == (1, 1)


def test_a_sessions_own_file_is_found_by_name_whatever_its_id_looks_like(tmp_path: Path) -> None:
    """A session id that is a JSON number is no string the folder's index reads: its own
    file, `<sessionId>.jsonl`, is found by its name."""
    from trajectory_assets.ingest.importers.claude_code_files import session_files

    own, agent = tmp_path / "123.jsonl", tmp_path / "agent-x.jsonl"
    for file in (own, agent):
        file.write_text('{"sessionId": 123, "type": "user"}\n')
    assert session_files(agent, {"123"}) == [own, agent]
