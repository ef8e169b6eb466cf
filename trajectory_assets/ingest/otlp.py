"""A live OTLP/HTTP trace receiver that writes spans into the raw lake.

    serve("s3://bucket/lake")                 # http://127.0.0.1:4318/v1/traces until SIGINT/SIGTERM
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python my_agent.py

Agent frameworks export OpenTelemetry already; pointed at this receiver, their spans become
Tier A events by the rules of the `otel` file importer (`importers.otel.trace_events`), written
through an `EventLogger` per app (the app id given, else each resource's `service.name`).

Why traces are held before they are mapped: a span's events depend on its whole trace (the
session id may sit on the root span, a wrapper LLM span is only known as one from the span
below it, turns count the model calls of the trace in time order), and exporters send spans
in batches as they end, children before parents. So spans wait in memory per trace and a trace
is mapped once its root span has arrived and nothing came for `settle_s`, or after `idle_s`
of silence without a root (a trace whose root is exported elsewhere), or at shutdown. Spans
that arrive after their trace was mapped are mapped with it again and only the events that are
new get logged (events already written are not rewritten: the lake is append-only). Event ids
are the file importer's (trace, span, role), and the loggers drop events already in the lake,
so a batch an exporter sends twice, also across restarts, adds nothing.

HTTP: POST /v1/traces with a protobuf or JSON body (gzip or deflate allowed); 200 with an
ExportTraceServiceResponse (partial_success counts spans that could not be read), 400 for a
body that cannot be decoded, 413 for one above `max_body_bytes`, 415 for another content type
or encoding, 503 (retryable) while more than `max_pending_spans` wait, 404 for other paths and
405 for other methods. A clean shutdown maps every waiting trace and flushes the loggers.
"""

import contextlib
import logging
import signal
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from trajectory_assets.errors import BadRequestError, UnparseableFileError
from trajectory_assets.ingest.importers.otel import trace_events
from trajectory_assets.ingest.importers.otel_spans import Span
from trajectory_assets.ingest.logger import EventLogger
from trajectory_assets.lake.fs import lake_from_env
from trajectory_assets.lake.quarantine import keep_rejected

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

log = logging.getLogger(__name__)

DEFAULT_APP = "otel"
MAX_KNOWN_SESSIONS = 200_000
_LOGGED_COLUMNS = (
    "ts",
    "turn_index",
    "agent_id",
    "request_id",
    "model",
    "tool_name",
    "ttft_ms",
    "latency_ms",
    "tool_latency_ms",
    "input_tokens",
    "output_tokens",
    "cache_tokens",
    "error_type",
    "error_code",
    "payload",
    "artifacts",
    "event_id",
    "seq",
)


@dataclass
class _Trace:
    spans: dict[str, Span] = field(default_factory=dict)
    last_seen: float = 0.0
    has_root: bool = False
    logged: set[str] = field(default_factory=set)  # event ids already given to the logger


