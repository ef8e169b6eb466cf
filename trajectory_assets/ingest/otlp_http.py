"""The OTLP/HTTP endpoint of the trace receiver (`otlp.OtlpReceiver`): POST /v1/traces on
uvicorn and Starlette, and `serve`, which runs it until SIGINT/SIGTERM.

HTTP: POST /v1/traces with a protobuf or JSON body (gzip or deflate allowed); 200 with an
ExportTraceServiceResponse (partial_success counts spans that could not be read), 400 for a body
that cannot be decoded, 413 for one above `max_body_bytes` (as sent, while it streams, or once
decompressed) or of more than the receiver's `max_request_spans` spans, 403 for a request whose
Host header names no loopback address while the receiver listens on loopback (a web page's DNS
rebinding: the browser sends the page's own host name), 415 for another content type or
encoding, 503 (retryable) while more than `max_pending_spans` or `max_pending_bytes` wait, 404
for other paths and 405 for other methods, 408 for a body not received within `BODY_READ_S`; 503
too while writes to the lake fail (a full disk, a store down), so exporters keep their spans and
send them again. `READING_AT_ONCE` requests are read and decoded at a time. A clean shutdown
maps every waiting trace and flushes the loggers.
"""

import asyncio
import contextlib
import logging
import signal
import socket
import threading
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

from trajectory_assets.errors import BadRequestError
from trajectory_assets.ingest.otlp import OtlpReceiver
from trajectory_assets.ingest.otlp_count import TooManySpansError
from trajectory_assets.lake.fs import storage_failure

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger(__name__)

RETRY = {"Retry-After": "2"}
"""A 503's wait: the OpenTelemetry SDKs' exporters retry only within their export timeout (10 s
by default) and drop a batch at once whose Retry-After would pass it (30 s lost every batch of a
disk outage); a Collector's retry queue waits as long as the outage lasts."""


