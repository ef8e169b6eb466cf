"""`trajectory-assets serve`: an instrumented program sends its spans, Ctrl+C stops the receiver,
and the program's sessions are in the tables."""

import os
import signal
import socket
import subprocess
import sys
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
