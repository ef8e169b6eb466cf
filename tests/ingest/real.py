"""The real fixture files and what each one states, read independently of the importers.

Each `expect_<format>` parses the source files with plain `json`/`zipfile` and a few lines of
counting, deliberately without the importers' helpers, so a mapping bug in an importer shows up
as a disagreement with the source instead of being repeated on both sides. Where a file states
totals itself (OpenHands `accumulated_token_usage`, SWE-agent `model_stats`, Inspect
`stats.model_usage`), those totals are what is compared.
"""

import gzip
import io
import itertools
import json
import struct
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "real"

OTEL = sorted((FIXTURES / "any_agent_otel" / "traces").rglob("*.json"))
OTEL_BROKEN = sorted((FIXTURES / "any_agent_otel" / "malformed_merge_conflict").rglob("*.json"))
INSPECT = sorted((FIXTURES / "inspect_ai" / "logs").rglob("*.eval")) + sorted(
    (FIXTURES / "inspect_ai" / "logs").rglob("*.json")
)
INSPECT_EDGE = sorted((FIXTURES / "inspect_ai" / "edge_cases").rglob("*.*"))
OPENHANDS = sorted((FIXTURES / "openhands").rglob("*.json*"))
SWE_AGENT = sorted((FIXTURES / "swe_agent").rglob("*.traj"))
TAU_BENCH = sorted((FIXTURES / "tau_bench").rglob("*.json.gz"))


