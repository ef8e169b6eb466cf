"""OpenHands trajectories → raw events.

Shapes read
- evaluation output (`output.jsonl`, one instance per line, or a JSON list of them): a record
  with `history[]` and `metrics` (`instance_id`, `metadata`, `error`, `test_result`);
- resolver output (older schema, `issue`/`success`): events without ids, sources or timestamps;
- a bare event list (`[{id, timestamp, source, action|observation, ...}]`), as saved from a
  session.

Mapping
- session: one per record, `<instance_id>:<run key>` where the run key hashes the record's
  run metadata (output dir, start time, model), so two runs of one instance stay two sessions;
  resolver records use `<owner>/<repo>#<number>:<hash of the record>`; a bare event list is
  `traj-<hash of the file>`.
- LLM calls, from the most precise source the record has:
  1. `metrics.response_latencies` / `metrics.token_usages`, joined on `response_id` (their lengths
     differ when a response produced no action): tokens (prompt → input, completion → output,
     cache_read → cache) and latency per response. LiteLLM's `prompt_tokens` includes cached
     tokens, as Tier A's input does; a count with more cache reads than prompt tokens can only
     have left them out (Anthropic's convention) and gets reads and writes added;
  2. else the distinct `tool_call_metadata.model_response` ids on the actions, with that
     response's `usage`;
  3. else one call per entry of `metrics.costs` (resolver output), cost in the payload.
  Calls are placed in their recorded order, each just before the first action it produced (same
  ts, lower seq); a call that produced no action (an invalid tool call) is placed at the error
  observation that follows it, or at the end.
- actions: user `message` → user_message, agent `message` → agent_message; every other agent
  action (run, edit, read, think, browse, finish, …) → tool_call, named by the tool call's
  `function_name`, else by the action; its `args` (the old schema: its own keys) but the thought
  and the confirmation state (a `think` keeps its thought) are the payload's `arguments`, which
  the loop columns compare (the same command again, whatever the thought, is a repeat).
  System, recall and state-change events are skipped.
- observations answer their action (`cause`, or in the old schema the action just before):
  tool latency = observation ts - action ts; an `error` observation makes the tool_call an
  error (`tool_error`), a `run` observation with a non-zero exit code too (`exit_code`, the code
  as error_code). An error observation with no action becomes an `error` event.
- record `error` → an `error` event (the exception class before the colon, else `agent_error`)
  and session status `failure`; otherwise `success`.
- eval_result only where the record states an outcome: resolver `success` (benchmark
  `openhands-resolver`, task = the issue), or `test_result.report.resolved` (benchmark from
  `metadata.dataset`). A bare patch (`test_result.git_patch`) is no result.
- turns: each LLM call opens the next turn; a user message belongs to the turn it prompts.
- time: event timestamps are naive and taken as UTC; resolver events have none and get
  synthesized times, one second apart from 1970-01-01T00:00:00Z in history order.
"""

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import (
    CUT_LAST_LINE,
    Row,
    clip,
    content_id,
    decoded,
    dumps,
    event,
    json_error,
    json_lines,
    left_out,
    non_negative,
    read_bytes,
    stable_id,
    to_int,
)
from trajectory_assets.ingest.importers.openhands_calls import Call, calls_of, response_id
from trajectory_assets.ingest.times import parse_ts, synthetic_ts

FORMAT = "openhands"
SUFFIXES = (".json", ".jsonl")

_SKIPPED_ACTIONS = frozenset({"system", "recall", "change_agent_state", "null", ""})
_SKIPPED_OBSERVATIONS = frozenset({"recall", "agent_state_changed", "null", ""})
_ERROR_PREFIX = re.compile(r"^\s*([A-Za-z_][\w.]*)\s*:")


def _records(path: str | Path) -> tuple[list[dict[str, Any]], bytes]:
    data = read_bytes(path)
    text = decoded(data)
    try:
        doc: Any = json.loads(text)
    except json.JSONDecodeError as whole:  # JSON Lines, or broken
        doc = []
        numbered = enumerate(json_lines(text), start=1)
        lines = [(n, line) for n, line in numbered if line.strip()]
        for number, line in lines:
            try:
                doc.append(json.loads(line))
            except json.JSONDecodeError as exc:
                if not doc:  # not JSON Lines either: the document is broken
                    raise json_error(whole, text) from None
                if number == lines[-1][0]:
                    left_out(CUT_LAST_LINE, [number])
                    break
                raise UnparseableFileError(
                    f"line {number} is not JSON ({exc.msg}: column {exc.colno}), and it is "
                    "not the last line: the file is damaged inside"
                ) from None
    if isinstance(doc, dict) and isinstance(doc.get("history"), list):
        return [doc], data
    if isinstance(doc, list) and doc and all(isinstance(d, dict) for d in doc):
        if all(isinstance(d.get("history"), list) for d in doc):
            return doc, data
        if all("action" in d or "observation" in d for d in doc):
            return [{"history": doc, "_bare": True}], data
    raise UnparseableFileError(
        "not an OpenHands trajectory: expected records with 'history' or a list of events"
    )


