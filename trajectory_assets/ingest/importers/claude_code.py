"""Claude Code session transcripts (JSON Lines) → raw events; one session per `sessionId`.

Claude Code writes one JSON object a line to `~/.claude/projects/<project>/<sessionId>.jsonl`:
`user`, `assistant`, `system` and `summary` entries (and bookkeeping types, skipped), each with
`sessionId`, `uuid`, `parentUuid`, `timestamp`, `isSidechain` (a sub-agent's message; recent
versions write sub-agents to their own files, with `agentId`), and `message` (the API message).

Reading: lines of other entry types, or without a `sessionId` or `message` object, are
skipped (the format has more entry types than it needs to read); lines that are no JSON object
with a type, entries without a readable `timestamp` and a cut last line (a live session's) are
left out with a note the import shows. An entry seen twice (the
same `uuid`) counts once, the first usable copy. A file with no usable entry is not a transcript.

Mapping
- `assistant` entries → `llm_call`, one per API response: a response streamed as several lines
  (one content block each, same `message.id` and `requestId`, the usage repeated on each) is one
  call, with the largest count of each usage field over its lines. model = `message.model`.
  Anthropic's usage counts cache reads and writes apart from `input_tokens`; Tier A's
  `input_tokens` includes them, so input = input + cache reads + cache writes, cache_tokens =
  cache reads, and the writes and the stated input go in the payload. Time: the call starts at
  the entry it answers (`parentUuid`: a user entry, or the last line of an earlier response;
  else the session's previous user entry) and lasts until its last line was written; that is
  latency_ms (the transcript has no TTFT).
- `tool_use` blocks → `tool_call` (name, `id` as request_id, `input` as payload `arguments`),
  at the time of the line that holds them. The `tool_result` block with the same `tool_use_id`
  gives tool latency (its entry's time minus the call's) and, with `is_error`, the error
  (`tool_error`, the result text as payload message). An error result with no call in the
  session is an `error` event.
- an assistant entry with `isApiErrorMessage` (Claude Code writes the failure of a request as
  a synthetic message, model `<synthetic>`) → `error` event: error_type = its `error` (else
  `api_error`), error_code = `apiErrorStatus`; a `system` entry with `level` error (a request
  that will be retried, `subtype` api_error; status and message in `error` or `content`) →
  `error` event too. Other `<synthetic>` messages are no call and give no event.
- user entries with text (not only tool results, not Claude Code's own: `isMeta`, a
  compaction's summary, an interruption's marker) → `user_message`; assistant text → one
  `agent_message` per response.
- agent_id: `main` for the main conversation; a sub-agent's messages (`isSidechain`) have their
  own: `agentId` when the entry has one, else `sidechain-<uuid of the sub-agent's first entry>`.
- turns (`turns.Turns`): each llm_call opens the session's next turn (0-based); other events
  belong to their agent's turn (a sub-agent's to the sub-agent's, though the main conversation
  or another sub-agent called meanwhile), user messages and a `system` error (a request that is
  retried) to the turn of their agent's next call (a retry's error to the turn before when
  every retry failed: the next call answers another prompt).
- `session_start` / `session_end` at the first and last entry. A transcript says nothing about
  success, so the end has a status only when the session's last assistant entry is an API
  error (`failure`); otherwise the sessions table shows `unknown`. A file holding only a
  sub-agent's entries (recent versions write `agent-<id>.jsonl` with the parent's sessionId)
  adds its events to the parent's session and gives no start or end of its own; a session's
  files found beside each other (`claude_code_files`) are read together, whichever is imported.
- event ids hash the session id and the source's own ids (message and request ids, tool_use ids,
  entry uuids), so a transcript imported again, or copied, adds nothing; one resumed since (the
  file grew) adds the new events and a new `session_end` (the end's id names the last entry;
  the session's last end gives its status). A live file's unfinished events (a tool call
  without its result, a response still being written) wait for a later import
  (`transcript_lines.held_back`).
"""

