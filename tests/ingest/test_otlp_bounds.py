"""The OTLP receiver against what anyone who reaches its port can send: bodies that grow once
decompressed or that declare no length, spans that weigh more than they count, and spans or
traces that cannot be written, none of which may take the others with them."""

import gzip
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from tests.ingest.lakes import raw_events
from tests.ingest.otlp_server import (
    JS,
    PB,
    TRACE,
    Running,
    json_span,
    otlp_json,
    post,
    running_receiver,
)

LIMIT = 1 << 20


@pytest.fixture()
def endpoint(tmp_path: Path) -> Iterator[Running]:
    yield from running_receiver(tmp_path, max_pending_bytes=LIMIT)


def _traces(endpoint: Running) -> str:
    return f"{endpoint.url}/v1/traces"


def _rejected(endpoint: Running) -> list[dict[str, Any]]:
    kept = Path(endpoint.lake, "_rejected", "otlp").glob("dt=*/*.jsonl")
    return [json.loads(line) for path in kept for line in path.read_text().splitlines()]


def test_bodies_are_bounded_once_decompressed_and_while_they_stream(tmp_path: Path) -> None:
    """1 MB of gzip that held 1 GB of zeros took 2 GB of memory before its 400; a chunked body
    was read whole before its length was judged."""
    from trajectory_assets.ingest.otlp import OtlpReceiver
    from trajectory_assets.ingest.otlp_http import create_app

    receiver = OtlpReceiver(str(tmp_path / "lake"))
    try:
        from starlette.testclient import TestClient

        client = TestClient(create_app(receiver, max_body_bytes=LIMIT))
        bomb = gzip.compress(b"\0" * (4 * LIMIT))
        assert len(bomb) < LIMIT
        zipped = {**JS, "Content-Encoding": "gzip"}
        refused = client.post("/v1/traces", content=bomb, headers=zipped)
        assert refused.status_code == 413
        assert json.loads(refused.content)["message"] == (
            f"body above {LIMIT} bytes once decompressed"
        )
        fine = client.post("/v1/traces", content=gzip.compress(otlp_json([])), headers=zipped)
        assert fine.status_code == 200

        def chunks() -> Iterator[bytes]:
            for _ in range(8):
                yield b" " * (LIMIT // 4)

        streamed = client.post("/v1/traces", content=chunks(), headers=JS)  # no length declared
        assert streamed.status_code == 413
    finally:
        receiver.close()


def test_json_nested_too_deeply_or_spans_that_are_no_objects_are_bad_requests(
    endpoint: Running,
) -> None:
    """Both were 500s with a traceback in the log."""
    deep = b'{"resourceSpans": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    assert post(_traces(endpoint), deep, JS)[0] == 400
    numbers = b'{"resourceSpans":[{"scopeSpans":[{"spans":[1,2]}]}]}'
    status, body, _headers = post(_traces(endpoint), numbers, JS)
    assert status == 400 and "a span is not an object" in json.loads(body)["message"]


def test_spans_that_weigh_too_much_waiting_are_refused_until_written(tmp_path: Path) -> None:
    slow = {"settle_s": 60.0, "idle_s": 60.0}  # nothing is mapped while the test posts
    waiting = running_receiver(tmp_path, max_pending_bytes=LIMIT, **slow)
    endpoint = next(waiting)
    heavy = json_span("a1a1a1a1a1a1a1a1", "", "invoke_agent")
    heavy["name"] = "x" * LIMIT  # one span, as heavy as the receiver holds
    assert post(_traces(endpoint), otlp_json([heavy]), JS)[0] == 200
    status, _body, headers = post(_traces(endpoint), otlp_json([]), JS)
    assert status == 503 and headers["Retry-After"] == "2"
    endpoint.stop()  # a clean stop writes what was taken
    assert raw_events(endpoint.lake).num_rows > 0


def test_what_the_receiver_holds_is_counted_once_and_bounded_after_mapping(
    tmp_path: Path,
) -> None:
    """A late span brought its mapped trace back, and mapping it again took all the trace's
    spans off the count of waiting ones: the count went negative and never refused again.
    Mapped traces, kept for late spans, held their spans without bound."""
    from trajectory_assets.ingest.otlp import OtlpReceiver

    def span(trace: str, span_id: str) -> dict[str, Any]:
        return {**json_span(span_id, "", "invoke_agent"), "traceId": trace}

    receiver = OtlpReceiver(
        str(tmp_path / "lake"), max_pending_spans=2, max_pending_bytes=LIMIT, max_done_bytes=LIMIT
    )
    try:
        one, two = "1" * 32, "2" * 32
        receiver.add("app", [span(one, "a" * 16), span(one, "b" * 16)], 2)
        assert receiver.overloaded()
        receiver.map_ready(everything=True)
        receiver.add("app", [span(one, "c" * 16)], 1)  # late: its trace comes back
        assert not receiver.overloaded()
        receiver.map_ready(everything=True)
        receiver.add("app", [span(two, "a" * 16), span(two, "b" * 16)], 2)
        assert receiver.overloaded()
        receiver.map_ready(everything=True)
        for i in range(3):  # each as heavy as the budget: the oldest mapped ones are let go
            receiver.add("app", [span(f"{i + 3}" * 32, "a" * 16)], LIMIT)
            receiver.map_ready(everything=True)
        assert receiver._done_bytes <= LIMIT and len(receiver._done) == 1
    finally:
        receiver.close()


def test_a_span_or_a_trace_that_cannot_be_written_loses_no_other(endpoint: Running) -> None:
    """A span of the year 11,000 failed its trace's mapping after the client heard 200, and a
    300-character service.name failed every trace mapped with it; neither was kept."""
    root = json_span("a1a1a1a1a1a1a1a1", "", "invoke_agent")
    call = json_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat", **{"x": 1})
    short = {**json_span("d4d4d4", "a1a1a1a1a1a1a1a1", "chat")}  # 3 bytes: no OTLP span id
    late = {
        **json_span("c3c3c3c3c3c3c3c3", "a1a1a1a1a1a1a1a1", "chat"),
        "startTimeUnixNano": "3" + "0" * 20,
    }
    sent = otlp_json([root, call, late, short], "victim")
    status, body, _headers = post(_traces(endpoint), sent, JS)
    assert status == 200 and json.loads(body)["partialSuccess"]["rejectedSpans"] == "2"
    long_app = otlp_json([{**root, "traceId": "1" * 32}], "a" * 300)
    status, body, _headers = post(_traces(endpoint), long_app, JS)
    assert json.loads(body)["partialSuccess"]["errorMessage"].startswith("app_id too long")
    long_session = {**root, "traceId": "2" * 32}
    long_session["attributes"] = [
        *root["attributes"],
        {"key": "gen_ai.conversation.id", "value": {"stringValue": "s" * 300}},
    ]
    assert post(_traces(endpoint), otlp_json([long_session], "other"), JS)[0] == 200
    blank = {**root, "traceId": "3" * 32}  # the tables reject it: the client heard 200 of it
    blank["attributes"] = [
        *root["attributes"],
        {"key": "gen_ai.conversation.id", "value": {"stringValue": "  "}},
    ]
    assert post(_traces(endpoint), otlp_json([blank], "other"), JS)[0] == 200
    endpoint.stop()
    raw = raw_events(endpoint.lake)
    victim = raw.filter(pc.equal(raw["app_id"], "victim"))
    assert victim.num_rows > 0 and set(victim["session_id"].to_pylist()) == {TRACE}
    reasons = sorted(r["reason"].split(":")[0] for r in _rejected(endpoint))
    assert len(reasons) == 5, reasons
    assert any("blank session_id" in r["reason"] for r in _rejected(endpoint)), _rejected(endpoint)
    assert any("outside years 1970 to 9999" in r["reason"] for r in _rejected(endpoint))
    assert any("session_id too long" in r["reason"] for r in _rejected(endpoint))


def test_clients_that_stop_sending_their_body_do_not_keep_the_others_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four connections that declared a body and sent one byte of it held every reading slot
    for ever: every other client timed out, and they were never answered."""
    import socket
    from urllib.parse import urlsplit

    from trajectory_assets.ingest import otlp_http

    monkeypatch.setattr(otlp_http, "BODY_READ_S", 1.0)
    for endpoint in running_receiver(tmp_path):
        where = urlsplit(endpoint.url)
        stalled = []
        for _ in range(otlp_http.READING_AT_ONCE + 1):
            conn = socket.create_connection((where.hostname, where.port), timeout=30)
            conn.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                b"Content-Length: 1000000\r\n\r\n{"
            )
            stalled.append(conn)
        started = time.monotonic()
        sent = otlp_json([json_span("a1a1a1a1a1a1a1a1", "", "invoke_agent")])
        assert post(_traces(endpoint), sent, JS)[0] == 200
        assert time.monotonic() - started < 10
        for conn in stalled:
            assert conn.recv(64).startswith(b"HTTP/1.1 408 ")
            conn.close()


def test_spans_are_refused_while_the_lake_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the lake's disk full, every request heard 200 and its spans waited in memory:
    stopped before the disk had room again, the receiver lost them all. Now the client hears
    503 while writes fail, keeps its spans, and the lake gets them once it can."""

    from trajectory_assets.ingest.logger import flusher

    real = flusher.write_session

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(flusher, "write_session", full)
    quick = {"flush_interval_s": 0.1, "retry_initial_s": 0.1, "retry_max_s": 0.2}
    for endpoint in running_receiver(tmp_path, logger_options=quick):
        root = json_span("a1a1a1a1a1a1a1a1", "", "invoke_agent")
        assert post(_traces(endpoint), otlp_json([root]), JS)[0] == 200  # before it knew
        second = {**root, "traceId": "9" * 32}
        deadline = time.monotonic() + 20
        while (status := post(_traces(endpoint), otlp_json([second]), JS))[0] == 200:
            assert time.monotonic() < deadline, "never refused while writes failed"
            time.sleep(0.2)
        assert status[0] == 503 and b"No space left on device" in status[1]
        assert status[2]["Retry-After"] == "2"
        monkeypatch.setattr(flusher, "write_session", real)
        deadline = time.monotonic() + 20
        while post(_traces(endpoint), otlp_json([second]), JS)[0] != 200:
            assert time.monotonic() < deadline, "still refused once writes succeed"
            time.sleep(0.2)
        endpoint.stop()
        traces = set(raw_events(endpoint.lake)["session_id"].to_pylist())
        assert traces == {TRACE, "9" * 32}


def _empty_spans(count: int) -> bytes:
    """An ExportTraceServiceRequest of `count` empty spans: two bytes each."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    request = ExportTraceServiceRequest()
    scope = request.resource_spans.add().scope_spans.add()
    for _ in range(count):
        scope.spans.add()
    return bytes(request.SerializeToString())


def test_a_small_request_of_many_spans_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    """434 bytes of gzip held 200,000 empty spans: 64 MB of rejected rows written, and a full
    body gigabytes of memory, from one request. Spans are counted from the wire first."""
    for endpoint in running_receiver(tmp_path, max_request_spans=1000):
        body = gzip.compress(_empty_spans(200_000))
        assert len(body) < 2000
        zipped = {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"}
        status, _body, _headers = post(_traces(endpoint), body, zipped)
        assert status == 413
        many = otlp_json([{} for _ in range(1001)])
        status, answer, _headers = post(_traces(endpoint), many, JS)
        assert status == 413 and json.loads(answer)["message"].startswith(
            "more than 1,000 spans in one request: send smaller batches"
        )
        assert post(_traces(endpoint), otlp_json([{} for _ in range(1000)]), JS)[0] == 200
        assert len(_rejected(endpoint)) == 1000  # spans without ids, each kept with why
        assert post(_traces(endpoint), _empty_spans(1000), PB)[0] == 200  # the limit itself


def test_a_body_the_span_count_would_misread_or_dwell_on_is_refused_at_once() -> None:
    """A group in front made the count stop at 0 and the body decoded whole; a run of 0xFF
    bytes (a varint without end: 657 bytes of gzip) took the event loop for minutes; a body of
    unknown fields was walked field by field."""

    from trajectory_assets.errors import BadRequestError
    from trajectory_assets.ingest.otlp_count import TooManySpansError, _walk, check_protobuf
    from trajectory_assets.ingest.otlp_decode import decode_protobuf

    spans = _empty_spans(7)
    assert _walk(memoryview(spans), 100) == (7, 2)  # 7 spans; a resource and a scope
    assert _walk(memoryview(spans), 3) == (4, 2)  # stops past the limit
    assert _walk(memoryview(spans[:-3]), 100)[0] < 7  # cut short: counted as far as it reads,
    with pytest.raises(BadRequestError, match="not an ExportTraceServiceRequest"):
        decode_protobuf(spans[:-3])  # and the parser says why
    with pytest.raises(BadRequestError, match="wire type 3 \\(a group"):
        check_protobuf(b"\x4b\x4c" + _empty_spans(2000), 1000)  # field 9, an empty group
    started = time.monotonic()
    with pytest.raises(BadRequestError, match="a varint longer than ten bytes"):
        check_protobuf(b"\x0a" + b"\xff" * 2_000_000, 1000)
    unknown = b"\x48\x01" * 5000  # field 9, varint 1: legal, and unknown to OTLP (4,000 allowed)
    with pytest.raises(TooManySpansError, match="resources, scopes and their other"):
        check_protobuf(unknown, 1000)
    assert time.monotonic() - started < 5  # 640 KB of 0xFF took 12 s, growing faster than n²


def test_a_collectors_batch_of_many_small_resources_is_taken() -> None:
    """A Collector's batch keeps each request it took as a resource of its own: 40,000 spans in
    20,000 resources were refused as too many other fields, by protobuf and not by JSON."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    from trajectory_assets.ingest.otlp_count import check_json, check_protobuf

    request = ExportTraceServiceRequest()
    for i in range(2000):
        resource = request.resource_spans.add()
        resource.resource.attributes.add(key="service.name").value.string_value = f"app-{i}"
        scope = resource.scope_spans.add()
        scope.scope.name = "agent"
        scope.spans.add(name="a")
        scope.spans.add(name="b")
    check_protobuf(request.SerializeToString(), 4000)
    check_json([{"scopeSpans": [{"spans": [{}, {}]}]} for _ in range(2000)], 4000)


def test_a_receiver_on_loopback_takes_requests_addressed_to_loopback_only(
    endpoint: Running,
) -> None:
    """A web page can rebind its own host name to 127.0.0.1 and post to the receiver as its
    own origin: the browser then names the page's host in the Host header."""
    port = endpoint.url.rsplit(":", 1)[1]
    sent = otlp_json([])
    for host in ("evil.example.com", f"evil.example.com:{port}", "10.0.0.1"):
        status, answer, _headers = post(_traces(endpoint), sent, {**JS, "Host": host})
        assert status == 403 and b"loopback" in answer
    for host in (
        f"localhost:{port}",
        f"127.0.0.1:{port}",
        "LOCALHOST",
        f"[::1]:{port}",
        "localhost.",
    ):
        assert post(_traces(endpoint), sent, {**JS, "Host": host})[0] == 200


def test_a_host_allowed_besides_loopback_is_taken(tmp_path: Path) -> None:
    """A proxy on the machine that passes on its clients' Host was refused, with no way out."""
    from starlette.testclient import TestClient

    from trajectory_assets.ingest.otlp import OtlpReceiver
    from trajectory_assets.ingest.otlp_http import create_app

    receiver = OtlpReceiver(str(tmp_path / "lake"))
    try:  # the test client names the host "testserver"
        refused = TestClient(create_app(receiver, loopback=True)).post(
            "/v1/traces", content=otlp_json([]), headers=JS
        )
        assert refused.status_code == 403 and "serve --allowed-host" in refused.text
        for given in ("TestServer", "testserver:8443"):  # the header as a proxy sends it too
            allowed = create_app(receiver, loopback=True, allowed_hosts=[given])
            taken = TestClient(allowed).post("/v1/traces", content=otlp_json([]), headers=JS)
            assert taken.status_code == 200
    finally:
        receiver.close()


def test_a_logger_per_app_stays_open_for_the_latest_apps_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client naming a new service.name per resource made a logger (a thread) each, never
    closed: a thousand apps, a thousand threads and 1.8 GB."""
    from starlette.testclient import TestClient

    from trajectory_assets.ingest import otlp, otlp_loggers
    from trajectory_assets.ingest.logger import flusher
    from trajectory_assets.ingest.otlp_http import create_app

    real = flusher.write_session

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    quick = {"flush_interval_s": 0.1, "retry_initial_s": 0.1, "retry_max_s": 0.2}
    receiver = otlp.OtlpReceiver(
        str(tmp_path / "lake"), settle_s=60.0, max_open_apps=2, logger_options=quick
    )  # traces mapped by the test alone
    client = TestClient(create_app(receiver))
    apps = [f"tenant-{i}" for i in range(8)]
    for i, app in enumerate(apps):
        if i == 4:  # a logger whose writes fail holds what the client was told was taken
            assert all(logger.flush() for logger in receiver._loggers.open.values())
            monkeypatch.setattr(otlp_loggers, "CLOSE_FLUSH_S", 0.5)
            monkeypatch.setattr(flusher, "write_session", full)
        if i == 7:  # the lake back: down to the limit again
            monkeypatch.setattr(flusher, "write_session", real)
            deadline = time.monotonic() + 20
            while any(s["last_error"] for s in receiver.logger_stats()):
                assert time.monotonic() < deadline, "writes never recovered"
                time.sleep(0.1)
        span = {**json_span("a1a1a1a1a1a1a1a1", "", "invoke_agent"), "traceId": f"{i + 1}" * 32}
        assert client.post("/v1/traces", content=otlp_json([span], app), headers=JS).is_success
        receiver.map_ready(everything=True)
        assert list(receiver._loggers.open)[-1] == app
        assert len(receiver._loggers.open) == min(i + 1, 3 if i == 6 else 2)  # 6: none could close
    receiver.close()
    events = raw_events(tmp_path / "lake")
    assert sorted(set(events["app_id"].to_pylist())) == apps
    stats = receiver.logger_stats()
    assert sum(s["written_events"] for s in stats) == events.num_rows
    assert len(stats) == 3  # the closed ones' sum, and the two open


def test_an_app_s_turns_stay_known_while_its_traces_are_mapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One app's logger closed for another's in the middle of a batch dropped the first app's
    turns, so its next trace of the batch listed every day of the lake, and a failing listing
    then rejected that trace whole."""
    from trajectory_assets.ingest.importers import otel_sessions
    from trajectory_assets.ingest.otlp import OtlpReceiver

    listed: list[Any] = []

    def failing(*args: Any) -> Any:
        listed.append(args[-1])  # the days searched; None: every day
        raise OSError(5, "listing failed (503)")

    monkeypatch.setattr(otel_sessions, "known_session_days", failing)
    receiver = OtlpReceiver(str(tmp_path / "lake"), settle_s=60, idle_s=60, max_open_apps=1)
    for n, app in enumerate(["app-a", "app-b", "app-a"]):
        root = json_span(f"a{n}a{n}a{n}a{n}a{n}a{n}a{n}a{n}", "", "chat")
        conversation = {"key": "gen_ai.conversation.id", "value": {"stringValue": f"c-{n}"}}
        root["attributes"].append(conversation)
        receiver.add(app, [{**root, "traceId": f"{n + 1}" * 32}])
    receiver.close()
    assert receiver.stats["rejected_spans"] == 0
    assert None not in listed
