"""The public Claude Code and Codex CLI transcripts (format fixtures) and what each states, read
independently of the importers, as `tests.ingest.real` does for the other formats."""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.ingest.real import FIXTURES, Expected

CLAUDE_CODE = sorted((FIXTURES / "claude_code").glob("*.jsonl"))
CODEX = sorted((FIXTURES / "codex_cli").glob("*.jsonl"))


def _jsonl_objects(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(obj, dict):
            out.append(obj)
    return out


def _stamped(obj: dict[str, Any]) -> bool:
    try:
        datetime.fromisoformat(str(obj["timestamp"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return False
    return True


def expect_claude_code(paths: list[Path]) -> Expected:
    """Counted from the transcripts: one call per API response (message id + request id), not
    per line; a synthetic API-error message is an error, not a call; input tokens add Anthropic's
    cache reads and writes; each uuid counts once."""
    out = Expected()
    responses: dict[tuple[str, str, str], dict[str, Any]] = {}
    tools: set[tuple[str, str]] = set()
    seen: set[str] = set()
    for path in paths:
        for obj in _jsonl_objects(path):
            if obj.get("type") not in ("user", "assistant", "system") or not obj.get("sessionId"):
                continue
            uuid = str(obj.get("uuid"))
            if not _stamped(obj) or uuid in seen:
                continue
            message = obj.get("message")
            if not isinstance(message, dict):
                if obj["type"] != "system":
                    continue
                message = {}
            seen.add(uuid)
            session = obj["sessionId"]
            out.sessions.add(session)
            content = message.get("content")
            blocks = [b for b in content or [] if isinstance(b, dict)]
            blocks = blocks if isinstance(content, list) else []
            if obj["type"] == "system":
                out.errors += 1 if obj.get("level") == "error" else 0
            elif obj.get("isApiErrorMessage"):
                out.errors += 1
            elif obj["type"] == "assistant" and message.get("model") != "<synthetic>":
                key = (session, message.get("id") or obj["uuid"], obj.get("requestId") or "")
                responses.setdefault(key, message.get("usage") or {})
                tools |= {(session, b["id"]) for b in blocks if b.get("type") == "tool_use"}
            elif obj["type"] == "user":
                out.errors += sum(1 for b in blocks if b.get("is_error") is True)
    out.llm_calls = len(responses)
    out.tool_calls = len(tools)
    for usage in responses.values():
        reads = usage.get("cache_read_input_tokens", 0)
        out.input_tokens += usage.get("input_tokens", 0) + reads
        out.input_tokens += usage.get("cache_creation_input_tokens", 0)
        out.output_tokens += usage.get("output_tokens", 0)
        out.cache_tokens += reads
    return out


def expect_codex(paths: list[Path]) -> Expected:
    """Counted from the rollouts: token counts whose running totals moved are the calls (and
    the last totals the tokens); a rollout without counts has one call per run of model output
    between inputs. Tool calls are function calls; errors are non-zero exit codes and `error`
    events."""
    out = Expected()
    for path in paths:
        lines = [o for o in _jsonl_objects(path) if isinstance(o.get("payload"), dict)]
        meta = next(o["payload"] for o in lines if o.get("type") == "session_meta")
        out.sessions.add(meta["id"])
        totals: list[dict[str, int]] = []
        runs, in_run, failed_calls = 0, False, set()
        for o in lines:
            p = o["payload"]
            if o["type"] == "event_msg" and p.get("type") == "token_count" and p.get("info"):
                total = p["info"]["total_token_usage"]
                if not totals or total != totals[-1]:
                    totals.append(total)
                in_run = False
            elif o["type"] == "event_msg" and p.get("type") == "exec_command_end":
                if p.get("exit_code"):
                    failed_calls.add(p["call_id"])
            elif o["type"] == "event_msg" and p.get("type") == "error":
                out.errors += 1
            elif o["type"] == "response_item":
                output = p.get("type") in ("reasoning", "function_call") or (
                    p.get("type") == "message" and p.get("role") == "assistant"
                )
                if output and not in_run:
                    runs += 1
                in_run = output
                out.tool_calls += 1 if p.get("type") == "function_call" else 0
        out.llm_calls += len(totals) if totals else runs
        out.errors += len(failed_calls)
        if totals:
            out.input_tokens += totals[-1]["input_tokens"]
            out.cache_tokens += totals[-1]["cached_input_tokens"]
            out.output_tokens += totals[-1]["output_tokens"]
    return out
