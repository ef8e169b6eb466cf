"""Inspect AI eval logs (`.eval` ZIP or `.json`) → raw events; one session per sample and epoch.

Reading (`inspect_log`): `.eval` is a ZIP with `header.json` and `samples/<id>_epoch_<n>.json`,
`.json` the same log as one document. Sample events are `sample.events` (2025 on) or
`sample.transcript.events` (2024 logs); spans are `span_begin`/`span_end` (2025 on) or `step`
begin/end events (2024).

Mapping
- session id: `<run_id>:<task_id>:<sample id>:<epoch>`; both encodings of one log give the same
  sessions and event ids (ids hash run, task, sample, epoch and the event's position).
- `model` event → `llm_call`: model, `output.usage` input/output tokens, `input_tokens_cache_read`
  as cache_tokens, latency `output.time` (else `working_time`, else completed - timestamp). A
  model event with an `error` is an llm_call with error_type (the exception class when the text
  looks like `Name(...)`, else `model_error`). Calls made inside a scorer span (model-graded
  scorers) are llm_calls with agent_id `scorer` and no turn: their tokens are part of the
  sample's usage but they are not a step of the agent.
- tokens: Tier A counts cached tokens in `input_tokens`. Inspect keeps each provider's own
  convention: OpenAI's input includes cache reads (total = input + output), Anthropic's does not
  (total = input + cache writes + cache reads + output). The stated total tells them apart and
  Anthropic-style counts are added up (`common.input_with_cache`); cache writes go in the payload.
- retries: Inspect writes every attempt of a generate call as a `model` event. Attempts share a
  `call_id` (recent Inspect; the last `attempt` is the call) or, in older logs, the failed
  attempts come after the event of the call that retried them and inside its time span (it
  started first). A call counts once: its failed attempts are `error` events (error type as
  above, the model, payload `retry_of` = the call's event position), in the turn of the call,
  and they open no turn. Failed model events that nothing retried stay failed llm_calls.
- `tool` event → `tool_call`: `function`, latency `working_time` (else completed - timestamp),
  `error.type` as error_type. `error` event → `error`. `input` event → `user_message`.
- turns: each agent model call opens the next turn (0-based); tool calls and errors belong to
  the turn of the model call before them.
- sample `error` → an `error` event (`sample_error`) and session status `failure`; each entry of
  `error_retries` → an `error` event (`sample_retry`). Otherwise status `success` (the run
  completed; whether it was correct is the eval_result).
- scores → one `eval_result` per sample: the first scorer (in the log's scorer order).
  score = Inspect's value_to_float (C=1, P=0.5, I=N=0, yes/true=1, no/false=0, numbers as is);
  passed = score ≥ 1. benchmark = task name, task_id = sample id, run_id = the log's run_id,
  model = the eval's model. A sample that failed with an error before it was scored, in an
  eval with scorers, is an attempt all the same: its eval_result has no verdict (`passed` and
  `score` null, `unscored: "sample_error"`), so pass rates count it as not passed and
  `error_session_rate` counts it (Inspect's own accuracy leaves it out: it is pass_rate over
  the scored attempts). Other samples without scores (an eval without scorers) get none.
  An eval that did not finish (status cancelled, error or started) holds the samples that ran:
  the import says so, and their eval_results carry `eval_status`.
- A sample without events (hand-made or trimmed logs) falls back to what the sample states:
  one llm_call per model of `model_usage` with its totals, and one tool_call per `tool`
  message (its `error.type` as error_type), at synthesized times 1 ms apart from the eval's
  `stats.started_at` (else `eval.created`).
"""

import contextlib
import datetime as dt
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import (
    LeftOut,
    Row,
    clip,
    dumps,
    event,
    non_negative,
    stable_id,
    to_float,
)
from trajectory_assets.ingest.importers.inspect_log import (
    finished,
    first_score,
    load,
    retried_attempts,
    unfinished,
    usage_tokens,
    value_to_float,
)
from trajectory_assets.ingest.times import EPOCH, parse_ts

FORMAT = "inspect"
SUFFIXES = (".eval", ".json")

_SCORER_SPANS = frozenset({"scorer", "scorers"})
_ERROR_CLASS = re.compile(r"^\s*([A-Za-z_][\w.]*)\(")


# ------------------------------------------------------------------------------------- mapping
def _ms(seconds: Any) -> float | None:
    value = to_float(seconds)
    return non_negative(value * 1000) if value is not None else None


def _between_ms(start: dt.datetime, end: Any) -> float | None:
    if not end:
        return None
    try:
        return non_negative((parse_ts(end) - start).total_seconds() * 1000)
    except ValueError:
        return None


def _error_class(text: str) -> str | None:
    match = _ERROR_CLASS.match(text)
    return match.group(1) if match else None


