"""τ-bench result files (a JSON list of runs) → raw events; one session per run.

A run is `{task_id, trial, reward, info{task, user_cost, reward_info}, traj[OpenAI chat
messages]}`. The files record no times and no token counts, so times are synthesized: every
session starts at 1970-01-01T00:00:00Z and each event is one second after the previous one, in
message order (seq is the same order).

Mapping
- session id: `<file stem>:<task_id>:<trial>` (the stem names the agent model and the domain,
  `gpt-4o-airline`); model and domain come from the stem's `<model>-<domain>` form.
- turns: a user message opens the next turn (0-based); the agent's messages and tool calls until
  the next user message belong to it. System messages give no event.
- each assistant message is one `llm_call` (no tokens or latency in the file), plus an
  `agent_message` when it has text; each of its `tool_calls` is a `tool_call`, completed by the
  tool message with the same `tool_call_id`. τ-bench tools report failures as text starting with
  `Error:` (the environment catches the exception), so such a result makes the tool_call an error
  (`tool_error`).
- `reward` → `eval_result`: benchmark `tau-bench-<domain>`, task_id, run_id = the file stem,
  passed = reward ≥ 1, score = reward. Status `success` (every run in the file completed; the
  outcome is the eval_result). `user_cost` (the simulated user's cost) is in the payload.
"""

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import (
    Row,
    base_name,
    clip,
    dumps,
    event,
    load_json,
    stable_id,
    to_float,
)
from trajectory_assets.ingest.times import synthetic_ts

FORMAT = "tau-bench"
SUFFIXES = (".json",)
DOMAINS = ("airline", "retail", "telecom")


def _model_domain(stem: str) -> tuple[str | None, str | None]:
    for domain in DOMAINS:
        if stem.endswith(f"-{domain}"):
            return stem[: -len(domain) - 1] or None, domain
    return None, None


def parse(path: str | Path) -> Iterator[Row]:
    doc = load_json(path)
    if not isinstance(doc, list) or not all(
        isinstance(r, dict) and "task_id" in r and isinstance(r.get("traj"), list) for r in doc
    ):
        raise UnparseableFileError(
            "not a τ-bench result file: expected a list of runs with task_id and traj"
        )
    stem = base_name(path)
    model, domain = _model_domain(stem)
    for run in doc:
        yield from _run_events(run, stem, model, domain)


def _run_events(
    run: dict[str, Any], stem: str, model: str | None, domain: str | None
) -> Iterator[Row]:
    task_id, trial = run["task_id"], run.get("trial", 0)
    session_id = f"{stem}:{task_id}:{trial}"
    rows: list[Row] = []

    def add(event_type: str, key: tuple[object, ...], **cols: Any) -> Row:
        row = event(
            event_type,
            event_id=stable_id(FORMAT, session_id, *key),
            session_id=session_id,
            ts=synthetic_ts(len(rows)),
            seq=len(rows),
            **cols,
        )
        rows.append(row)
        return row

    add("session_start", ("session_start",), payload=dumps({"task_id": task_id, "trial": trial}))
    turn = -1
    pending: dict[str, Row] = {}
    for index, message in enumerate(run["traj"]):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "user":
            turn += 1
            add("user_message", ("message", index), turn_index=turn)
        elif role == "assistant":
            current = max(turn, 0)
            add("llm_call", ("message", index, "llm_call"), turn_index=current, model=model)
            if message.get("content"):
                add("agent_message", ("message", index), turn_index=current, agent_id="agent")
            for position, call in enumerate(message.get("tool_calls") or []):
                function = (call.get("function") or {}) if isinstance(call, dict) else {}
                call_id = call.get("id") if isinstance(call, dict) else None
                row = add(
                    "tool_call",
                    ("message", index, "tool_call", position),
                    turn_index=current,
                    agent_id="agent",
                    tool_name=function.get("name"),
                    request_id=call_id,
                    payload=dumps({"arguments": function.get("arguments")}),
                )
                if call_id is not None:
                    pending[str(call_id)] = row
        elif role == "tool":
            row_or_none = pending.pop(str(message.get("tool_call_id")), None)
            content = message.get("content")
            if row_or_none is not None and isinstance(content, str) and content.startswith("Error"):
                row_or_none["error_type"] = "tool_error"
                details = json.loads(row_or_none["payload"])
                row_or_none["payload"] = dumps({**details, "message": clip(content)})
    reward = to_float(run.get("reward"))
    info = run.get("info") if isinstance(run.get("info"), dict) else {}
    assert isinstance(info, dict)
    add(
        "eval_result",
        ("eval_result",),
        model=model,
        payload=dumps(
            {
                "benchmark": f"tau-bench-{domain}" if domain else "tau-bench",
                "task_id": str(task_id),
                "run_id": stem,
                "passed": reward is not None and reward >= 1.0,
                "score": reward,
                "trial": trial,
            }
        ),
    )
    end: dict[str, Any] = {"status": "success"}
    if info.get("user_cost") is not None:
        end["user_cost_usd"] = to_float(info.get("user_cost"))
    add("session_end", ("session_end",), payload=dumps(end))
    yield from rows