def parse(path: str | Path) -> Iterator[Row]:
    records, data = _records(path)
    for record in records:
        yield from _record_events(record, data)


def _session_id(record: dict[str, Any], data: bytes) -> str:
    if record.get("_bare"):
        return f"traj-{content_id(data)}"
    metadata = record.get("metadata") or {}
    if record.get("instance_id") is not None:
        run = [
            metadata.get("eval_output_dir"),
            metadata.get("start_time"),
            (metadata.get("llm_config") or {}).get("model"),
        ]
        return f"{record['instance_id']}:{content_id(dumps(run).encode())[:8]}"
    issue = record.get("issue")
    whole = content_id(json.dumps(record, sort_keys=True, default=str).encode())[:8]
    if isinstance(issue, dict) and issue.get("number") is not None:
        return f"{issue.get('owner')}/{issue.get('repo')}#{issue['number']}:{whole}"
    return f"record-{whole}"


_NOT_ARGUMENTS = frozenset(
    {"thought", "confirmation_state", "security_risk", "is_confirmed", "action_risk"}
)
"""An action's arguments that say why or whether it ran, not what it does."""
_ENVELOPE = frozenset(
    {"id", "timestamp", "source", "message", "action", "cause", "timeout", "tool_call_metadata"}
    | {"llm_metrics", "args"}
)
"""An event's keys around its arguments: the old schema has them beside these, not in `args`."""


def _arguments(e: dict[str, Any]) -> dict[str, Any]:
    """A `think` action's thought is what it does: three thoughts are no repeat."""
    args = e.get("args")
    if not isinstance(args, dict):
        args = {k: v for k, v in e.items() if k not in _ENVELOPE}
    left_out = _NOT_ARGUMENTS - {"thought"} if e.get("action") == "think" else _NOT_ARGUMENTS
    return {k: v for k, v in args.items() if k not in left_out}