def _fallback_ts(header: dict[str, Any]) -> dt.datetime:
    for value in (
        (header.get("stats") or {}).get("started_at"),
        header["eval"].get("created"),
    ):
        if value:
            try:
                return parse_ts(value)
            except ValueError:
                continue
    return EPOCH


def parse(path: str | Path) -> Iterator[Row]:
    header, samples = load(path)
    for sample in samples:
        yield from _sample_events(header, sample)
    note = unfinished(header, len(samples))
    if note:
        warnings.warn(note, LeftOut, stacklevel=2)


def _sample_events(header: dict[str, Any], sample: dict[str, Any]) -> Iterator[Row]:
    spec = header["eval"]
    run_id, task_id = str(spec["run_id"]), str(spec["task_id"])
    sample_id, epoch = sample.get("id"), sample.get("epoch", 1)
    if sample_id is None:
        raise UnparseableFileError("a sample has no id")
    session_id = f"{run_id}:{task_id}:{sample_id}:{epoch}"
    model = spec.get("model")
    task = spec.get("task")

    def eid(*parts: object) -> str:
        return stable_id(FORMAT, run_id, task_id, sample_id, epoch, *parts)

    events = sample.get("events")
    if events is None and isinstance(sample.get("transcript"), dict):
        events = sample["transcript"].get("events")
    events = [e for e in events or [] if isinstance(e, dict)]

    base = _fallback_ts(header)
    stamps: list[dt.datetime] = []
    for e in events:
        try:
            stamps.append(parse_ts(e["timestamp"]))
        except (KeyError, ValueError, TypeError):
            stamps.append(stamps[-1] if stamps else base)
    start_ts = stamps[0] if stamps else base
    if sample.get("started_at"):
        with contextlib.suppress(ValueError, TypeError):
            start_ts = min(start_ts, parse_ts(sample["started_at"]))

    rows: list[Row] = []
    seq = 0

    def add(event_type: str, key: tuple[object, ...], ts: dt.datetime, **cols: Any) -> None:
        nonlocal seq
        rows.append(
            event(event_type, event_id=eid(*key), session_id=session_id, ts=ts, seq=seq, **cols)
        )
        seq += 1

    add(
        "session_start",
        ("session_start",),
        start_ts,
        payload=dumps({"task": task, "sample_id": sample_id, "epoch": epoch, "model": model}),
    )
    turn = -1
    retried = retried_attempts(events)
    stack: list[tuple[str, str, str]] = []  # (id, type, name) of open spans / steps
    for index, (e, ts) in enumerate(zip(events, stamps, strict=True)):
        kind = e.get("event")
        if kind == "span_begin":
            stack.append((str(e.get("id")), str(e.get("type") or ""), str(e.get("name") or "")))
            continue
        if kind == "span_end":
            span_id = str(e.get("id"))
            while stack:
                if stack.pop()[0] == span_id:
                    break
            continue
        if kind == "step":
            step = (str(e.get("name")), str(e.get("type") or ""), str(e.get("name") or ""))
            if e.get("action") == "begin":
                stack.append(step)
            elif stack:
                for position in range(len(stack) - 1, -1, -1):
                    if stack[position][0] == step[0]:
                        del stack[position:]
                        break
            continue
        scoring = any(t in _SCORER_SPANS for _, t, _ in stack)
        agent = next((n for _, t, n in reversed(stack) if t in ("agent", "solver")), None)
        if kind == "model" and index in retried:
            text = str(e.get("error"))
            add(
                "error",
                ("event", index),
                ts,
                turn_index=None if scoring else turn + 1,
                agent_id="scorer" if scoring else agent,
                model=e.get("model") or model,
                error_type=_error_class(text) or "model_error",
                payload=dumps({"message": clip(text), "retry_of": retried[index]}),
            )
        elif kind == "model":
            output = e.get("output") or {}
            input_tokens, output_tokens, cache_tokens, notes = usage_tokens(
                output.get("usage") or {}
            )
            error = e.get("error")
            latency = _ms(output.get("time")) or _ms(e.get("working_time"))
            if latency is None:
                latency = _between_ms(ts, e.get("completed"))
            if not scoring:
                turn += 1
            payload: dict[str, Any] = {"role": "scorer" if scoring else "agent", **notes}
            if output.get("model"):
                payload["response_model"] = output["model"]
            if error:
                payload["message"] = clip(str(error))
            retries = sum(1 for final in retried.values() if final == index)
            if retries:
                payload["retries"] = retries
            add(
                "llm_call",
                ("event", index),
                ts,
                turn_index=None if scoring else turn,
                agent_id="scorer" if scoring else agent,
                model=e.get("model") or model,
                latency_ms=latency,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                cache_tokens=cache_tokens,
                error_type=(_error_class(str(error)) or "model_error") if error else None,
                payload=dumps(payload),
            )
        elif kind == "tool":
            error = e.get("error") if isinstance(e.get("error"), dict) else None
            latency = _ms(e.get("working_time"))
            if latency is None:
                latency = _between_ms(ts, e.get("completed"))
            tool_payload: dict[str, Any] = {"arguments": e.get("arguments")}
            if error:
                tool_payload["message"] = error.get("message")
            add(
                "tool_call",
                ("event", index),
                ts,
                turn_index=None if scoring else max(turn, 0),
                agent_id="scorer" if scoring else agent,
                tool_name=e.get("function"),
                request_id=e.get("id"),
                tool_latency_ms=latency,
                error_type=str(error.get("type") or "tool_error") if error else None,
                payload=dumps(tool_payload),
            )
        elif kind == "error":
            detail = e.get("error") or {}
            message = detail.get("message") if isinstance(detail, dict) else str(detail)
            add(
                "error",
                ("event", index),
                ts,
                turn_index=turn if turn >= 0 else None,
                error_type="sample_error",
                payload=dumps({"message": message}),
            )
        elif kind == "input":
            add("user_message", ("event", index), ts, turn_index=max(turn + 1, 0))

    if not events:
        rows.extend(_fallback_events(sample, session_id, eid, start_ts, seq))
        seq = len(rows)

    end_ts = max([start_ts, *stamps, *(r["ts"] for r in rows)])
    if sample.get("completed_at"):
        with contextlib.suppress(ValueError, TypeError):
            end_ts = max(end_ts, parse_ts(sample["completed_at"]))
    if stamps and events and events[-1].get("completed"):
        with contextlib.suppress(ValueError):
            end_ts = max(end_ts, parse_ts(events[-1]["completed"]))

    for number, retry in enumerate(sample.get("error_retries") or []):
        message = retry.get("message") if isinstance(retry, dict) else str(retry)
        add(
            "error",
            ("error_retry", number),
            end_ts,
            error_type="sample_retry",
            payload=dumps({"message": message}),
        )
    sample_error = sample.get("error")
    if sample_error:
        message = sample_error.get("message") if isinstance(sample_error, dict) else sample_error
        add(
            "error",
            ("sample_error",),
            end_ts,
            error_type="sample_error",
            payload=dumps({"message": message}),
        )
    scored = first_score(header, sample.get("scores") or {})
    verdict: dict[str, Any] | None = None
    if scored is not None:
        scorer, score = scored
        value = value_to_float(score.get("value"))
        passed = value is not None and value >= 1.0
        verdict = {"passed": passed, "score": value, "scorer": scorer, "value": score.get("value")}
    elif sample_error and _scored_eval(header):  # an attempt all the same
        verdict = {"passed": None, "score": None, "unscored": "sample_error"}
    if verdict is not None:
        result = {"benchmark": task, "task_id": str(sample_id), "run_id": run_id, **verdict}
        if not finished(header):
            result["eval_status"] = header["status"]
        add(
            "eval_result",
            ("eval_result",),
            end_ts,
            model=model,
            payload=dumps(result | {"epoch": epoch}),
        )
    end_payload: dict[str, Any] = {"status": "failure" if sample_error else "success"}
    if sample.get("limit"):
        end_payload["limit"] = sample["limit"]
    add("session_end", ("session_end",), end_ts, payload=dumps(end_payload))
    yield from rows


