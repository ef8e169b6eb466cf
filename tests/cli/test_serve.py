"""`trajectory-assets serve`: an instrumented program sends its spans, Ctrl+C stops the receiver,
and the program's sessions are in the tables."""

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pyarrow.compute as pc
import pytest

from tests.ingest.lakes import materialize, raw_events
from tests.ingest.otlp_client import send_agent_runs
from trajectory_assets.cli import main


@pytest.mark.slow
def test_spans_sent_to_serve_become_sessions(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    command = [sys.executable, "-m", "trajectory_assets.cli", "serve", "--lake", str(lake)]
    server = subprocess.Popen(
        [*command, "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("receiving OTLP/HTTP traces on http://127.0.0.1:"), first
        url = first.split()[4].removesuffix("/v1/traces")
        assert f"export OTEL_EXPORTER_OTLP_ENDPOINT={url}" in server.stdout.readline()
        send_agent_runs(f"{url}/v1/traces", tmp_path / "spans.json")
        server.send_signal(signal.SIGINT)  # Ctrl+C
        out, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, err
    assert "stopped: 14 span(s) in 2 trace(s) received, 16 event(s) written" in out

    raw = raw_events(lake)
    (day,) = set(raw["dt"].to_pylist())
    assert out.strip().splitlines()[-1] == (
        f"materialize with: trajectory-assets materialize --lake {lake} --partition {day}"
    )
    assert raw.num_rows == 16  # per run: start, 3 model calls, 3 tool calls, end
    sessions = materialize(lake)["sessions"]
    assert sorted(sessions["session_id"].to_pylist()) == ["conversation-0", "conversation-1"]
    assert pc.sum(sessions["n_llm_calls"]).as_py() == 6


def _serve(lake: Path, port: int) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "trajectory_assets.cli", "serve", "--lake", str(lake)]
    server = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert server.stdout is not None
    assert server.stdout.readline().startswith("receiving OTLP/HTTP traces on"), server.stderr
    server.stdout.readline()
    return server


@pytest.mark.slow
def test_a_killed_serve_loses_nothing_it_acknowledged(tmp_path: Path) -> None:
    """An agent's calls and tool, exported as they ended, wait in the receiver for the root
    span, which ends last; the receiver is killed (SIGKILL: out of memory, a lost machine) and
    started again before the run ends. The spans answered 200 were lost: no exporter sends them
    again. Its conversation id is on the root alone, so the whole run is one session only if
    the restarted receiver holds the earlier spans when the root comes."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.trace import Status, StatusCode, set_span_in_context

    lake = tmp_path / "lake"
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    exporter = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
    provider.add_span_processor(SimpleSpanProcessor(exporter))  # each span sent as it ends
    tracer = provider.get_tracer("tests.cli.test_serve")
    agent = {"gen_ai.operation.name": "invoke_agent", "gen_ai.conversation.id": "run-1"}
    first = _serve(lake, port)
    try:
        root = tracer.start_span("invoke_agent support", attributes=agent)
        inside = set_span_in_context(root)
        chat = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
        for _ in range(2):
            tracer.start_span("chat gpt-4o", context=inside, attributes=chat).end()
        tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"}
        tracer.start_span("execute_tool search", context=inside, attributes=tool).end()
        first.kill()
        first.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
    assert not Path(lake, "raw_events").exists()  # nothing was written before the kill

    second = _serve(lake, port)
    try:
        root.set_status(Status(StatusCode.OK))
        root.end()
        second.send_signal(signal.SIGINT)
        out, err = second.communicate(timeout=60)
    finally:
        if second.poll() is None:
            second.kill()
        provider.shutdown()
    assert second.returncode == 0, err
    assert "took in 3 span(s) of 3 request(s)" in err
    assert "(3 taken in from a receiver stopped before writing them)" in out
    raw = raw_events(lake)
    kinds = zip(raw["session_id"].to_pylist(), raw["event_type"].to_pylist(), strict=True)
    assert sorted(kinds) == [
        ("run-1", "llm_call"),
        ("run-1", "llm_call"),
        ("run-1", "session_end"),
        ("run-1", "session_start"),
        ("run-1", "tool_call"),
    ]
    assert not Path(lake, "_serve").exists()


@pytest.mark.slow
def test_spans_sent_again_ask_for_no_materialization(tmp_path: Path) -> None:
    """A client that sent its spans again to a new receiver (its retry after a restart): nothing
    was written, yet `serve` said to materialize the day."""
    lake = tmp_path / "lake"
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    span = {
        "traceId": "5b8efff798038103d269b633813fc60c",
        "spanId": "eee19b7ec3c1b174",
        "name": "chat gpt-4o",
        "startTimeUnixNano": "1764590400000000000",
        "endTimeUnixNano": "1764590401000000000",
        "attributes": [{"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}}],
    }
    service = {"key": "service.name", "value": {"stringValue": "bot"}}
    body = {
        "resourceSpans": [
            {"resource": {"attributes": [service]}, "scopeSpans": [{"spans": [span]}]}
        ]
    }
    outs = []
    for _ in range(2):
        server = _serve(lake, port)
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/v1/traces",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                assert answer.status == 200
            server.send_signal(signal.SIGINT)
            out, err = server.communicate(timeout=60)
        finally:
            if server.poll() is None:
                server.kill()
        assert server.returncode == 0, err
        outs.append(out)
    assert "3 event(s) written" in outs[0] and "materialize with: " in outs[0]
    assert "0 event(s) written (3 re-sent, already in the lake)" in outs[1]
    assert "materialize with" not in outs[1]


@pytest.mark.parametrize("host", ["127.0.0.1", "0.0.0.0"])
def test_a_port_in_use_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], host: str
) -> None:
    """Listening beyond loopback, without authentication, is said before anything else."""
    with socket.socket() as taken:
        taken.bind((host, 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        code = main(
            ["serve", "--lake", str(tmp_path / "lake"), "--host", host, "--port", str(port)]
        )
    assert code == 1
    err = capsys.readouterr().err
    assert f"cannot listen on {host}:{port}" in err
    warned = f"warning: listening on {host}, beyond this machine, without authentication or TLS"
    assert (warned in err) == (host == "0.0.0.0")


@pytest.mark.parametrize("allowed", ["", ":8443", "http://proxy:8443"])
def test_an_allowed_host_that_names_no_host_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], allowed: str
) -> None:
    """An empty one took a request naming no host; a URL matched nothing, silently."""
    code = main(["serve", "--lake", str(tmp_path / "lake"), "--allowed-host", allowed])
    assert code == 1
    assert f"--allowed-host {allowed!r}: give a host name" in capsys.readouterr().err
