"""The LLM calls of an OpenHands record, from the most precise source it has (see `openhands`).

Kept apart from the event mapping: which responses a record made, with what tokens and
latency, is the part that must count each call once.
"""

from typing import Any

from trajectory_assets.ingest.common import input_with_cache, non_negative, to_float, to_int


def usage_tokens(
    usage: dict[str, Any],
) -> tuple[int | None, int | None, int | None, int | None]:
    """(input with cache, output, cache reads, cache writes) of a LiteLLM usage."""
    details = usage.get("prompt_tokens_details") or {}
    cache = usage.get("cache_read_input_tokens")
    if cache is None and isinstance(details, dict):
        cache = details.get("cached_tokens")
    output = to_int(usage.get("completion_tokens"))
    writes = to_int(usage.get("cache_creation_input_tokens"))
    prompt, _added = input_with_cache(
        to_int(usage.get("prompt_tokens")),
        to_int(cache),
        writes,
        output_tokens=output,
        total_tokens=to_int(usage.get("total_tokens")),
    )
    return prompt, output, to_int(cache), writes


class Call:
    __slots__ = ("cache", "cost", "input", "key", "latency_ms", "model", "output", "writes")

    def __init__(self, key: str, model: Any = None) -> None:
        self.key = key
        self.model: str | None = None if model is None else str(model)
        self.input: int | None = None
        self.output: int | None = None
        self.cache: int | None = None
        self.writes: int | None = None  # cache writes, counted in `input` too
        self.latency_ms: float | None = None
        self.cost: float | None = None


def calls_of(record: dict[str, Any], history: list[dict[str, Any]]) -> tuple[list[Call], str]:
    """The record's LLM calls in order, and which source they came from."""
    metrics = record.get("metrics") if isinstance(record.get("metrics"), dict) else {}
    assert isinstance(metrics, dict)
    latencies = [x for x in metrics.get("response_latencies") or [] if isinstance(x, dict)]
    usages = [x for x in metrics.get("token_usages") or [] if isinstance(x, dict)]
    if latencies or usages:
        calls: dict[str, Call] = {}

        def call_of(item: dict[str, Any], kind: str, index: int) -> Call:
            # entries without a response id cannot be joined: each is a call of its own
            rid = str(item.get("response_id") or f"{kind}#{index}")
            return calls.setdefault(rid, Call(rid, item.get("model")))

        for index, item in enumerate(latencies):
            seconds = to_float(item.get("latency"))
            call_of(item, "latency", index).latency_ms = (
                None if seconds is None else non_negative(seconds * 1000)
            )
        for index, item in enumerate(usages):
            call = call_of(item, "usage", index)
            call.output = to_int(item.get("completion_tokens"))
            call.cache = to_int(item.get("cache_read_tokens"))
            call.writes = to_int(item.get("cache_write_tokens"))
            call.input, _added = input_with_cache(
                to_int(item.get("prompt_tokens")), call.cache, call.writes
            )
        return list(calls.values()), "metrics"
    responses: dict[str, Call] = {}
    for e in history:
        meta = e.get("tool_call_metadata")
        if "action" not in e or not isinstance(meta, dict):
            continue
        response = meta.get("model_response") or {}
        response_id = response.get("id")
        if response_id is None or str(response_id) in responses:
            continue
        call = Call(str(response_id), response.get("model"))
        call.input, call.output, call.cache, call.writes = usage_tokens(response.get("usage") or {})
        responses[str(response_id)] = call
    if responses:
        return list(responses.values()), "model_response"
    costs = metrics.get("costs") or []
    out = []
    for index, cost in enumerate(costs):
        call = Call(f"cost#{index}")
        call.cost = to_float(cost.get("cost") if isinstance(cost, dict) else cost)
        out.append(call)
    return out, "costs"


def response_id(e: dict[str, Any]) -> str | None:
    meta = e.get("tool_call_metadata")
    if isinstance(meta, dict):
        rid = (meta.get("model_response") or {}).get("id")
        return None if rid is None else str(rid)
    return None