def _scored_eval(header: dict[str, Any]) -> bool:
    """The eval grades its samples: its spec names scorers (2025 on) or its results do."""
    results = header.get("results")
    scores = results.get("scores") if isinstance(results, dict) else None
    return bool(header["eval"].get("scorers") or scores)


def _fallback_events(
    sample: dict[str, Any], session_id: str, eid: Any, start: dt.datetime, seq: int
) -> Iterator[Row]:
    """A sample without events: what its usage totals and tool messages state."""
    position = 0

    def ts() -> dt.datetime:
        return start + dt.timedelta(milliseconds=position + 1)

    for name, usage in (sample.get("model_usage") or {}).items():
        if not isinstance(usage, dict):
            continue
        input_tokens, output_tokens, cache_tokens, notes = usage_tokens(usage)
        yield event(
            "llm_call",
            event_id=eid("model_usage", name),
            session_id=session_id,
            ts=ts(),
            seq=seq + position,
            turn_index=0,
            model=name,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_tokens=cache_tokens,
            payload=dumps({"derived_from": "model_usage", **notes}),
        )
        position += 1
    for index, message in enumerate(sample.get("messages") or []):
        if not isinstance(message, dict) or message.get("role") != "tool":
            continue
        error = message.get("error") if isinstance(message.get("error"), dict) else None
        yield event(
            "tool_call",
            event_id=eid("message", index),
            session_id=session_id,
            ts=ts(),
            seq=seq + position,
            turn_index=0,
            tool_name=message.get("function"),
            request_id=message.get("tool_call_id"),
            error_type=str(error.get("type") or "tool_error") if error else None,
            payload=dumps({"derived_from": "messages", "message": error.get("message")})
            if error
            else dumps({"derived_from": "messages"}),
        )
        position += 1
