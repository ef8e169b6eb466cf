"""The OTLP/HTTP receiver, end to end: the real OpenTelemetry SDK and its OTLP/HTTP exporter send
GenAI spans over loopback to `serve`, which is stopped with SIGTERM; then the raw lake holds the
events the file importer makes of the very same spans, and the Tier B assets materialize."""

import gzip
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest
from botocore.exceptions import EndpointConnectionError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.ingest.lakes import materialize, raw_events
from tests.ingest.otlp_client import send_agent_runs
from tests.ingest.otlp_server import (
    CALL,
    FAST,
    JS,
    PB,
    TRACE,
    USAGE,
    WHOLE,
    Running,
    c1_span,
    json_span,
    map_now,
    otlp_json,
    post,
    running_receiver,
    session_events,
)
from trajectory_assets.ingest.importers import IMPORTERS
from trajectory_assets.ingest.otlp import OtlpReceiver
from trajectory_assets.ingest.run import ingest_files

SERVER = f"""
import sys
from trajectory_assets.ingest.otlp_http import serve
serve(sys.argv[1], port=0, ready=lambda url: print(url, flush=True), receiver_options={FAST!r})
"""


@pytest.fixture(scope="module")
def received(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(lake, file of the same spans): the receiver runs as its own process, stopped with
    SIGTERM after the exporter has flushed."""
    root = tmp_path_factory.mktemp("otlp")
    lake, spans_file = root / "lake", root / "spans.json"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(lake)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), server.stderr.read() if server.stderr else ""
        send_agent_runs(f"{url}/v1/traces", spans_file)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0, server.stderr.read() if server.stderr else ""
    finally:
        if server.poll() is None:
            server.kill()
    return lake, spans_file


def test_the_lake_holds_exactly_the_file_importers_events(received: tuple[Path, Path]) -> None:
    lake, spans_file = received
    raw = raw_events(lake)
    assert set(raw["app_id"].to_pylist()) == {"support-bot"}  # the resource's service.name
    expected = list(IMPORTERS["otel"].parse(spans_file))
    kinds = raw["event_type"].to_pylist()
    assert (kinds.count("llm_call"), kinds.count("tool_call")) == (6, 6)
    assert raw.num_rows == len(expected) == len(set(raw["event_id"].to_pylist()))
    got = {r["event_id"]: r for r in raw.drop_columns(["dt"]).to_pylist()}
    for row in expected:
        mine = got[row["event_id"]]
        # the SDK's to_json writes times through a float: within a microsecond of the wire's ns
        assert abs((mine.pop("ts") - row.pop("ts")).total_seconds()) <= 1e-6
        for name in ("latency_ms", "tool_latency_ms"):
            if row[name] is not None:
                assert abs(mine.pop(name) - row.pop(name)) <= 0.002
        assert mine == {**row, "app_id": "support-bot"}


def test_the_tier_b_assets_materialize(received: tuple[Path, Path]) -> None:
    lake, _spans_file = received
    tables = materialize(lake)
    sessions = tables["sessions"].sort_by("session_id").to_pylist()
    assert [s["session_id"] for s in sessions] == ["conversation-0", "conversation-1"]
    assert [(s["n_llm_calls"], s["n_tool_calls"], s["n_errors"]) for s in sessions] == [
        (3, 3, 0),
        (3, 3, 1),
    ]
    assert [s["input_tokens"] for s in sessions] == [3300, 3300]
    assert {s["status"] for s in sessions} == {"success"}
    errors = tables["errors"]
    assert errors["error_type"].to_pylist() == ["TimeoutError"]
    assert pc.sum(tables["turns"]["n_llm_calls"]).as_py() == 6


@pytest.fixture()
def endpoint(tmp_path: Path) -> Iterator[Running]:
    yield from running_receiver(tmp_path)


def test_http_statuses(endpoint: Running) -> None:
    url = endpoint.url
    traces = f"{url}/v1/traces"
    assert post(traces, b"", {}, method="GET")[0] == 405
    assert post(f"{url}/v1/logs", b"{}", JS)[0] == 404
    assert post(traces, b"hello", {"Content-Type": "text/plain"})[0] == 415
    assert post(traces, b"{}", {**JS, "Content-Encoding": "br"})[0] == 415

    status, body, headers = post(traces, b"\xff\x00garbage", PB)
    assert status == 400 and headers["Content-Type"] == "application/x-protobuf"
    assert body[:2] == b"\x08\x03"  # google.rpc.Status, code INVALID_ARGUMENT
    status, body, _headers = post(traces, b"{not json", JS)
    assert status == 400 and json.loads(body)["code"] == 3
    assert post(traces, b'{"resourceSpans": 7}', JS)[0] == 400

    status, body, _headers = post(traces, ExportTraceServiceRequest().SerializeToString(), PB)
    assert status == 200 and not ExportTraceServiceResponse.FromString(body).HasField(
        "partial_success"
    )


def test_a_client_that_leaves_mid_body_is_one_warning(
    endpoint: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """An exporter that hits its own timeout closes the connection before its body is sent:
    one warning line, not the ASGI application's traceback, and the receiver goes on."""
    host, port = endpoint.url.removeprefix("http://").split(":")
    head = (
        "POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 100000\r\n\r\n{"
    )
    with caplog.at_level(logging.WARNING), socket.create_connection((host, int(port))) as sock:
        sock.sendall(head.encode())
    left = "a client left before sending its whole request"
    deadline = time.monotonic() + 30
    while left not in caplog.text and time.monotonic() < deadline:
        time.sleep(0.05)
    assert left in caplog.text
    assert "Exception in ASGI application" not in caplog.text
    assert post(f"{endpoint.url}/v1/traces", otlp_json([]), JS)[0] == 200


def test_otlp_json_and_partial_success(endpoint: Running) -> None:
    url = endpoint.url
    spans = [
        json_span("a1a1a1a1a1a1a1a1", "", "invoke_agent"),
        json_span(
            "b2b2b2b2b2b2b2b2",
            "a1a1a1a1a1a1a1a1",
            "chat",
            **{
                "gen_ai.usage.input_tokens": 700,
                "gen_ai.usage.output_tokens": 20,
            },
        ),
        {**json_span("c3c3c3c3c3c3c3c3", "a1a1a1a1a1a1a1a1", "chat"), "traceId": ""},
    ]
    status, body, _headers = post(
        f"{url}/v1/traces",
        gzip.compress(otlp_json(spans)),
        {
            **JS,
            "Content-Encoding": "gzip",
        },
    )
    assert status == 200
    partial = json.loads(body)["partialSuccess"]
    assert partial["rejectedSpans"] == "1" and "trace id" in partial["errorMessage"]
    again = post(f"{url}/v1/traces", otlp_json(spans[:2]), JS)  # an exporter's retry
    assert again[0] == 200 and json.loads(again[1]) == {}
    endpoint.stop()  # a clean shutdown writes what was acknowledged
    (kept,) = Path(endpoint.lake, "_rejected", "otlp").glob("dt=*/*.jsonl")
    (rejected,) = [json.loads(line) for line in kept.read_text().splitlines()]
    assert rejected["app_id"] == "json-app" and "trace id" in rejected["reason"]
    assert rejected["record"]["spanId"] == "c3c3c3c3c3c3c3c3"
    raw = raw_events(endpoint.lake)
    assert set(raw["app_id"].to_pylist()) == {"json-app"}
    calls = raw.filter(pc.equal(raw["event_type"], "llm_call")).to_pylist()
    assert [(c["input_tokens"], c["output_tokens"]) for c in calls] == [(700, 20)]


def test_a_span_with_a_cost_that_is_no_number_is_kept_aside_not_failing_its_file(
    tmp_path: Path,
) -> None:
    """A `gen_ai.usage.input_cost` of "abc" failed the whole file (ValueError at mapping)."""
    spans = [json_span("b2b2b2b2b2b2b2b2", "", "chat", **{USAGE: 700})]
    spans.append(json_span("c3c3c3c3c3c3c3c3", "", "chat"))
    cost = {"key": "gen_ai.usage.input_cost", "value": {"stringValue": "abc"}}
    spans[1]["attributes"].append(cost)
    source = tmp_path / "spans.json"
    source.write_bytes(otlp_json(spans))
    (imported,) = ingest_files(str(tmp_path / "lake"), "otel", [source]).files
    assert imported.ok, imported.reason
    assert imported.rejected == (
        "span 'c3c3c3c3c3c3c3c3': span 'chat': gen_ai.usage.input_cost is not a finite number: "
        "'abc'",
    )
    calls = [r for r in raw_events(tmp_path / "lake").to_pylist() if r["event_type"] == "llm_call"]
    assert [c["input_tokens"] for c in calls] == [700]


def test_a_file_of_the_same_spans_imports_the_same_and_keeps_the_bad_one(tmp_path: Path) -> None:
    """`ingest` treats an OTLP file as `serve` treats the request: the span without a trace id
    is kept with the reason (under _rejected/ingest/), the others import."""
    spans = [
        json_span("a1a1a1a1a1a1a1a1", "", "invoke_agent"),
        json_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat", **{USAGE: 700}),
        {**json_span("c3c3c3c3c3c3c3c3", "a1a1a1a1a1a1a1a1", "chat"), "traceId": ""},
    ]
    source = tmp_path / "spans.json"
    source.write_bytes(otlp_json(spans))
    lake = tmp_path / "lake"
    (imported,) = ingest_files(str(lake), "otel", [source]).files
    assert imported.ok and len(imported.rejected) == 1
    assert (
        imported.rejected[0].startswith("span 'c3c3c3c3c3c3c3c3': ")
        and "trace id" in (imported.rejected[0])
    )
    (kept,) = Path(lake, "_rejected", "ingest").glob("dt=*/*.jsonl")
    (rejected,) = [json.loads(line) for line in kept.read_text().splitlines()]
    assert rejected["record"]["spanId"] == "c3c3c3c3c3c3c3c3"
    calls = [r for r in raw_events(lake).to_pylist() if r["event_type"] == "llm_call"]
    assert [c["input_tokens"] for c in calls] == [700]
    only_bad = tmp_path / "bad.json"
    only_bad.write_bytes(otlp_json([spans[2], "not a span"]))  # type: ignore[list-item]
    (failed,) = ingest_files(str(lake), "otel", [only_bad]).files
    assert failed.status == "failed"
    assert failed.reason.startswith("2 invalid line(s) or event(s): span 'c3c3c3c3c3c3c3c3': ")


def test_rejected_spans_the_lake_cannot_keep_are_asked_for_again(endpoint: Running) -> None:
    """Refused spans are kept before the client hears of them; when they cannot be, the answer
    is 503 with Retry-After, so the exporter sends the request again rather than lose them."""
    endpoint.lake.mkdir(parents=True, exist_ok=True)
    (endpoint.lake / "_rejected").write_text("")  # a file where the folder goes: unwritable
    bad = [{**json_span("c3c3c3c3c3c3c3c3", "", "chat"), "traceId": ""}]
    status, body, headers = post(f"{endpoint.url}/v1/traces", otlp_json(bad), JS)
    assert status == 503 and headers["Retry-After"] == "2"
    assert "cannot keep the spans in the lake" in json.loads(body)["message"]
    (endpoint.lake / "_rejected").unlink()
    status, body, _ = post(f"{endpoint.url}/v1/traces", otlp_json(bad), JS)
    assert status == 200 and json.loads(body)["partialSuccess"]["rejectedSpans"] == "1"
    assert len(list(Path(endpoint.lake, "_rejected", "otlp").glob("dt=*/*.jsonl"))) == 1


def test_a_span_id_reused_with_other_content_is_rejected_and_kept(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    root = json_span("a1a1a1a1a1a1a1a1", "", "invoke_agent")
    call = json_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat", **{USAGE: 700})
    receiver = OtlpReceiver(str(lake), app_id="a", settle_s=60, idle_s=60)
    assert receiver.add(None, [root, call]) == (0, "")
    assert receiver.add(None, [call]) == (0, "")  # an exporter's retry: the same span
    other = json_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat", **{USAGE: 9})
    rejected, reason = receiver.add(None, [other])
    assert rejected == 1
    assert reason.startswith("span id b2b2b2b2b2b2b2b2 of trace ") and "another attrs" in reason
    receiver.close()
    assert receiver.stats["spans"] == 3 and receiver.stats["rejected_spans"] == 1
    (kept,) = Path(lake, "_rejected", "otlp").glob("dt=*/*.jsonl")
    (line,) = [json.loads(line) for line in kept.read_text().splitlines()]
    assert line["reason"] == reason and line["record"] == other
    calls = raw_events(lake).filter(pc.equal(raw_events(lake)["event_type"], "llm_call"))
    assert calls["input_tokens"].to_pylist() == [700]  # the first one is kept


def test_late_spans_and_resent_batches_add_only_new_events(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    root = json_span("a1a1a1a1a1a1a1a1", "", "invoke_agent")
    call = json_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat")
    late = json_span("d4d4d4d4d4d4d4d4", "a1a1a1a1a1a1a1a1", "execute_tool")
    receiver = OtlpReceiver(lake, app_id="a", settle_s=60, idle_s=60)
    receiver.add(None, [call, root])
    assert receiver.map_ready(everything=True) == 1
    receiver.add(None, [late])  # after its trace was mapped
    receiver.add(None, [call])  # and a batch sent again
    receiver.map_ready(everything=True)
    receiver.close()
    assert receiver.days == {"2026-01-01"}
    kinds = raw_events(tmp_path / "lake")["event_type"].to_pylist()
    assert sorted(kinds) == ["llm_call", "session_end", "session_start", "tool_call"]

    restarted = OtlpReceiver(lake, app_id="a", settle_s=60, idle_s=60)
    restarted.add(None, [root, call, late])  # the same spans, after a restart
    restarted.close()
    assert raw_events(tmp_path / "lake").num_rows == len(kinds)


def test_a_trace_mapped_before_its_root_came_takes_its_session_end_from_the_root(
    tmp_path: Path,
) -> None:
    """An agent running a tool longer than idle_s: the spans that ended before it were mapped
    without the root, which ends last. The session's end was written then, at the last span's
    end and with no status, and the root's own (its true end and status) dropped as written."""
    receiver = OtlpReceiver(str(tmp_path / "lake"), app_id="a", settle_s=0.01, idle_s=0.01)
    map_now(receiver, CALL)
    map_now(receiver, c1_span("c3c3c3c3c3c3c3c3", "a1a1a1a1a1a1a1a1", "chat", 95, 99))
    map_now(receiver, c1_span("a1a1a1a1a1a1a1a1", "", "invoke_agent", 0, 100))
    receiver.close()
    assert session_events(tmp_path) == {**WHOLE, ("c-1", "llm_call"): 2}
    (end,) = (
        raw_events(tmp_path / "lake").filter(pc.field("event_type") == "session_end").to_pylist()
    )
    assert end["ts"].timestamp() == 1767225700 and json.loads(end["payload"])["status"] == "success"


def test_a_trace_whose_root_never_comes_has_its_end_written_when_let_go_of(
    tmp_path: Path,
) -> None:
    """Let go of (linger_s after its last span, or the receiver's memory full); its root, come
    later, writes no second start or end. At a stop it waits in the write-ahead log instead,
    for the next receiver and its root: an end written then, its status unknown, kept the
    root's status out (a rolling restart of `serve`), since an event is written once."""
    receiver = OtlpReceiver(str(tmp_path / "lake"), app_id="a", settle_s=0.01, idle_s=0.01)
    map_now(receiver, CALL)
    receiver.close()
    assert session_events(tmp_path) == {k: n for k, n in WHOLE.items() if k[1] != "session_end"}
    restarted = OtlpReceiver(str(tmp_path / "lake"), app_id="a", settle_s=0.01, idle_s=0.01)
    restarted.add(None, [c1_span("a1a1a1a1a1a1a1a1", "", "invoke_agent", 0, 100)])
    restarted.close()
    assert session_events(tmp_path) == WHOLE
    (end,) = (
        raw_events(tmp_path / "lake").filter(pc.field("event_type") == "session_end").to_pylist()
    )
    assert json.loads(end["payload"])["status"] == "success"  # the root's
    assert not (tmp_path / "lake" / "_serve").exists()
    alone = tmp_path / "alone"  # without a log, the stop writes the end: nothing else would
    receiver = OtlpReceiver(str(alone / "lake"), app_id="a", write_ahead=False, idle_s=0.01)
    map_now(receiver, CALL)
    receiver.close()
    assert session_events(alone) == WHOLE
    lake = tmp_path / "other"
    receiver = OtlpReceiver(str(lake / "lake"), app_id="a", settle_s=0.01, idle_s=0.01, linger_s=0)
    map_now(receiver, CALL)  # let go of at once
    map_now(receiver, c1_span("a1a1a1a1a1a1a1a1", "", "invoke_agent", 0, 100))
    receiver.close()
    assert session_events(lake) == WHOLE


def test_a_trace_s_spans_stay_in_the_session_its_first_ones_went_to(tmp_path: Path) -> None:
    """Its conversation id on the root alone, which came after idle_s: the call went to a
    session of the trace's id, the root's bounds to the conversation's, each session half."""
    receiver = OtlpReceiver(str(tmp_path / "lake"), app_id="a", settle_s=0.01, idle_s=0.01)
    map_now(
        receiver,
        c1_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat", 1, 2, conversation=False),
    )
    map_now(receiver, c1_span("a1a1a1a1a1a1a1a1", "", "invoke_agent", 0, 100))
    receiver.close()
    assert session_events(tmp_path) == {
        (TRACE, "session_start"): 1,
        (TRACE, "llm_call"): 1,
        (TRACE, "session_end"): 1,
    }


def test_a_trace_neither_written_nor_kept_aside_loses_no_other(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The lake refusing the rejected trace too (its store down): the error left the mapping,
    so the other traces it had taken were lost, and the stop closed no logger."""
    from trajectory_assets.ingest import otlp_traces

    def refused(*_: object) -> None:  # s3fs passes botocore's on: no OSError
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9")

    monkeypatch.setattr(otlp_traces, "keep_rejected", refused)
    receiver = OtlpReceiver(str(tmp_path / "lake"), app_id="a", settle_s=60, idle_s=60)
    blank = c1_span("a1a1a1a1a1a1a1a1", "", "invoke_agent", 0, 100)
    blank["attributes"][-1]["value"]["stringValue"] = "  "  # no session can be named so
    receiver.add(
        None,
        [{**blank, "traceId": "1" * 32}, c1_span("a1a1a1a1a1a1a1a1", "", "chat", 0, 9)],
    )
    receiver.close()
    assert session_events(tmp_path) == WHOLE
    assert f"trace {'1' * 32} (1 spans) could not be written" in caplog.text


def test_a_span_that_comes_while_its_trace_is_mapped_joins_that_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Taken out of the waiting traces and not yet among the mapped ones, the trace was found
    nowhere: the span began a trace of its own, which wrote the session's start again."""
    receiver = OtlpReceiver(str(tmp_path / "lake"), app_id="a", settle_s=0.01, idle_s=0.01)
    mapping = receiver._log_all
    late = [c1_span("c3c3c3c3c3c3c3c3", "a1a1a1a1a1a1a1a1", "chat", 5, 6)]

    def meanwhile(traces: Any, *, ended: bool) -> None:
        mapping(traces, ended=ended)
        if late:
            receiver.add(None, [late.pop()])  # another thread's request, at this moment

    monkeypatch.setattr(receiver, "_log_all", meanwhile)
    map_now(receiver, CALL)
    map_now(receiver, c1_span("a1a1a1a1a1a1a1a1", "", "invoke_agent", 0, 100))
    receiver.close()
    assert session_events(tmp_path) == {**WHOLE, ("c-1", "llm_call"): 2}


def test_a_span_that_comes_while_its_written_trace_is_let_go_of_joins_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Let go of beside a trace whose end was still to write (which reads and writes the lake
    first), a whole trace was found nowhere by its late span: its start and end twice."""
    receiver = OtlpReceiver(
        str(tmp_path / "lake"), app_id="a", settle_s=0.01, idle_s=0.01, max_done_traces=2
    )
    rootless, whole = "5" * 32, TRACE
    mapping = receiver._log_all
    late = [json_span("d1d1d1d1d1d1d1d1", "a1a1a1a1a1a1a1a1", "chat")]

    def meanwhile(traces: Any, *, ended: bool) -> None:
        if ended and late and any(key == ("a", rootless) for key, *_ in traces):
            receiver.add(None, [late.pop()])  # another thread's request, at this moment
        mapping(traces, ended=ended)

    monkeypatch.setattr(receiver, "_log_all", meanwhile)
    map_now(
        receiver,
        {
            **c1_span("b5b5b5b5b5b5b5b5", "a5a5a5a5a5a5a5a5", "chat", 1, 2),
            "traceId": rootless,
        },
    )
    map_now(
        receiver,
        json_span("a1a1a1a1a1a1a1a1", "", "invoke_agent"),
        json_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat"),
    )
    map_now(
        receiver, *({**json_span("a7a7a7a7a7a7a7a7", "", "chat"), "traceId": t * 32} for t in "78")
    )
    receiver.close()
    events = raw_events(tmp_path / "lake")
    assert events.num_rows == len(set(events["event_id"].to_pylist()))
    assert session_events(tmp_path)[(whole, "session_start")] == 1


def test_an_object_store_down_asks_for_the_spans_again(
    endpoint: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3 lake's store unreachable for a few seconds: botocore's EndpointConnectionError is
    no OSError, so the request got a 500, which no exporter sends again: its spans were lost."""
    from botocore.exceptions import EndpointConnectionError

    from trajectory_assets.lake.wal import WriteAheadLog

    def down(*args: object, **kwargs: object) -> int:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9/lake")

    spans = [json_span("a1a1a1a1a1a1a1a1", "", "chat", **{USAGE: 7})]
    with monkeypatch.context() as patched:
        patched.setattr(WriteAheadLog, "append", down)
        status, body, headers = post(f"{endpoint.url}/v1/traces", otlp_json(spans), JS)
    assert status == 503 and headers["Retry-After"] == "2"
    assert "Could not connect to the endpoint URL" in json.loads(body)["message"]
    status, _, _ = post(f"{endpoint.url}/v1/traces", otlp_json(spans), JS)  # sent again
    assert status == 200
