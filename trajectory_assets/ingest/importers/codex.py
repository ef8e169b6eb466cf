"""Codex CLI rollouts (`~/.codex/sessions/YYYY/MM/DD/rollout-*.jsonl`) → raw events.

Each line is `{"timestamp", "type", "payload"}`: `session_meta` (the session's `id`, `cwd`,
`cli_version`, ...), `turn_context` (the `model` of the turns that follow), `response_item`
(OpenAI Responses API items: `message`, `reasoning`, `function_call`, `function_call_output`,
`custom_tool_call(_output)`, `local_shell_call`, `web_search_call`) and `event_msg` (UI events,
among them `token_count`, `exec_command_end` and `error`). One file is one session, its id the
first `session_meta` id; a file without one is not a rollout. Lines that are not JSON objects
of this shape are skipped (a rollout being written may end in a cut line).

Mapping
- model responses: the items a model response produced (assistant `message`, `reasoning`,
  tool calls) arrive together, between the inputs that prompted them (user messages, tool
  outputs); each such group is one `llm_call`, model = the current `turn_context` model. The
  call starts at the input before it (else its first item) and ends at its `token_count` (else
  its last item): latency_ms, from the rollout's timestamps.
- tokens: `event_msg` `token_count` reports `info.total_token_usage` (running totals) and
  `last_token_usage` after each response. A count whose totals did not move repeats the last
  one and is dropped; otherwise the increase of the totals (else `last_token_usage`) is the
  usage of the response that just completed (the latest, unless `turn_aborted` stopped it,
  then a call of its own, as a compaction's request). OpenAI's
  `input_tokens` already includes `cached_input_tokens`, Tier A's convention; reasoning tokens
  are part of `output_tokens` and are also in the payload. A count with no response left to
  attach to is a call of its own (items the rollout did not keep), so session token sums equal
  the totals.
- `function_call` / `custom_tool_call` / `local_shell_call` → `tool_call` (name, `call_id` as
  request_id, arguments), completed by the output with the same `call_id`: tool latency =
  `exec_command_end` duration when there is one, else output time minus call time. A non-zero
  exit code (`exec_command_end.exit_code`, or the output's `metadata.exit_code`, `Exit code: N`
  or `Process exited with code N`) makes it an error (`exit_code`, the code as error_code);
  an output `aborted` (its turn stopped) is the error `aborted`.
- `event_msg` `error` and `stream_error` → `error` events. User `message`s (but the
  `<environment_context>` and instruction blocks Codex injects) → `user_message`; assistant
  text → `agent_message`.
- turns (`turns.Turns`): each llm_call opens the next turn (0-based); user messages and a
  `stream_error` (the request is sent again) belong to the turn of the next call.
  `session_start` / `session_end` at the first and last line; the end has status `failure` when
  an `error` came after the last response, else none (→ `unknown`).
- event ids hash the session id and the source's ids (`call_id`s) or line positions, which an
  appended rollout keeps: importing it again adds only the new events, and a new `session_end`
  (the end's id names the last line; the session's last end gives its status). A live file's
  unfinished events wait for a later import (`transcript_lines.held_back`).
"""

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import (
    Row,
    clip,
    dumps,
    event,
    non_negative,
    stable_id,
    to_float,
    to_int,
)
from trajectory_assets.ingest.importers.codex_text import exit_code, item_text, output_text
from trajectory_assets.ingest.importers.transcript_lines import elapsed_ms, held_back, timed_objects
from trajectory_assets.ingest.importers.turns import Turns

FORMAT = "codex"
SUFFIXES = (".jsonl",)