import datetime as dt
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import (
    ANTHROPIC_NESTED_COUNTS,
    LeftOut,
    Row,
    clip,
    dumps,
    event,
    non_negative,
    stable_id,
)
from trajectory_assets.ingest.importers.claude_code_entries import (
    Entry,
    Response,
    content_text,
    read_entries,
    retries_given_up,
)
from trajectory_assets.ingest.importers.claude_code_files import with_related_files
from trajectory_assets.ingest.importers.transcript_lines import elapsed_ms, held_back
from trajectory_assets.ingest.importers.turns import Turns

FORMAT = "claude-code"
SUFFIXES = (".jsonl",)


def parse(path: str | Path) -> Iterator[Row]:
    entries = read_entries(path)
    if not entries:
        raise UnparseableFileError(
            "not a Claude Code transcript: no user or assistant entry with a sessionId, "
            "a timestamp and a message"
        )
    entries = with_related_files(Path(path), entries)  # a session's sub-agents' own files
    sessions: dict[str, list[Entry]] = {}
    for entry in entries:
        sessions.setdefault(str(entry.raw["sessionId"]), []).append(entry)
    for session_id, session in sessions.items():
        session.sort(key=lambda e: (e.ts, e.line))
        if all(e.raw.get("isSidechain") for e in session):
            warnings.warn(
                f"session {session_id}: a sub-agent's entries without the session's transcript "
                f"({session_id}.jsonl) beside them: their turns are numbered apart from the main "
                "conversation's and may share its turn numbers; import them from the folder "
                "that holds both",
                LeftOut,
                stacklevel=2,
            )
        yield from _Session(session_id, session).rows()


