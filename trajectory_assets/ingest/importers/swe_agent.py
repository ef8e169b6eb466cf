"""SWE-agent `.traj` files → raw events; one session per file.

The format records no time at all, so times are synthesized: the session starts at
1970-01-01T00:00:00Z and each event is one second after the previous one, plus the step's
`execution_time` where the file has it, in file order. Event order (seq) is file order.

Mapping
- session id: `<instance id>:<hash of the file's content>` (the instance id is the file name's
  stem; the content hash keeps the many runs of one instance apart, and is the same wherever
  the file is copied). agent_id: the history's `agent` (`main`).
- model: `replay_config.agent.model.name` when present, else the run folder's prefix in
  SWE-agent's naming (`<model>__<dataset>__<config>…`), else none.
- each `trajectory[]` step is a turn (0-based): an `llm_call` (when the model made calls, see
  below), an `agent_message` with the thought when there is one, and a `tool_call` for the action
  (tool name = the action's first word: `open`, `edit`, `find_file`, `submit`, `python3`, …;
  tool latency = `execution_time`; the whole action is the payload's `arguments`, which the loop
  columns compare: `curl` of another URL is no repeat). Files without `trajectory` (history
  only) take their steps from the history's assistant messages that carry an `action`.
- `info.model_stats.api_calls` is the number of llm_calls: one per step for the first
  `api_calls` steps, any extra calls at the end of the last turn. Human demonstrations state 0
  calls and get none. The file states tokens only per run (`tokens_sent`, `tokens_received`), so
  llm_calls carry no tokens and the run totals ride on `session_end`: session sums equal the
  file, per-turn tokens stay unknown. `instance_cost` goes in the payload.
- `info.exit_status` `submitted` → status `success`; anything else (`exit_cost`,
  `exit_format`, `submitted (exit_context)`, …) → an `error` event of that type and status
  `failure`. There is no resolved flag, so no eval_result.
"""

import datetime as dt
import json
import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import (
    Row,
    base_name,
    content_id,
    decoded,
    dumps,
    event,
    non_negative,
    parsed_json,
    read_bytes,
    stable_id,
    to_float,
    to_int,
)
from trajectory_assets.ingest.times import synthetic_ts

FORMAT = "swe-agent"
SUFFIXES = (".traj",)


def _model(doc: dict[str, Any], path: Path) -> str | None:
    replay = doc.get("replay_config")
    if isinstance(replay, str):
        try:
            replay = json.loads(replay)
        except json.JSONDecodeError:
            replay = None
    if isinstance(replay, dict):
        name = ((replay.get("agent") or {}).get("model") or {}).get("name")
        if name:
            return str(name)
    run_folder = posixpath.basename(str(path.parent))
    if "__" in run_folder:
        return run_folder.split("__", 1)[0]
    return None


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    steps = doc.get("trajectory")
    if isinstance(steps, list):
        return [s for s in steps if isinstance(s, dict)]
    history = doc.get("history")
    if isinstance(history, list):
        return [
            {"action": h.get("action"), "thought": h.get("thought")}
            for h in history
            if isinstance(h, dict) and h.get("role") == "assistant" and h.get("action")
        ]
    raise UnparseableFileError("not a SWE-agent trajectory: no 'trajectory' or 'history' list")


def _tool_name(action: str) -> str | None:
    words = action.strip().split()
    return words[0] if words else None


def parse(path: str | Path) -> Iterator[Row]:
    path = Path(path)
    data = read_bytes(path)
    doc = parsed_json(decoded(data))
    if not isinstance(doc, dict):
        raise UnparseableFileError("not a SWE-agent trajectory: the document is not an object")
    steps = _steps(doc)
    info = doc.get("info") if isinstance(doc.get("info"), dict) else {}
    assert isinstance(info, dict)
    stats = info.get("model_stats") if isinstance(info.get("model_stats"), dict) else {}
    assert isinstance(stats, dict)
    instance = base_name(path)
    session_id = f"{instance}:{content_id(data)}"
    model = _model(doc, path)
    agent = next(
        (
            h.get("agent")
            for h in doc.get("history") or []
            if isinstance(h, dict) and h.get("agent")
        ),
        None,
    )
    api_calls = to_int(stats.get("api_calls"))
    n_calls = api_calls if api_calls is not None else len(steps)

    rows: list[Row] = []
    clock = 0.0

    def add(event_type: str, key: tuple[object, ...], **cols: Any) -> Row:
        ts = synthetic_ts(0) + dt.timedelta(seconds=clock)
        row = event(
            event_type,
            event_id=stable_id(FORMAT, session_id, *key),
            session_id=session_id,
            ts=ts,
            seq=len(rows),
            agent_id=agent,
            **cols,
        )
        rows.append(row)
        return row

    add("session_start", ("session_start",), payload=dumps({"instance": instance}))
    for index, step in enumerate(steps):
        clock += 1
        if index < n_calls:
            add("llm_call", ("llm_call", index), turn_index=index, model=model)
        thought = step.get("thought")
        if thought:
            add("agent_message", ("thought", index), turn_index=index)
        action = str(step.get("action") or "")
        if action.strip():
            latency = to_float(step.get("execution_time"))
            add(
                "tool_call",
                ("action", index),
                turn_index=index,
                tool_name=_tool_name(action),
                tool_latency_ms=non_negative(latency * 1000) if latency is not None else None,
                payload=dumps({"arguments": action}),
            )
            clock += latency or 0.0
    last_turn = max(len(steps) - 1, 0)
    for extra in range(len(steps), n_calls):
        clock += 1
        add(
            "llm_call",
            ("llm_call", extra),
            turn_index=last_turn,
            model=model,
            payload=dumps({"note": "api call not matched to a step"}),
        )
    clock += 1
    exit_status = info.get("exit_status")
    failed = exit_status is not None and exit_status != "submitted"
    if failed:
        add(
            "error",
            ("exit_status",),
            turn_index=last_turn if steps else None,
            error_type=str(exit_status),
            payload=dumps({"message": f"exit status {exit_status}"}),
        )
    end_payload: dict[str, Any] = {"status": "failure" if failed else "success"}
    if exit_status is not None:
        end_payload["exit_status"] = exit_status
    cost = stats.get("instance_cost")
    if cost is not None:
        end_payload["cost_usd"] = to_float(cost)
    add(
        "session_end",
        ("session_end",),
        input_tokens=to_int(stats.get("tokens_sent")),
        output_tokens=to_int(stats.get("tokens_received")),
        payload=dumps(end_payload),
    )
    yield from rows