def _exit_code(e: dict[str, Any]) -> int | None:
    extras = e.get("extras") if isinstance(e.get("extras"), dict) else {}
    assert isinstance(extras, dict)
    meta = extras.get("metadata") if isinstance(extras.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    for value in (meta.get("exit_code"), extras.get("exit_code"), e.get("exit_code")):
        code = to_int(value)
        if code is not None:
            return code
    return None


def _record_events(record: dict[str, Any], data: bytes) -> Iterator[Row]:
    history = [e for e in record["history"] if isinstance(e, dict)]
    session_id = _session_id(record, data)
    metadata = record.get("metadata") if isinstance(record.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    agent_id = metadata.get("agent_class")
    default_model = (metadata.get("llm_config") or {}).get("model")

    def eid(*parts: object) -> str:
        return stable_id(FORMAT, session_id, *parts)

    stamps: list[dt.datetime] = []
    synthetic = not any(e.get("timestamp") for e in history)
    for index, e in enumerate(history):
        if synthetic:
            stamps.append(synthetic_ts(index + 1))
            continue
        try:
            stamps.append(parse_ts(e["timestamp"]))
        except (KeyError, ValueError, TypeError):
            stamps.append(stamps[-1] if stamps else synthetic_ts(index + 1))

    calls, source = calls_of(record, history)
    position = {c.key: i for i, c in enumerate(calls)}
    acted = {rid for e in history if "action" in e and (rid := response_id(e)) is not None}
    emitted = 0  # calls[:emitted] are placed; calls are placed in their recorded order

    rows: list[Row] = []
    tools: dict[int, Row] = {}  # position in history -> its tool_call row
    by_event_id: dict[Any, int] = {}
    last_tool: int | None = None
    turn = -1
    seq = 0
    start = stamps[0] if stamps else synthetic_ts(0)

    def add(event_type: str, key: tuple[object, ...], ts: dt.datetime, **cols: Any) -> Row:
        nonlocal seq
        row = event(event_type, event_id=eid(*key), session_id=session_id, ts=ts, seq=seq, **cols)
        rows.append(row)
        seq += 1
        return row

    def emit_calls(upto: int, ts: dt.datetime) -> None:
        """Place calls[emitted:upto] at `ts`, each opening the next turn."""
        nonlocal emitted
        while emitted < upto:
            emit_call(calls[emitted], ts)
            emitted += 1

    def emit_call(call: Call, ts: dt.datetime) -> None:
        nonlocal turn
        turn += 1
        payload: dict[str, Any] = {"response_id": call.key, "source": source}
        if call.cost is not None:
            payload["cost_usd"] = call.cost
        if call.writes:
            payload["cache_write_tokens"] = call.writes
        add(
            "llm_call",
            ("llm_call", call.key),
            ts,
            turn_index=turn,
            agent_id=agent_id,
            model=call.model or default_model,
            request_id=None if source == "costs" else call.key,
            latency_ms=call.latency_ms,
            input_tokens=call.input,
            output_tokens=call.output,
            cache_tokens=call.cache,
            payload=dumps(payload),
        )

    add("session_start", ("session_start",), start, agent_id=agent_id)
    seen_agent_action = False
    for index, (e, ts) in enumerate(zip(history, stamps, strict=True)):
        key = ("event", e.get("id", f"#{index}"))
        if "action" in e:
            action = str(e.get("action") or "")
            source_of = e.get("source")
            if source_of is None:
                source_of = "agent" if seen_agent_action or action != "message" else "user"
            if action in _SKIPPED_ACTIONS or source_of == "environment":
                continue
            if source_of == "user":
                add("user_message", key, ts, turn_index=turn + 1)
                continue
            seen_agent_action = True
            rid = response_id(e)
            if rid is not None and rid in position:
                emit_calls(position[rid] + 1, ts)
            elif source == "costs":  # one call per agent action, while the record has calls
                emit_calls(min(emitted + 1, len(calls)), ts)
            current = max(turn, 0)
            if action == "message":
                add("agent_message", key, ts, turn_index=current, agent_id=agent_id)
                continue
            meta = (
                e.get("tool_call_metadata") if isinstance(e.get("tool_call_metadata"), dict) else {}
            )
            assert isinstance(meta, dict)
            row = add(
                "tool_call",
                key,
                ts,
                turn_index=current,
                agent_id=agent_id,
                tool_name=meta.get("function_name") or action,
                request_id=meta.get("tool_call_id"),
                payload=dumps({"action": action, "arguments": _arguments(e)}),
            )
            tools[index] = row
            if e.get("id") is not None:
                by_event_id[e["id"]] = index
            last_tool = index
        elif "observation" in e:
            observation = str(e.get("observation") or "")
            if observation in _SKIPPED_OBSERVATIONS:
                continue
            cause = e.get("cause")
            target = by_event_id.get(cause) if cause is not None else None
            if target is None and cause is None and not e.get("source"):
                target = last_tool  # old schema: the observation follows its action
            row_or_none = tools.get(target) if target is not None else None
            code = _exit_code(e) if observation == "run" else None
            failed = observation == "error" or (code is not None and code != 0)
            if row_or_none is None:
                if observation == "error":
                    # a response whose tool call was invalid produced no action, only this error
                    if emitted < len(calls) and calls[emitted].key not in acted:
                        emit_calls(emitted + 1, ts)
                    add(
                        "error",
                        key,
                        ts,
                        turn_index=max(turn, 0),
                        error_type="tool_error",
                        payload=dumps({"message": clip(str(e.get("content") or e.get("message")))}),
                    )
                continue
            row = row_or_none
            if not synthetic:
                row["tool_latency_ms"] = non_negative((ts - row["ts"]).total_seconds() * 1000)
            if failed:
                row["error_type"] = "tool_error" if observation == "error" else "exit_code"
                row["error_code"] = None if code is None else str(code)
                message = clip(str(e.get("content") or e.get("message") or ""))
                row["payload"] = dumps({**json.loads(row["payload"]), "message": message})
            if target is not None and target == last_tool:
                last_tool = None

    end = max([start, *stamps]) if stamps else start
    emit_calls(len(calls), end)

    error = record.get("error")
    if error not in (None, "", "None"):
        text = str(error)
        match = _ERROR_PREFIX.match(text)
        add(
            "error",
            ("record_error",),
            end,
            agent_id=agent_id,
            error_type=match.group(1) if match else "agent_error",
            payload=dumps({"message": clip(text)}),
        )
    result = _eval(record, session_id)
    if result is not None:
        add("eval_result", ("eval_result",), end, model=default_model, payload=dumps(result))
    status = "failure" if error not in (None, "", "None") else "success"
    add("session_end", ("session_end",), end, agent_id=agent_id, payload=dumps({"status": status}))
    yield from rows


def _eval(record: dict[str, Any], session_id: str) -> dict[str, Any] | None:
    success = record.get("success")
    if isinstance(success, str) and success in ("True", "False"):
        success = success == "True"
    issue = record.get("issue")
    if isinstance(success, bool):
        task = (
            f"{issue.get('owner')}/{issue.get('repo')}#{issue.get('number')}"
            if isinstance(issue, dict)
            else session_id
        )
        return {
            "benchmark": "openhands-resolver",
            "task_id": task,
            "run_id": None,
            "passed": success,
            "score": 1.0 if success else 0.0,
        }
    test_result = record.get("test_result") if isinstance(record.get("test_result"), dict) else {}
    assert isinstance(test_result, dict)
    report = test_result.get("report") if isinstance(test_result.get("report"), dict) else None
    if report is not None and isinstance(report.get("resolved"), bool):
        metadata = record.get("metadata") or {}
        resolved = report["resolved"]
        return {
            "benchmark": metadata.get("dataset") or "openhands",
            "task_id": str(record.get("instance_id")),
            "run_id": metadata.get("start_time"),
            "passed": resolved,
            "score": 1.0 if resolved else 0.0,
        }
    return None