@dataclass
class Expected:
    """What the source files state, in Tier A terms."""

    sessions: set[str] = field(default_factory=set)  # source identities, one per session
    llm_calls: int = 0
    tool_calls: int = 0
    errors: int = 0
    eval_results: int = 0
    passed: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_tokens: int = 0
    longest_repeat: int = 0  # of one action (the same tool, the same arguments) in a row

    def add(self, other: "Expected") -> None:
        self.longest_repeat = max(self.longest_repeat, other.longest_repeat)
        for name in (
            "llm_calls",
            "tool_calls",
            "errors",
            "eval_results",
            "passed",
            "input_tokens",
            "output_tokens",
            "cache_tokens",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.sessions |= other.sessions


def _json(path: Path) -> Any:
    data = path.read_bytes()
    if path.suffix == ".gz":
        data = gzip.decompress(data)
    return json.loads(data)


# ------------------------------------------------------------------------------------ otel
def expect_otel(paths: list[Path]) -> Expected:
    out = Expected()
    for path in paths:
        for span in _json(path)["spans"]:
            attrs = span["attributes"]
            out.sessions.add(str(span["context"]["trace_id"]))
            op = attrs.get("gen_ai.operation.name")
            kind = attrs.get("openinference.span.kind")
            if op == "call_llm" or (op is None and kind == "LLM"):
                out.llm_calls += 1
                prompt = attrs.get("gen_ai.usage.input_tokens", attrs.get("llm.token_count.prompt"))
                completion = attrs.get(
                    "gen_ai.usage.output_tokens", attrs.get("llm.token_count.completion")
                )
                cached = attrs.get("llm.token_count.prompt_details.cache_read", 0)
                out.input_tokens += int(prompt or 0)
                out.output_tokens += int(completion or 0)
                out.cache_tokens += int(cached or 0)
            elif op == "execute_tool" or (op is None and kind == "TOOL"):
                out.tool_calls += 1
            if span["status"]["status_code"] == "error":
                out.errors += 1
    return out


# --------------------------------------------------------------------------------- inspect
def _zip_entry(data: bytes, info: zipfile.ZipInfo, archive: zipfile.ZipFile) -> bytes:
    if info.compress_type != 93:
        return archive.read(info)
    import pyarrow as pa  # zstd entries: Python's zipfile cannot read them before 3.14

    name_len, extra_len = struct.unpack(
        "<HH", data[info.header_offset + 26 : info.header_offset + 30]
    )
    start = info.header_offset + 30 + name_len + extra_len
    blob = data[start : start + info.compress_size]
    return pa.Codec("zstd").decompress(blob, decompressed_size=info.file_size).to_pybytes()


def inspect_log(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    if path.suffix == ".json":
        doc = _json(path)
        return doc, doc.get("samples") or []
    data = path.read_bytes()
    archive = zipfile.ZipFile(io.BytesIO(data))
    entries = {i.filename: i for i in archive.infolist()}
    head = entries.get("header.json") or entries["_journal/start.json"]
    header = json.loads(_zip_entry(data, head, archive))
    samples = [
        json.loads(_zip_entry(data, info, archive))
        for name, info in entries.items()
        if name.startswith("samples/")
    ]
    return header, samples


def inspect_input(usage: dict[str, Any]) -> int:
    """Input tokens with cache reads and writes, Tier A's way. Inspect's Anthropic provider
    states its input without them (and a total that includes them); OpenAI's includes reads."""
    reads = usage.get("input_tokens_cache_read") or 0
    writes = usage.get("input_tokens_cache_write") or 0
    stated = usage.get("input_tokens", 0)
    apart = usage.get("total_tokens") == stated + usage.get("output_tokens", 0) + reads + writes
    return stated + reads + writes if apart and reads + writes else stated


def inspect_retried(events: list[dict[str, Any]]) -> set[int]:
    """Failed model events a later attempt of the same call retried: the same `call_id` as a
    later model event, or (older logs) lying inside the time span of the next successful model
    event of their span, which started before them."""
    models = [(i, e) for i, e in enumerate(events) if e["event"] == "model"]
    out: set[int] = set()
    for position, (i, e) in enumerate(models):
        if not e.get("error"):
            continue
        later = [f for _, f in models[position + 1 :]]
        if e.get("call_id") and any(f.get("call_id") == e["call_id"] for f in later):
            out.add(i)
        elif not e.get("call_id"):
            call = next((f for f in later if not f.get("error")), None)
            if (
                call is not None
                and call.get("span_id") == e.get("span_id")
                and call["timestamp"] <= e["timestamp"] <= call.get("completed", "")
            ):
                out.add(i)
    return out


def expect_inspect(paths: list[Path]) -> Expected:
    """Per sample (the same sample in two encodings of one log counts once); a model call
    retried after failed attempts is one call, each failed attempt one error."""
    per_sample: dict[str, Expected] = {}
    for path in paths:
        header, samples = inspect_log(path)
        for sample in samples:
            spec = header["eval"]
            key = f"{spec['run_id']}:{spec['task_id']}:{sample['id']}:{sample['epoch']}"
            one = Expected(sessions={key})
            events = sample.get("events")
            if events is None:
                events = (sample.get("transcript") or {}).get("events") or []
            retried = inspect_retried(events)
            for position, e in enumerate(events):
                if e["event"] == "model":
                    usage = (e.get("output") or {}).get("usage") or {}
                    one.llm_calls += 0 if position in retried else 1
                    one.errors += 1 if e.get("error") else 0
                    one.input_tokens += inspect_input(usage)
                    one.output_tokens += usage.get("output_tokens", 0)
                    one.cache_tokens += usage.get("input_tokens_cache_read") or 0
                elif e["event"] == "tool":
                    one.tool_calls += 1
                    one.errors += 1 if e.get("error") else 0
                elif e["event"] == "error":
                    one.errors += 1
            if not events:  # nothing but what the sample states
                for usage in (sample.get("model_usage") or {}).values():
                    one.llm_calls += 1
                    one.input_tokens += inspect_input(usage)
                    one.output_tokens += usage.get("output_tokens", 0)
                for message in sample.get("messages") or []:
                    if message.get("role") == "tool":
                        one.tool_calls += 1
                        one.errors += 1 if message.get("error") else 0
            one.errors += len(sample.get("error_retries") or []) + (1 if sample.get("error") else 0)
            scores = sample.get("scores") or {}
            if scores:
                one.eval_results += 1
                first = next(iter(scores.values()))
                one.passed += 1 if first.get("value") in ("C", 1, 1.0, True) else 0
            elif sample.get("error") and (
                spec.get("scorers") or (header.get("results") or {}).get("scores")
            ):
                one.eval_results += 1
            per_sample[key] = one
    out = Expected()
    for one in per_sample.values():
        out.add(one)
    return out


# ------------------------------------------------------------------------------- openhands
def _openhands_records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text()
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    doc = json.loads(text)
    return [{"history": doc, "_file": path.name}] if isinstance(doc, list) else [doc]


def expect_openhands(paths: list[Path]) -> Expected:
    out = Expected()
    for path in paths:
        for number, record in enumerate(_openhands_records(path)):
            one = Expected(sessions={f"{path}:{number}"})
            history = record["history"]
            metrics = record.get("metrics") or {}
            responses = {
                r["response_id"]
                for r in metrics.get("response_latencies", []) + metrics.get("token_usages", [])
            }
            acted: dict[str, dict[str, Any]] = {}
            for e in history:
                meta = e.get("tool_call_metadata")
                if "action" in e and meta:
                    acted.setdefault(meta["model_response"]["id"], meta["model_response"])
            if responses:
                one.llm_calls = len(responses)
                total = metrics["accumulated_token_usage"]
                one.input_tokens = total["prompt_tokens"]
                one.output_tokens = total["completion_tokens"]
                one.cache_tokens = total["cache_read_tokens"]
            elif acted:
                one.llm_calls = len(acted)
                for response in acted.values():
                    usage = response["usage"]
                    one.input_tokens += usage["prompt_tokens"]
                    one.output_tokens += usage["completion_tokens"]
                    one.cache_tokens += usage.get("cache_read_input_tokens") or (
                        usage.get("prompt_tokens_details") or {}
                    ).get("cached_tokens", 0)
            else:
                one.llm_calls = len(metrics.get("costs") or [])
            old_schema = not any("source" in e for e in history)
            for position, e in enumerate(history):
                action = e.get("action")
                if action is not None:
                    by_agent = e.get("source") == "agent" or (old_schema and position > 0)
                    if by_agent and action not in ("message", "system", "recall"):
                        one.tool_calls += 1
                observation = e.get("observation")
                if observation == "error":
                    one.errors += 1
                if observation == "run":
                    extras = e.get("extras") or {}
                    code = (extras.get("metadata") or {}).get("exit_code", e.get("exit_code"))
                    one.errors += 1 if code not in (None, 0) else 0
            one.errors += 1 if record.get("error") else 0
            if isinstance(record.get("success"), bool):
                one.eval_results += 1
                one.passed += 1 if record["success"] else 0
            out.add(one)
    return out


# ------------------------------------------------------------------------------- swe-agent
def expect_swe_agent(paths: list[Path]) -> Expected:
    out = Expected()
    for path in paths:
        doc = json.loads(path.read_text())
        one = Expected(sessions={str(path)})
        if "trajectory" in doc:
            actions = [s["action"] for s in doc["trajectory"]]
        else:
            actions = [h["action"] for h in doc["history"] if h["role"] == "assistant"]
        stats = (doc.get("info") or {}).get("model_stats")
        one.llm_calls = stats["api_calls"] if stats else len(actions)
        one.tool_calls = sum(1 for a in actions if a.strip())
        done = [a for a in actions if a.strip()]  # a blank action is no tool call
        one.longest_repeat = max((len(list(run)) for _, run in itertools.groupby(done)), default=0)
        if stats:
            one.input_tokens = stats["tokens_sent"]
            one.output_tokens = stats["tokens_received"]
        status = (doc.get("info") or {}).get("exit_status")
        one.errors = 1 if status not in (None, "submitted") else 0
        out.add(one)
    return out


# ------------------------------------------------------------------------------- tau-bench
def expect_tau_bench(paths: list[Path]) -> Expected:
    out = Expected()
    for path in paths:
        for run in _json(path):
            out.sessions.add(f"{path}:{run['task_id']}:{run['trial']}")
            for message in run["traj"]:
                if message["role"] == "assistant":
                    out.llm_calls += 1
                    out.tool_calls += len(message.get("tool_calls") or [])
                elif message["role"] == "tool" and message["content"].startswith("Error:"):
                    out.errors += 1
            out.eval_results += 1
            out.passed += 1 if run["reward"] == 1 else 0
    return out