LINE_TYPES = frozenset({"session_meta", "turn_context", "response_item", "event_msg", "compacted"})
OUTPUT_ITEMS = frozenset({"reasoning", "function_call", "custom_tool_call", "local_shell_call"})
OUTPUT_ITEMS_ALSO = frozenset({"web_search_call"})
CALL_ITEMS = frozenset({"function_call", "custom_tool_call", "local_shell_call"})
RESULT_ITEMS = frozenset({"function_call_output", "custom_tool_call_output"})
_INJECTED = ("<environment_context>", "<user_instructions>", "<INSTRUCTIONS>", "# AGENTS.md")
_TOKENS = ("input_tokens", "cached_input_tokens", "output_tokens", "reasoning_output_tokens")


@dataclass
class Line:
    number: int
    ts: dt.datetime
    type: str
    payload: dict[str, Any]


@dataclass
class Group:
    """The output items of one model response."""

    lines: list[Line] = field(default_factory=list)
    prompt: dt.datetime | None = None
    model: str | None = None
    tokens: dict[str, int] | None = None
    count: Line | None = None  # the token_count line that gave its usage
    aborted: bool = False  # its turn was stopped (`turn_aborted`): no count will come


def read_lines(path: str | Path) -> list[Line]:
    lines: list[Line] = []
    for number, raw, ts in timed_objects(
        path, LINE_TYPES, lambda r: isinstance(r.get("payload"), dict)
    ):
        lines.append(Line(number, ts, str(raw["type"]), raw["payload"]))
    return lines


def parse(path: str | Path) -> Iterator[Row]:
    lines = read_lines(path)
    meta = next((x for x in lines if x.type == "session_meta" and x.payload.get("id")), None)
    if meta is None:
        raise UnparseableFileError("not a Codex rollout: no session_meta line with an id")
    yield from _Rollout(str(meta.payload["id"]), lines).rows()


def _tokens(info: dict[str, Any], previous: dict[str, int] | None) -> dict[str, int] | None:
    """The usage of one response: the increase of the running totals, else `last_token_usage`.
    None when the totals did not move (a repeated count)."""
    total = info.get("total_token_usage")
    last = info.get("last_token_usage")
    if isinstance(total, dict):
        now = {k: to_int(total.get(k)) or 0 for k in _TOKENS}
        if previous is not None and now == previous:
            return None
        base = previous or dict.fromkeys(_TOKENS, 0)
        delta = {k: now[k] - base[k] for k in _TOKENS}
        if all(v >= 0 for v in delta.values()):
            return delta
    if isinstance(last, dict):
        return {k: to_int(last.get(k)) or 0 for k in _TOKENS}
    return None