def create_app(
    receiver: OtlpReceiver,
    *,
    max_body_bytes: int = 64 << 20,
    loopback: bool = False,
    allowed_hosts: Collection[str] = (),
) -> "Starlette":
    """The Starlette application: POST /v1/traces, nothing else; `loopback`: listening on a
    loopback address, so taking only requests addressed to one, or to `allowed_hosts` (a proxy
    on the machine that passes on its clients' Host)."""
    allowed = {host_name(host) for host in allowed_hosts}  # `NAME:PORT` as sent, or NAME
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import ClientDisconnect
    from starlette.routing import Route

    from trajectory_assets.ingest import otlp_decode as wire

    reading = asyncio.Semaphore(READING_AT_ONCE)

    async def traces(request: "Request") -> "Response":
        from starlette.responses import PlainTextResponse

        host = host_name(request.headers.get("host", ""))
        if loopback and not is_loopback(host) and host not in allowed:
            return PlainTextResponse(
                f"Host {host!r} is no loopback address, and the receiver listens on loopback: "
                "it takes requests addressed to this machine only (serve --allowed-host names "
                "another, e.g. a proxy's)",
                403,
            )
        async with reading:  # each holds its body, decompressed and parsed: a few at a time
            return await _traces(request)

    async def _traces(request: "Request") -> "Response":
        from starlette.responses import PlainTextResponse, Response

        kind = wire.media_type(request.headers.get("content-type"))
        if kind is None:
            return PlainTextResponse(
                "Content-Type must be application/x-protobuf or application/json", 415
            )

        def failure(http_status: int, code: int, message: str, **headers: str) -> Response:
            body = wire.status(kind, code, message)
            return Response(body, http_status, headers=headers or None, media_type=kind)

        declared = request.headers.get("content-length") or ""
        too_large = f"body above {max_body_bytes} bytes"
        if declared.isdigit() and int(declared) > max_body_bytes:
            return failure(413, wire.INVALID_ARGUMENT, too_large)
        body = bytearray()
        try:  # read as it comes: a chunked body declares no length to refuse it by
            async with asyncio.timeout(BODY_READ_S):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > max_body_bytes:
                        return failure(413, wire.INVALID_ARGUMENT, too_large)
        except ClientDisconnect:  # an exporter that gave up (its timeout): it sends again
            log.warning("OTLP receiver: a client left before sending its whole request")
            return PlainTextResponse("request body incomplete", 400)
        except TimeoutError:  # it held one of the few reading slots: four such stopped all
            return PlainTextResponse(f"request body not received in {BODY_READ_S:g} s", 408)
        try:  # off the event loop: the other clients' requests go on meanwhile
            encoding = request.headers.get("content-encoding")
            decoded = await run_in_threadpool(
                wire.decompress, bytes(body), encoding, max_body_bytes
            )
            resources = await run_in_threadpool(
                wire.decode, decoded, kind, receiver.max_request_spans
            )
        except (wire.BodyTooLargeError, TooManySpansError) as exc:
            return failure(413, wire.INVALID_ARGUMENT, str(exc))
        except BadRequestError as exc:
            return failure(400, wire.INVALID_ARGUMENT, str(exc))
        except ValueError as exc:  # an unsupported Content-Encoding
            return PlainTextResponse(str(exc), 415)
        if receiver.overloaded():
            message = "too much waiting to be written (spans or bytes); retry later"
            return failure(503, wire.UNAVAILABLE, message, **RETRY)
        if failing := receiver.failing_writes():  # the client keeps what the lake cannot take
            message = f"the lake cannot be written now ({failing}); retry later"
            return failure(503, wire.UNAVAILABLE, message, **RETRY)
        spans = sum(len(r.spans) for r in resources) or 1
        parts = [(r.service, r.spans, len(decoded) * len(r.spans) // spans) for r in resources]
        try:  # off the event loop: it writes to the lake
            rejected, reason = await run_in_threadpool(receiver.add_request, parts)
        except Exception as exc:  # the spans it cannot keep must come again (a 500 is not)
            if not storage_failure(exc):
                raise
            log.error(f"OTLP receiver: cannot keep the spans in the lake: {exc}")
            message = f"cannot keep the spans in the lake ({exc}); retry later"
            return failure(503, wire.UNAVAILABLE, message, **RETRY)
        receiver.stats["requests"] += 1
        return Response(wire.success(kind, rejected, reason), 200, media_type=kind)

    return Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (a host name: where it points is not ours to know)."""
    import ipaddress

    if host.lower().removesuffix(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """The host of a Host header, lower case and without a root's dot: `[::1]:4318` → `::1`,
    `LocalHost.:4318` → `localhost`."""
    if header.startswith("["):
        return header[1:].partition("]")[0].lower()
    host = header.rpartition(":")[0] if header.count(":") == 1 else header
    return host.lower().removesuffix(".")


READING_AT_ONCE = 4
"""Requests read and decoded at once; the others wait their turn (an exporter's timeout is ten
seconds): sixteen bodies of 64 MiB at once held a gigabyte."""

BODY_READ_S = 30.0
"""A request whose body has not all arrived this long after its turn came is answered 408: a
client that sends slowly, or stops, held its reading slot for ever, and four of them kept every
other client out."""


def serve(
    lake: str,
    *,
    host: str = "127.0.0.1",
    port: int = 4318,
    app_id: str | None = None,
    ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    receiver_options: dict[str, Any] | None = None,
    allowed_hosts: Collection[str] = (),
) -> None:
    """Receive OTLP/HTTP traces into `lake` until SIGINT/SIGTERM (or `stop` is set).

    Calls `ready(url)` once the port is bound and listening (port 0 picks a free one). On the
    way out every waiting trace is mapped and the loggers are flushed, so a clean shutdown loses
    nothing that was acknowledged.
    """
    receiver = OtlpReceiver(lake, app_id=app_id, **(receiver_options or {}))
    run(receiver, host=host, port=port, ready=ready, stop=stop, allowed_hosts=allowed_hosts)


def run(
    receiver: OtlpReceiver,
    *,
    host: str = "127.0.0.1",
    port: int = 4318,
    ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    allowed_hosts: Collection[str] = (),
) -> None:
    """`serve` with a receiver of the caller's (who reads its stats and days afterwards);
    closes it on the way out."""
    import uvicorn

    try:
        config = uvicorn.Config(
            create_app(receiver, loopback=is_loopback(host), allowed_hosts=allowed_hosts),
            host=host,
            port=port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=10,
        )
        server = _server(config)
        sock = _listen(host, port, config.backlog)
        bound_host, bound_port = sock.getsockname()[:2]
        url = f"http://{'[' + bound_host + ']' if ':' in bound_host else bound_host}:{bound_port}"
        with _stop_when(stop, server):
            if ready is not None:
                ready(url)
            server.run(sockets=[sock])
    finally:
        receiver.close()


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    """A listening socket: connections queue from here on, before the server's loop runs, and a
    port in use is an OSError for the caller (uvicorn's own binding exits the process)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _server(config: Any) -> Any:
    """uvicorn's server, except that a signal ends `serve` normally: uvicorn raises the signal
    again after its shutdown, and a SIGTERM raised again would end the process before the
    loggers are flushed."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    return Server(config)


@contextlib.contextmanager
def _stop_when(stop: threading.Event | None, server: Any) -> Iterator[None]:
    """Ask the server to exit when `stop` is set (for callers that run it in a thread)."""
    if stop is None:
        yield
        return
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            if stop.wait(0.1):
                server.should_exit = True
                return

    watcher = threading.Thread(target=watch, name="ta-otlp-stop", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        done.set()
        watcher.join()