class OtlpReceiver:
    """Holds received spans per trace, maps complete traces and logs their events."""

    def __init__(
        self,
        lake: str,
        *,
        app_id: str | None = None,
        settle_s: float = 2.0,
        idle_s: float = 30.0,
        linger_s: float = 600.0,
        max_pending_spans: int = 1_000_000,
        max_done_traces: int = 100_000,
        logger_options: dict[str, Any] | None = None,
    ) -> None:
        self.lake = lake
        self._lake = lake_from_env(lake)
        self.app_id = app_id
        self.settle_s = settle_s
        self.idle_s = idle_s
        self.linger_s = linger_s
        self.max_pending_spans = max_pending_spans
        self.max_done_traces = max_done_traces
        self._logger_options = {"drop_existing": True, **(logger_options or {})}
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], _Trace] = {}
        self._done: OrderedDict[tuple[str, str], _Trace] = OrderedDict()
        self._pending_spans = 0
        self._loggers: dict[str, EventLogger] = {}
        self.stats = {"requests": 0, "spans": 0, "rejected_spans": 0, "traces": 0, "events": 0}
        self.days: set[str] = set()  # the days (dt) of the sessions logged, to materialize
        self._sessions: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ta-otlp-traces", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- receiving (any thread)
    def overloaded(self) -> bool:
        return self._pending_spans >= self.max_pending_spans

    def add(self, service: str | None, raw_spans: list[dict[str, Any]]) -> tuple[int, str]:
        """Take the spans of one resource, keeping those it cannot read in the lake's rejected
        input (`lake/quarantine.py`); returns (rejected spans, the first reason)."""
        app = self.app_id or service or DEFAULT_APP
        now = time.monotonic()
        spans: list[Span] = []
        rejected: list[tuple[str, dict[str, Any]]] = []
        for raw in raw_spans:
            try:
                spans.append(Span(raw))
            except (UnparseableFileError, ValueError, TypeError) as exc:
                rejected.append((str(exc), raw))
        if rejected:  # kept before the client hears of them: it will not send them again
            keep_rejected(self._lake, "otlp", app, rejected)
        with self._lock:
            self.stats["spans"] += len(spans)
            self.stats["rejected_spans"] += len(rejected)
            for span in spans:
                key = (app, span.trace_id)
                trace = self._pending.get(key)
                if trace is None:
                    trace = self._done.pop(key, None) or _Trace()
                    self._pending[key] = trace
                if span.span_id not in trace.spans:
                    trace.spans[span.span_id] = span
                    self._pending_spans += 1
                trace.last_seen = now
                trace.has_root = trace.has_root or span.parent_id is None
        return len(rejected), rejected[0][0] if rejected else ""

    # ------------------------------------------------------------------ mapping (own thread)
    def _run(self) -> None:
        while not self._stop.wait(min(0.5, self.settle_s / 2)):
            try:
                self.map_ready()
            except Exception:  # the thread must survive anything
                log.exception("OTLP receiver: mapping traces failed")

    def map_ready(self, *, everything: bool = False) -> int:
        """Map the traces that are complete (all of them with `everything`); returns how many."""
        now = time.monotonic()
        with self._lock:
            ready = [
                key
                for key, trace in self._pending.items()
                if everything
                or now - trace.last_seen >= (self.settle_s if trace.has_root else self.idle_s)
            ]
            traces = [(key, self._pending.pop(key)) for key in ready]
            for _key, trace in traces:
                self._pending_spans -= len(trace.spans)
        for (app, trace_id), trace in traces:
            self._log(app, trace_id, trace)
        with self._lock:
            for key, trace in traces:
                self._done[key] = trace
            cutoff = now - self.linger_s
            while self._done and (
                len(self._done) > self.max_done_traces
                or next(iter(self._done.values())).last_seen < cutoff
            ):
                self._done.popitem(last=False)
            self.stats["traces"] += len(traces)
        return len(traces)

    def _log(self, app: str, trace_id: str, trace: _Trace) -> None:
        logger = self._logger(app)
        try:
            rows = list(trace_events(trace_id, list(trace.spans.values())))
        except Exception:
            log.exception("OTLP receiver: trace %s of app %s could not be mapped", trace_id, app)
            return
        for row in rows:
            if row["event_id"] in trace.logged:
                continue
            trace.logged.add(row["event_id"])
            self._note_day(app, row)
            fields = {name: row[name] for name in _LOGGED_COLUMNS}
            logger.log(row["session_id"], row["event_type"], **fields)
            self.stats["events"] += 1

    def _note_day(self, app: str, row: dict[str, Any]) -> None:
        """A session lands under the day of the first event its logger sees (see `logger`)."""
        key = (app, row["session_id"])
        if key in self._sessions:
            return
        self._sessions[key] = None
        if len(self._sessions) > MAX_KNOWN_SESSIONS:
            self._sessions.popitem(last=False)
        self.days.add(row["ts"].date().isoformat())

    def _logger(self, app: str) -> EventLogger:
        logger = self._loggers.get(app)
        if logger is None:
            logger = EventLogger(self.lake, app, **self._logger_options)
            self._loggers[app] = logger
        return logger

    def close(self, timeout: float | None = None) -> None:
        """Map every waiting trace and write everything out; idempotent."""
        self._stop.set()
        self._thread.join()
        self.map_ready(everything=True)
        for logger in list(self._loggers.values()):
            logger.close(timeout)

    def logger_stats(self) -> dict[str, dict[str, Any]]:
        return {app: logger.stats() for app, logger in self._loggers.items()}


# ---------------------------------------------------------------------------------- HTTP
def create_app(receiver: OtlpReceiver, *, max_body_bytes: int = 64 << 20) -> "Starlette":
    """The Starlette application: POST /v1/traces, nothing else."""
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.routing import Route

    from trajectory_assets.ingest import otlp_decode as wire

    async def traces(request: "Request") -> "Response":
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
        body = await request.body()
        if len(body) > max_body_bytes:
            return failure(413, wire.INVALID_ARGUMENT, too_large)
        try:
            body = wire.decompress(body, request.headers.get("content-encoding"))
            resources = wire.decode(body, kind)
        except BadRequestError as exc:
            return failure(400, wire.INVALID_ARGUMENT, str(exc))
        except ValueError as exc:  # an unsupported Content-Encoding
            return PlainTextResponse(str(exc), 415)
        if receiver.overloaded():
            message = "too many spans waiting to be written; retry later"
            return failure(503, wire.UNAVAILABLE, message, **{"Retry-After": "5"})
        rejected, reason = 0, ""
        try:
            for resource in resources:  # off the event loop: it may write rejected spans
                bad, why = await run_in_threadpool(receiver.add, resource.service, resource.spans)
                rejected += bad
                reason = reason or why
        except OSError as exc:  # the spans it cannot keep must come again (the rest are known)
            log.error(f"OTLP receiver: cannot keep rejected spans in the lake: {exc}")
            message = f"cannot keep rejected spans in the lake ({exc}); retry later"
            return failure(503, wire.UNAVAILABLE, message, **{"Retry-After": "5"})
        receiver.stats["requests"] += 1
        return Response(wire.success(kind, rejected, reason), 200, media_type=kind)

    return Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])


def serve(
    lake: str,
    *,
    host: str = "127.0.0.1",
    port: int = 4318,
    app_id: str | None = None,
    ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
    receiver_options: dict[str, Any] | None = None,
) -> None:
    """Receive OTLP/HTTP traces into `lake` until SIGINT/SIGTERM (or `stop` is set).

    Calls `ready(url)` once the port is bound and listening (port 0 picks a free one). On the
    way out every waiting trace is mapped and the loggers are flushed, so a clean shutdown loses
    nothing that was acknowledged.
    """
    receiver = OtlpReceiver(lake, app_id=app_id, **(receiver_options or {}))
    run(receiver, host=host, port=port, ready=ready, stop=stop)


def run(
    receiver: OtlpReceiver,
    *,
    host: str = "127.0.0.1",
    port: int = 4318,
    ready: Callable[[str], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """`serve` with a receiver of the caller's (who reads its stats and days afterwards);
    closes it on the way out."""
    import uvicorn

    try:
        config = uvicorn.Config(
            create_app(receiver),
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
