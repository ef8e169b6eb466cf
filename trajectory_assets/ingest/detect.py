"""Which importer reads a file, decided from its content (the name alone says too little: every
format here but `.eval` and `.traj` is `.json` or `.jsonl`).

`sniff(path)` returns a `Detection`: the format, or none with the reason, and whether the file is
broken rather than foreign. A file that is no log of a known format (an Inspect eval-set's
`logs.json`, `eval-set.json`, `.eval-set-id`, a README, a predictions file) is skipped; a file
that looks like a log but cannot be read (invalid JSON in a log's place, a ZIP without an
Inspect header) is a failure, so a damaged log is reported instead of silently passed over.
When a broken file still shows which format it was meant to be (its keys are visible in the
text), that format is returned and its importer reports the exact problem.
"""

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import read_bytes
from trajectory_assets.ingest.importers import (
    claude_code,
    codex,
    inspect,
    jsonl,
    openhands,
    otel,
    swe_agent,
    tau_bench,
)

JSONL_SAMPLE_LINES = 50
DATA_SUFFIXES = (".json", ".jsonl", ".ndjson", ".eval", ".traj")

_CODEX_LINES = frozenset({"session_meta", "turn_context", "response_item", "event_msg"})
_CLAUDE_LINES = frozenset({"user", "assistant", "system"})
_RAW_EVENT_KEYS = frozenset({"event_id", "session_id", "event_type"})
# what a broken document of each format still shows in its text, most specific first
_HINTS = (
    ('"resourceSpans"', "otel"),
    ('"trace_id"', "otel"),
    ('"traceId"', "otel"),
    ('"sessionId"', "claude-code"),
    ('"session_meta"', "codex"),
    ('"trajectory"', "swe-agent"),
    ('"traj"', "tau-bench"),
    ('"history"', "openhands"),
    ('"eval"', "inspect"),
)


@dataclass(frozen=True)
class Detection:
    format: str | None
    reason: str
    broken: bool = False  # looks like a log but cannot be read: a failure, not a skip


def sniff(path: str | Path) -> Detection:
    try:
        data = read_bytes(path)
    except UnparseableFileError as exc:
        return Detection(None, str(exc), broken=True)
    except OSError as exc:
        return Detection(None, f"cannot read: {exc.strerror or exc}", broken=True)
    if data[:2] == b"PK":
        return _zip(path, data)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return Detection(None, "binary, not a log")
    stripped = text.lstrip()
    if not stripped:
        return Detection(None, "empty file")
    if stripped[0] not in "{[":
        return Detection(None, "not JSON")
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as whole:
        lines = _json_lines(text)
        if lines:
            return _classify_lines(lines)
        if isinstance(whole, RecursionError):
            return _broken(path, text, "JSON nested too deeply")
        return _broken(path, text, f"invalid JSON at line {whole.lineno}: {whole.msg}")
    lines = [doc] if isinstance(doc, dict) else []
    found = _classify_document(doc)
    if found.format is None and lines:
        by_line = _classify_lines(lines)
        return by_line if by_line.format else found
    return found


def _broken(path: str | Path, text: str, reason: str) -> Detection:
    for needle, fmt in _HINTS:
        if needle in text:
            return Detection(fmt, f"looks like {fmt}, but {reason}", broken=True)
    if str(path).removesuffix(".gz").endswith(DATA_SUFFIXES):
        return Detection(None, reason, broken=True)
    return Detection(None, f"not a log ({reason})")


def _zip(path: str | Path, data: bytes) -> Detection:
    import io

    try:
        names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
    except zipfile.BadZipFile as exc:
        if str(path).endswith(".eval"):
            return Detection(inspect.FORMAT, f"an Inspect log that is not a readable ZIP: {exc}")
        return Detection(None, f"a damaged ZIP archive: {exc}", broken=True)
    if "header.json" in names or "_journal/start.json" in names:
        return Detection(inspect.FORMAT, "a ZIP with an Inspect log header")
    if str(path).endswith(".eval"):
        return Detection(None, "a .eval ZIP without header.json", broken=True)
    return Detection(None, "a ZIP archive, not a log")