class _Session:
    def __init__(self, session_id: str, entries: list[Entry]) -> None:
        self.id = session_id
        self.entries = entries
        self.by_uuid = {e.uuid: e for e in entries}
        self.position = {e.uuid: i for i, e in enumerate(entries)}
        self.agents: dict[str, str] = {}
        self.rows_: list[Row] = []
        self.seq = 0
        self.turns = Turns()

    def eid(self, *parts: object) -> str:
        return stable_id(FORMAT, self.id, *parts)

    def add(self, event_type: str, key: tuple[object, ...], ts: dt.datetime, **cols: Any) -> Row:
        row = event(event_type, event_id=self.eid(*key), session_id=self.id, ts=ts, **cols)
        row["seq"] = self.seq
        self.seq += 1
        self.rows_.append(row)
        return row

    def agent_of(self, entry: Entry) -> str:
        if not entry.raw.get("isSidechain"):
            return "main"
        if entry.raw.get("agentId"):
            return str(entry.raw["agentId"])
        known = self.agents.get(entry.uuid)
        if known is not None:
            return known
        chain, first = [entry.uuid], entry
        while True:
            parent = self.by_uuid.get(str(first.raw.get("parentUuid")))
            if parent is None or not parent.raw.get("isSidechain") or parent.uuid in chain:
                agent = f"sidechain-{first.uuid}"
                break
            if parent.uuid in self.agents:
                agent = self.agents[parent.uuid]
                break
            chain.append(parent.uuid)
            first = parent
        self.agents.update(dict.fromkeys(chain, agent))
        return agent

    def started(self, first: Entry) -> dt.datetime | None:
        """When the request behind a response went out: the entry it answers, which may be the
        end of an earlier response (a request sent on without a user entry between; timed from
        the user entry before both, the two calls would overlap)."""
        parent = self.by_uuid.get(str(first.raw.get("parentUuid")))
        if parent is not None and (
            parent.type != "assistant" or parent.response_key != first.response_key
        ):
            return parent.ts
        position = self.position[first.uuid]
        agent = self.agent_of(first)
        for before in reversed(self.entries[:position]):
            if before.type == "user" and self.agent_of(before) == agent:
                return before.ts
        return None

    def rows(self) -> Iterator[Row]:
        first, last = self.entries[0], self.entries[-1]
        # a sub-agent's own file (agent-*.jsonl, the parent's sessionId) adds its events to the
        # parent's session: the parent's transcript gives the start and the end
        whole = not all(e.raw.get("isSidechain") for e in self.entries)
        if whole:
            self._start(first)
        responses: dict[str, Response] = {}
        for entry in self.entries:
            if entry.type == "assistant" and not self._synthetic(entry):
                key = entry.response_key
                responses.setdefault(key, Response(key)).entries.append(entry)
        tools: dict[str, Row] = {}
        given_up = retries_given_up(self.entries, self.agent_of)
        done: set[str] = set()
        failed_last = False
        for entry in self.entries:
            agent = self.agent_of(entry)
            if entry.type == "assistant" and self._synthetic(entry):
                if entry.raw.get("isApiErrorMessage"):
                    self._api_error(entry, agent)
                failed_last = bool(entry.raw.get("isApiErrorMessage"))
            elif entry.type == "assistant":
                failed_last = False
                key = entry.response_key
                if key not in done:
                    done.add(key)
                    self._llm_call(responses[key], agent)
                for block in entry.blocks:
                    if block.get("type") == "tool_use" and block.get("id") not in tools:
                        tools[str(block.get("id"))] = self._tool_call(entry, block, agent)
            elif entry.type == "user":
                self._user(entry, agent, tools)
            elif entry.type == "system" and str(entry.raw.get("level")) == "error":
                status, message = entry.system_error()
                retried = self.add(  # the request is sent again: the error is that call's
                    "error",
                    ("entry", entry.uuid),
                    entry.ts,
                    agent_id=agent,
                    error_type=str(entry.raw.get("subtype") or "system_error"),
                    error_code=status,
                    payload=dumps({"message": clip(message or "") or None}),
                )
                if entry.uuid in given_up:  # no call follows: the failed request's turn
                    retried["turn_index"] = self.turns.current(agent)
                else:
                    self.turns.next_of(agent, retried)
        self.turns.close()
        if whole:
            end: dict[str, Any] = {"status": "failure"} if failed_last else {}
            # one end per state of the file: a session resumed and imported again ends anew
            ends = ("session_end", last.uuid)
            self.add("session_end", ends, last.ts, agent_id="main", payload=dumps(end))
        held = held_back(self.id, last.ts, self._unfinished(tools))
        yield from (row for row in self.rows_ if row["event_id"] not in held)

    def _unfinished(self, tools: dict[str, Row]) -> list[Row]:
        """Tool calls of each agent's last response without their result (an agent answers
        only once every call of its response has one: an older one was abandoned), and each
        agent's response still being written (its last entry, no stop reason yet)."""
        answered = {
            str(block.get("tool_use_id"))
            for entry in self.entries
            if entry.type == "user"
            for block in entry.blocks
            if block.get("type") == "tool_result"
        }
        latest: dict[str, str | None] = {}  # an agent's last response, while it may run calls
        for e in self.entries:
            if e.type == "assistant":
                latest[self.agent_of(e)] = e.response_key
            elif e.type == "user" and not e.results_only:  # a prompt, an interruption:
                latest[self.agent_of(e)] = None  # the agent's calls before it ended
        running = {
            str(block.get("id"))
            for e in self.entries
            if e.type == "assistant" and latest[self.agent_of(e)] == e.response_key
            for block in e.blocks
            if block.get("type") == "tool_use"
        }
        rows = [row for id_, row in tools.items() if id_ in running and id_ not in answered]
        lasts = {self.agent_of(entry): entry for entry in self.entries}
        streaming = {
            self.eid(kind, last.response_key)
            for last in lasts.values()
            if last.type == "assistant"
            and not self._synthetic(last)
            and not last.message.get("stop_reason")
            for kind in ("llm_call", "agent_message")
        }
        return rows + [row for row in self.rows_ if row["event_id"] in streaming]

    def _start(self, first: Entry) -> None:
        self.add(
            "session_start",
            ("session_start",),
            first.ts,
            agent_id="main",
            payload=dumps(
                {
                    "source": FORMAT,
                    "cwd": first.raw.get("cwd"),
                    "version": first.raw.get("version"),
                    "git_branch": first.raw.get("gitBranch"),
                }
            ),
        )

    @staticmethod
    def _synthetic(entry: Entry) -> bool:
        return bool(entry.raw.get("isApiErrorMessage")) or entry.message.get("model") == (
            "<synthetic>"
        )

    def _api_error(self, entry: Entry, agent: str) -> None:
        error = entry.raw.get("error")
        self.add(
            "error",
            ("entry", entry.uuid),
            entry.ts,
            turn_index=self.turns.current(agent),
            agent_id=agent,
            error_type=str(error) if isinstance(error, str) and error else "api_error",
            error_code=_code(entry.raw.get("apiErrorStatus")),
            payload=dumps({"message": clip(content_text(entry.message.get("content"))) or None}),
        )

    def _llm_call(self, response: Response, agent: str) -> None:
        first, last = response.entries[0], response.entries[-1]
        usage = response.usage()
        reads = usage.get("cache_read_input_tokens")
        writes = usage.get("cache_creation_input_tokens")
        stated = usage.get("input_tokens")
        total = None if stated is None else stated + (reads or 0) + (writes or 0)
        payload: dict[str, Any] = {"response": response.key, "lines": len(response.entries)}
        if writes is not None:
            payload["cache_write_tokens"] = writes
        for key in ANTHROPIC_NESTED_COUNTS:  # priced apart when given
            if usage.get(key):
                payload[key] = usage[key]
        if stated is not None:
            payload["input_tokens_stated"] = stated
        stop = last.message.get("stop_reason")
        if stop:
            payload["stop_reason"] = stop
        start = self.started(first)
        turn = self.turns.open(agent)
        self.add(
            "llm_call",
            ("llm_call", response.key),
            start or first.ts,
            turn_index=turn,
            agent_id=agent,
            model=first.message.get("model"),
            request_id=first.raw.get("requestId") or first.message.get("id"),
            latency_ms=None if start is None else non_negative(elapsed_ms(start, last.ts)),
            input_tokens=total,
            output_tokens=usage.get("output_tokens"),
            cache_tokens=reads,
            payload=dumps(payload),
        )
        text = content_text([b for b in response.blocks if b.get("type") == "text"])
        if text:
            self.add(
                "agent_message",
                ("agent_message", response.key),
                last.ts,
                turn_index=turn,
                agent_id=agent,
                payload=dumps({"text": clip(text)}),
            )

    def _tool_call(self, entry: Entry, block: dict[str, Any], agent: str) -> Row:
        return self.add(
            "tool_call",
            ("tool_call", block.get("id")),
            entry.ts,
            turn_index=self.turns.current(agent),
            agent_id=agent,
            tool_name=block.get("name"),
            request_id=block.get("id"),
            payload=dumps({"arguments": block.get("input")}),
        )

    def _user(self, entry: Entry, agent: str, tools: dict[str, Row]) -> None:
        results = [b for b in entry.blocks if b.get("type") == "tool_result"]
        for block in results:
            call = tools.get(str(block.get("tool_use_id")))
            failed = block.get("is_error") is True
            message = clip(content_text(block.get("content")))
            if call is not None:
                call["tool_latency_ms"] = non_negative(elapsed_ms(call["ts"], entry.ts))
                if failed:
                    call["error_type"] = "tool_error"
                    call["payload"] = dumps({**json.loads(call["payload"]), "message": message})
            elif failed:
                self.add(
                    "error",
                    ("tool_result", block.get("tool_use_id"), entry.uuid),
                    entry.ts,
                    turn_index=self.turns.current(agent),
                    agent_id=agent,
                    error_type="tool_error",
                    payload=dumps({"message": message, "tool_use_id": block.get("tool_use_id")}),
                )
        content = entry.message.get("content")
        text = (
            content
            if isinstance(content, str)
            else content_text([b for b in entry.blocks if b.get("type") == "text"])
        )
        if text and entry.prompt:
            prompt = self.add(
                "user_message",
                ("user_message", entry.uuid),
                entry.ts,
                agent_id=agent,
                payload=dumps({"text": clip(text)}),
            )
            self.turns.next_of(agent, prompt)


def _code(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
