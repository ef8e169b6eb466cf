"""A receiver in a thread of this process, and what the tests post to it."""

import json
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.ingest.lakes import raw_events
from trajectory_assets.ingest.otlp import OtlpReceiver
from trajectory_assets.ingest.otlp_http import serve

FAST = {"settle_s": 0.2, "idle_s": 1.0}


@dataclass
class Running:
    """A receiver in a thread of this process, stopped through its `stop` event."""

    url: str
    lake: Path
    thread: threading.Thread
    event: threading.Event

    def stop(self) -> None:
        self.event.set()
        self.thread.join(60)
        assert not self.thread.is_alive()


def running_receiver(tmp_path: Path, **options: Any) -> Iterator[Running]:
    """A receiver on a free port of loopback (`options`: the receiver's), for a fixture."""
    lake = tmp_path / "lake"
    stop, ready = threading.Event(), threading.Event()
    urls: list[str] = []

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(
        target=serve,
        args=(str(lake),),
        kwargs={
            "port": 0,
            "ready": on_ready,
            "stop": stop,
            "receiver_options": {**FAST, **options},
        },
    )
    thread.start()
    assert ready.wait(30)
    running = Running(urls[0], lake, thread, stop)
    yield running
    running.stop()


def post(url: str, body: bytes, headers: dict[str, str], method: str = "POST") -> Any:
    request = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers


PB = {"Content-Type": "application/x-protobuf"}
JS = {"Content-Type": "application/json"}
TRACE = "5b8efff798038103d269b633813fc60c"
USAGE = "gen_ai.usage.input_tokens"


def otlp_json(spans: list[dict[str, Any]], app: str = "json-app") -> bytes:
    service = {"key": "service.name", "value": {"stringValue": app}}
    resource = {"resource": {"attributes": [service]}, "scopeSpans": [{"spans": spans}]}
    return json.dumps({"resourceSpans": [resource]}).encode()


def json_span(span_id: str, parent: str, op: str, **attrs: Any) -> dict[str, Any]:
    values = [{"key": "gen_ai.operation.name", "value": {"stringValue": op}}]
    values += [{"key": k, "value": {"intValue": str(v)}} for k, v in attrs.items()]
    return {
        "traceId": TRACE,
        "spanId": span_id,
        "parentSpanId": parent,
        "name": op,
        "kind": 1,
        "startTimeUnixNano": "1767225600000000000",
        "endTimeUnixNano": "1767225601000000000",
        "attributes": values,
        "status": {"code": 1},
    }


def c1_span(
    span_id: str, parent: str, op: str, start_s: int, end_s: int, conversation: bool = True
) -> dict[str, Any]:
    span = json_span(span_id, parent, op)
    if conversation:
        attribute = {"key": "gen_ai.conversation.id", "value": {"stringValue": "c-1"}}
        span["attributes"].append(attribute)
    span["startTimeUnixNano"] = str((1767225600 + start_s) * 10**9)
    span["endTimeUnixNano"] = str((1767225600 + end_s) * 10**9)
    return span


WHOLE = {("c-1", "session_start"): 1, ("c-1", "llm_call"): 1, ("c-1", "session_end"): 1}
"""The events of a trace of one call, under its conversation's session."""
CALL = c1_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat", 1, 2)  # ends first: mapped alone


def map_now(receiver: OtlpReceiver, *spans: dict[str, Any]) -> None:
    receiver.add(None, list(spans))
    time.sleep(0.02)  # past idle_s: a trace without its root is mapped too
    receiver.map_ready()


def session_events(tmp_path: Path) -> Counter[tuple[str, str]]:
    raw = raw_events(tmp_path / "lake")
    return Counter(zip(raw["session_id"].to_pylist(), raw["event_type"].to_pylist(), strict=True))