def _json_lines(text: str) -> list[dict[str, Any]]:
    """The first JSON objects of a JSON Lines file (empty when the first line is no object)."""
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            if not out:
                return []
            continue  # a bad line further down is the importer's to report
        if isinstance(obj, dict):
            out.append(obj)
        elif not out:
            return []
        if len(out) >= JSONL_SAMPLE_LINES:
            break
    return out


def _classify_lines(lines: list[dict[str, Any]]) -> Detection:
    for obj in lines:
        kind = obj.get("type")
        if kind in _CODEX_LINES and isinstance(obj.get("payload"), dict):
            return Detection(codex.FORMAT, "JSON Lines of a Codex rollout")
        if kind in _CLAUDE_LINES and obj.get("sessionId"):
            return Detection(claude_code.FORMAT, "JSON Lines of a Claude Code transcript")
        if set(obj) >= _RAW_EVENT_KEYS:
            return Detection(jsonl.FORMAT, "JSON Lines of Tier A raw events")
        if isinstance(obj.get("history"), list):
            return Detection(openhands.FORMAT, "JSON Lines of OpenHands records")
        if _is_spans(obj):
            return Detection(otel.FORMAT, "JSON Lines of OpenTelemetry spans")
    keys = sorted({k for obj in lines for k in obj})[:8]
    return Detection(None, f"JSON Lines, but no log of a known format (keys: {', '.join(keys)})")


def _is_spans(doc: Any) -> bool:
    if isinstance(doc, dict):
        if "resourceSpans" in doc or isinstance(doc.get("spans"), list):
            return True
        context = doc.get("context")
        in_context = isinstance(context, dict) and "trace_id" in context
        return in_context or ("traceId" in doc and "spanId" in doc)
    return False


def _chat_messages(history: list[Any]) -> bool:
    """SWE-agent's history is chat messages (`role`); OpenHands' is actions and observations."""
    entries = [h for h in history if isinstance(h, dict)]
    return bool(entries) and all("role" in h for h in entries)


def _classify_document(doc: Any) -> Detection:
    if isinstance(doc, dict):
        return _classify_object(doc)
    if isinstance(doc, list):
        items = [d for d in doc if isinstance(d, dict)]
        if not items or len(items) != len(doc):
            return Detection(None, "a JSON list, but not of log records")
        if all("task_id" in d and isinstance(d.get("traj"), list) for d in items):
            return Detection(tau_bench.FORMAT, "a list of τ-bench runs")
        if all(isinstance(d.get("history"), list) for d in items):
            return Detection(openhands.FORMAT, "a list of OpenHands records")
        if all("action" in d or "observation" in d for d in items):
            return Detection(openhands.FORMAT, "an OpenHands event list")
        if all(_is_spans(d) for d in items):
            return Detection(otel.FORMAT, "a list of OpenTelemetry spans")
        return Detection(None, "a JSON list, but not of log records of a known format")
    return Detection(None, "JSON, but not an object or a list")


def _classify_object(doc: dict[str, Any]) -> Detection:
    spec = doc.get("eval")
    if isinstance(spec, dict) and ("run_id" in spec or "task" in spec):
        return Detection(inspect.FORMAT, "an Inspect log")
    if _is_spans(doc):
        return Detection(otel.FORMAT, "OpenTelemetry spans")
    history = doc.get("history")
    if isinstance(doc.get("trajectory"), list) or (
        isinstance(history, list) and _chat_messages(history)
    ):
        return Detection(swe_agent.FORMAT, "a SWE-agent trajectory")
    if isinstance(history, list):
        return Detection(openhands.FORMAT, "an OpenHands record")
    if doc and all(isinstance(v, dict) and isinstance(v.get("eval"), dict) for v in doc.values()):
        return Detection(None, "an Inspect eval-set listing of log headers (logs.json), not a log")
    if "eval_set_id" in doc:
        return Detection(None, "an Inspect eval-set manifest (eval-set.json), not a log")
    keys = ", ".join(sorted(doc)[:8])
    return Detection(None, f"JSON, but no log of a known format (keys: {keys})")