class _Rollout:
    def __init__(self, session_id: str, lines: list[Line]) -> None:
        self.id = session_id
        self.lines = lines
        self.rows_: list[Row] = []
        self.turns = Turns()

    def add(self, event_type: str, key: tuple[object, ...], ts: dt.datetime, **cols: Any) -> Row:
        row = event(
            event_type, event_id=stable_id(FORMAT, self.id, *key), session_id=self.id, ts=ts, **cols
        )
        self.rows_.append(row)
        return row

    def groups(self) -> list[Group]:
        """Model responses in order, each with the token count that closed it, if any."""
        groups: list[Group] = []
        current: Group | None = None
        prompt: dt.datetime | None = self.lines[0].ts
        model: str | None = None
        totals: dict[str, int] | None = None
        for line in self.lines:
            item = line.payload.get("type")
            if line.type == "turn_context" and line.payload.get("model"):
                model = str(line.payload["model"])
            elif line.type == "response_item" and _is_output(line.payload):
                if current is None:
                    current = Group(prompt=prompt, model=model)
                    groups.append(current)
                current.lines.append(line)
            elif line.type == "response_item" and (item in RESULT_ITEMS or item == "message"):
                current, prompt = None, line.ts
            elif line.type == "event_msg" and item == "turn_aborted":
                for group in groups:
                    group.aborted = group.aborted or group.tokens is None
                current = None
            elif line.type == "event_msg" and item == "token_count":
                info = line.payload.get("info")
                if not isinstance(info, dict):
                    continue
                usage = _tokens(info, totals)
                total = info.get("total_token_usage")
                if isinstance(total, dict):
                    totals = {k: to_int(total.get(k)) or 0 for k in _TOKENS}
                if usage is None:
                    continue
                # the response just completed: the latest one, if it has no count yet (a
                # request is only sent once the previous response completed); an older one
                # without a count was stopped (`turn_aborted`), and its usage never came
                target = groups[-1] if groups else None
                if target is None or target.tokens is not None or target.aborted:
                    target = Group(prompt=prompt, model=model)  # items the rollout lacks (a
                    groups.append(target)  # compaction's request)
                target.tokens, target.count = usage, line
                current = None
        return groups

    def rows(self) -> Iterator[Row]:
        first, last = self.lines[0], self.lines[-1]
        meta = next(x.payload for x in self.lines if x.type == "session_meta")
        self.add(
            "session_start",
            ("session_start",),
            first.ts,
            payload=dumps(
                {
                    "source": FORMAT,
                    "cwd": meta.get("cwd"),
                    "cli_version": meta.get("cli_version"),
                    "originator": meta.get("originator"),
                    "model_provider": meta.get("model_provider"),
                }
            ),
        )
        calls: dict[str, Row] = {}
        ends = {
            str(x.payload.get("call_id")): x.payload
            for x in self.lines
            if x.type == "event_msg" and x.payload.get("type") == "exec_command_end"
        }
        groups = self.groups()
        group_of = {id(line): g for g in groups for line in g.lines}
        group_of.update({id(g.count): g for g in groups if not g.lines and g.count is not None})
        emitted: set[int] = set()
        failed_last = False
        for line in self.lines:
            payload, item = line.payload, line.payload.get("type")
            group = group_of.get(id(line))
            if group is not None and id(group) not in emitted:
                emitted.add(id(group))
                self._llm_call(group)
                failed_last = False
            if line.type == "response_item" and item in CALL_ITEMS:
                call_id = _call_key(line)
                calls[call_id] = self._tool_call(line, call_id)
            elif line.type == "response_item" and item in RESULT_ITEMS:
                call = calls.get(str(payload.get("call_id")))
                if call is not None:
                    self._result(call, line, ends.get(str(payload.get("call_id"))))
            elif line.type == "response_item" and item == "message":
                self._message(line)
            elif line.type == "event_msg" and item in ("error", "stream_error"):
                failed_last = item == "error"
                error = self.add(
                    "error",
                    ("line", line.number),
                    line.ts,
                    turn_index=self.turns.current(None),
                    error_type=f"codex_{item}",
                    payload=dumps({"message": clip(str(payload.get("message") or ""))}),
                )
                if item == "stream_error":  # the request is sent again: the error is that call's
                    self.turns.next_of(None, error)
        self.turns.close()
        end: dict[str, Any] = {"status": "failure"} if failed_last else {}
        # one end per state of the file: a rollout resumed and imported again ends anew
        self.add("session_end", ("session_end", last.number), last.ts, payload=dumps(end))
        held = held_back(self.id, last.ts, self._unfinished(calls, groups))
        rows = sorted((r for r in self.rows_ if r["event_id"] not in held), key=lambda r: r["ts"])
        for seq, row in enumerate(rows):
            row["seq"] = seq
        yield from rows

    def _unfinished(self, calls: dict[str, Row], groups: list[Group]) -> list[Row]:
        """Tool calls of the last response without their output (an older one was abandoned:
        the model answers once every call has one), and the last response before its count."""
        answered = {
            str(x.payload.get("call_id"))
            for x in self.lines
            if x.type == "response_item" and x.payload.get("type") in RESULT_ITEMS
        }
        last = groups[-1].lines if groups else []
        running = {_call_key(x) for x in last if x.payload.get("type") in CALL_ITEMS}
        rows = [row for id_, row in calls.items() if id_ in running and id_ not in answered]
        if groups and groups[-1].tokens is None and not groups[-1].aborted and groups[-1].lines:
            waiting = stable_id(FORMAT, self.id, "llm_call", groups[-1].lines[0].number)
            rows += [row for row in self.rows_ if row["event_id"] == waiting]
        return rows

    def _llm_call(self, group: Group) -> None:
        turn = self.turns.open(None)
        anchor = group.lines[0] if group.lines else group.count
        assert anchor is not None
        start = group.prompt or anchor.ts
        end = group.count.ts if group.count else group.lines[-1].ts
        tokens = group.tokens or {}
        payload: dict[str, Any] = {"items": [x.payload.get("type") for x in group.lines]}
        if tokens.get("reasoning_output_tokens"):
            payload["reasoning_output_tokens"] = tokens["reasoning_output_tokens"]
        self.add(
            "llm_call",
            ("llm_call", anchor.number),
            start,
            turn_index=turn,
            model=group.model,
            latency_ms=non_negative(elapsed_ms(start, end)),
            input_tokens=tokens.get("input_tokens") if group.tokens else None,
            output_tokens=tokens.get("output_tokens") if group.tokens else None,
            cache_tokens=tokens.get("cached_input_tokens") if group.tokens else None,
            payload=dumps(payload),
        )

    def _tool_call(self, line: Line, call_id: str) -> Row:
        payload = line.payload
        arguments = payload.get("arguments", payload.get("input", payload.get("action")))
        name = payload.get("name") or (
            "shell" if payload.get("type") == "local_shell_call" else None
        )
        return self.add(
            "tool_call",
            ("tool_call", call_id),
            line.ts,
            turn_index=self.turns.current(None),
            tool_name=name,
            request_id=call_id,
            payload=dumps({"arguments": arguments}),
        )

    def _result(self, call: Row, line: Line, end: dict[str, Any] | None) -> None:
        output = line.payload.get("output")
        duration = _duration_ms(end.get("duration")) if end else None
        call["tool_latency_ms"] = (
            duration if duration is not None else non_negative(elapsed_ms(call["ts"], line.ts))
        )
        code = to_int(end.get("exit_code")) if end else None
        if code is None:
            code = exit_code(output)
        if output_text(output).strip() == "aborted":  # its turn was stopped (Ctrl+C, Esc)
            call["error_type"] = "aborted"
        elif code is not None and code != 0:
            call["error_type"] = "exit_code"
            call["error_code"] = str(code)
            message = clip(output_text(output))
            call["payload"] = dumps({**json.loads(call["payload"]), "message": message})

    def _message(self, line: Line) -> None:
        role = line.payload.get("role")
        text = item_text(line.payload.get("content"))
        if role == "user" and text and not text.lstrip().startswith(_INJECTED):
            prompt = self.add(
                "user_message",
                ("line", line.number),
                line.ts,
                payload=dumps({"text": clip(text)}),
            )
            self.turns.next_of(None, prompt)
        elif role == "assistant" and text:
            self.add(
                "agent_message",
                ("line", line.number),
                line.ts,
                turn_index=self.turns.current(None),
                payload=dumps({"text": clip(text)}),
            )


def _call_key(line: Line) -> str:
    payload = line.payload
    return str(payload.get("call_id") or payload.get("id") or f"line-{line.number}")


def _is_output(payload: dict[str, Any]) -> bool:
    item = payload.get("type")
    if item == "message":
        return payload.get("role") == "assistant"
    return item in OUTPUT_ITEMS or item in OUTPUT_ITEMS_ALSO


def _duration_ms(value: Any) -> float | None:
    """`exec_command_end.duration`: a Rust Duration, `{secs, nanos}`, or seconds."""
    if isinstance(value, dict):
        secs, nanos = to_float(value.get("secs")), to_float(value.get("nanos"))
        if secs is None:
            return None
        return non_negative(secs * 1000 + (nanos or 0) / 1e6)
    seconds = to_float(value)
    return None if seconds is None else non_negative(seconds * 1000)
