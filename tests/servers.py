"""Real servers the tests start on loopback, from the project's own dependencies."""

import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_KEY = "trajectory-test"
SECRET_KEY = "trajectory-test-secret"


_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw"))
QUIET_PORTS = range(20000 + _WORKER, 32768, int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))
"""Where the tests' servers listen: above Ray's worker ports (10002-19999) and below the
system's ephemeral range (32768-60999 on Linux), where every other port a Ray node opens, and
every client socket, is handed out. A port taken from the ephemeral range could be handed to
another process before the test's server bound it: the stack's webserver once found its port
taken (its log empty) and the tests' requests met another server, which closed them. Ray's
fixed ports (6379, 8265, 10001, 52365) are outside it too. Each pytest-xdist worker takes its
own share, so two workers never pick the same port between a check and a bind."""

_handed: set[int] = set()  # never the same port twice in one test session


def free_port() -> int:
    while True:
        port = random.choice(QUIET_PORTS)
        if port in _handed:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed.add(port)
        return port


def wait_for_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@dataclass
class SilentServer:
    """Accepts connections and never answers, like a store whose process hangs."""

    endpoint_url: str
    connections: int = 0


@contextmanager
def silent_server() -> Iterator[SilentServer]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.1)
    server = SilentServer(f"http://127.0.0.1:{listener.getsockname()[1]}")
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(connection)
            server.connections += 1

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()
        for connection in held:
            connection.close()


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str

    def storage_options(self) -> dict[str, Any]:
        return {
            "key": ACCESS_KEY,
            "secret": SECRET_KEY,
            "client_kwargs": {"endpoint_url": self.endpoint_url},
        }

    def make_bucket(self, name: str) -> None:
        import s3fs

        fs = s3fs.S3FileSystem(**self.storage_options(), skip_instance_cache=True)
        fs.mkdir(name)


@contextmanager
def s3_server(log_dir: Path) -> Iterator[S3Server]:
    """moto's S3-compatible server (the one s3fs tests against), in its own process."""
    port = free_port()
    moto = Path(sys.executable).parent / "moto_server"
    log = open(log_dir / "moto_server.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        wait_for_port(port)
        yield S3Server(f"http://127.0.0.1:{port}")
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
