"""A live OTLP/HTTP trace receiver that writes spans into the raw lake (`serve`, `otlp_http`).

    otlp_http.serve("s3://bucket/lake")  # http://127.0.0.1:4318/v1/traces until SIGINT/SIGTERM
    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318 python my_agent.py

Agent frameworks export OpenTelemetry already; pointed at this receiver, their spans become
Tier A events by the rules of the `otel` file importer (`importers.otel.trace_events`), written
through an `EventLogger` per app (the app id given, else each resource's `service.name`).

Why traces are held before they are mapped: a span's events depend on its whole trace (the
session id may sit on the root span, a wrapper LLM span is only known as one from the span
below it, turns count the model calls of the trace in time order), and exporters send spans
in batches as they end, children before parents. So spans wait in memory per trace and a trace
is mapped once its root span has arrived and nothing came for `settle_s`, or after `idle_s`
of silence without a root (a trace whose root is exported elsewhere, or an agent still running
a long tool: its root ends last), or at shutdown. Spans that arrive after their trace was mapped
are mapped with it again and only the events that are new get logged (events already written
are not rewritten: the lake is append-only), all under the session its first events went to
(a conversation id on the root alone, come later, would split it). So a trace mapped without
its root logs its session's end only once the root has come (it holds the true end and
status), or when the trace is let go of; at a stop it waits in the write-ahead log. Event ids
are the file importer's (trace, span, role), and the loggers drop events already in the lake,
so a batch an exporter sends twice, also across restarts, adds nothing. What waits in memory
is in the lake's write-ahead log too, until written (`otlp_acks`), for the next receiver.
"""

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from trajectory_assets.ingest.importers.otel import numbered_events, started
from trajectory_assets.ingest.importers.otel_spans import Span, reused_reason, spans_app
from trajectory_assets.ingest.logger import LoggerStats
from trajectory_assets.ingest.otlp_acks import Acknowledged
from trajectory_assets.ingest.otlp_loggers import MAX_OPEN_APPS, AppLoggers
from trajectory_assets.ingest.otlp_traces import (
    END,
    LOGGED_COLUMNS,
    MAX_KNOWN_SESSIONS,
    START,
    Mapped,
    Parts,
    SessionDays,
    Snapshot,
    Trace,
    keep_all_rejected,
    keep_trace_rejected,
    logged_records,
    read_request,
    received_monotonic,
    trace_rows,
    written_sessions,
)
from trajectory_assets.ingest.otlp_turns import AppTurns
from trajectory_assets.lake.fs import lake_from_env

log = logging.getLogger(__name__)

RETRY_S = 1.0  # before a trace with an event its logger dropped is mapped again


class OtlpReceiver:
    """Holds received spans per trace, maps complete traces and logs their events."""

    def __init__(
        self,
        lake: str,
        *,
        app_id: str | None = None,
        settle_s: float = 2.0,
        idle_s: float = 300.0,
        linger_s: float = 600.0,
        max_pending_spans: int = 1_000_000,
        max_pending_bytes: int = 256 << 20,
        max_done_bytes: int = 64 << 20,
        max_done_traces: int = 100_000,
        max_request_spans: int = 100_000,
        max_open_apps: int = MAX_OPEN_APPS,
        logger_options: dict[str, Any] | None = None,
        write_ahead: bool = True,
    ) -> None:
        self.lake = lake
        self._lake = lake_from_env(lake)
        self.app_id = app_id
        self.settle_s = settle_s
        self.idle_s = idle_s
        self.linger_s = linger_s
        self.max_pending_spans = max_pending_spans
        self.max_pending_bytes = max_pending_bytes  # as received: memory holds a few times that
        self.max_done_bytes = max_done_bytes  # of mapped traces kept for their late spans
        self.max_done_traces = max_done_traces
        self.max_request_spans = max_request_spans  # a request of more is refused (413)
        self._lock = threading.Lock()
        self._map_lock = threading.Lock()  # one mapping at a time (the thread's, close's, a test's)
        self._pending: dict[tuple[str, str], Trace] = {}
        self._done: OrderedDict[tuple[str, str], Trace] = OrderedDict()
        self._pending_spans = 0  # the spans waiting to be mapped,
        self._pending_bytes = 0  # their bytes,
        self._done_bytes = 0  # and those of the mapped traces kept for late spans
        options = {"drop_existing": True, **(logger_options or {})}
        self._loggers = AppLoggers(lake, options, max_open_apps, self._forget_turns)
        self._turns = AppTurns(self._lake)
        self.stats = {"requests": 0, "spans": 0, "rejected_spans": 0, "traces": 0, "events": 0}
        self.stats["taken_in"] = 0  # spans a receiver stopped before writing them acknowledged
        self._session_days = SessionDays()
        self.days = self._session_days.days  # of the sessions logged, to materialize
        self._ended: OrderedDict[tuple[str, str], tuple[str, bool]] = OrderedDict()  # let go
        self._mapping: dict[tuple[str, str], Trace] = {}  # being mapped or let go of now
        self._acks: Acknowledged | None = None
        if write_ahead:
            self._acks = Acknowledged(self._lake, self._lock, self._add, self._pending.get)
        self._keep_up(time.monotonic(), take_over=True)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ta-otlp-traces", daemon=True)
        self._thread.start()

    # ----------------------------------------------------------------- receiving (any thread)
    def overloaded(self) -> bool:
        """Too much waits to be mapped: by spans, or by bytes (a few spans of 40 MB names held
        gigabytes while their trace waited)."""
        return (
            self._pending_spans >= self.max_pending_spans
            or self._pending_bytes >= self.max_pending_bytes
        )

    def add(
        self, service: str | None, raw_spans: list[dict[str, Any]], nbytes: int = 0
    ) -> tuple[int, str]:
        """`add_request` of one resource's spans."""
        return self.add_request([(service, raw_spans, nbytes)])

    def add_request(
        self, resources: Sequence[tuple[str | None, list[dict[str, Any]], int]]
    ) -> tuple[int, str]:
        """Take a request's spans, resource by resource (its `service.name`, its spans, the
        bytes they weigh of the request), keeping those it cannot read in the lake's rejected
        input (`lake/quarantine.py`) and the others in one entry of its write-ahead log (one
        a resource took a write each: a collector's request of 100 services, 100); returns
        (rejected spans, the first reason).

        A span sent again (an exporter's retry) is the same span and adds nothing; a span whose
        id its trace already holds with other content is rejected (the first one is kept, and
        events already written are never rewritten), rather than dropped without a word."""
        return self._add([(spans_app(self.app_id, s), raw, n) for s, raw, n in resources])

    def _add(self, parts: Parts, received_at: str | None = None) -> tuple[int, str]:
        now = received_monotonic(received_at)  # (taken in from a stopped receiver: then)
        taken, rejected = read_request(parts)
        keep_all_rejected(self._lake, rejected)  # before the client hears: none comes again
        entry: int | None = None
        noted: dict[str, dict[str, str]] = {}
        if self._acks is not None and (records := logged_records(taken)):
            with self._lock:
                noted = written_sessions(taken, self._written_under)
            entry = self._acks.write(records, noted, received_at)
        reused: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        unnoted: dict[tuple[str, str], Trace] = {}  # written meanwhile: noted below
        with self._lock:
            for app, spans, weight in taken:
                for span, raw in spans:
                    trace = self._joined((app, span.trace_id))
                    differ = trace.add_span(span, weight, now)
                    if differ is None:
                        self._pending_spans += 1
                        self._pending_bytes += weight
                    elif differ:
                        reused.setdefault(app, []).append((reused_reason(span, differ), raw))
                    if entry is not None and self._acks is not None:
                        self._acks.hold(trace, (app, span.trace_id), entry)
                        if trace.session not in (None, noted.get(app, {}).get(span.trace_id)):
                            unnoted[app, span.trace_id] = trace
            bad = [b for kept in (rejected, reused) for by_app in kept.values() for b in by_app]
            self.stats["spans"] += sum(len(spans) for _a, spans, _w in taken)
            self.stats["spans"] -= sum(len(by_app) for by_app in reused.values())
            self.stats["rejected_spans"] += len(bad)
        keep_all_rejected(self._lake, reused)
        for (app, trace_id), trace in unnoted.items():
            if self._acks is not None:
                self._acks.note_session(app, trace_id, trace, again=True)
        return len(bad), bad[0][0] if bad else ""

    def _written_under(self, key: tuple[str, str]) -> str | None:
        """The session a trace's events were written under, if any were (under the lock)."""
        trace = self._pending.get(key) or self._mapping.get(key) or self._done.get(key)
        return trace.session if trace else self._ended.get(key, (None, False))[0]

    def _joined(self, key: tuple[str, str]) -> Trace:
        """The trace a span joins (under the lock): one waiting, or being mapped or let go of
        (its new spans are mapped next), or mapped and kept for late spans, or a new one."""
        trace = self._pending.get(key)
        if trace is None:
            trace = self._mapping.get(key)
            done = self._done.pop(key, None)  # (close's let-go leaves its traces there)
            if done is not None:
                self._done_bytes -= done.bytes
            if trace is None:
                trace = done or self._back(key)
            self._pending[key] = trace
        return trace

    # ------------------------------------------------------------------ mapping (own thread)
    def _run(self) -> None:
        while not self._stop.wait(min(0.5, max(0.05, self.settle_s / 2))):  # no busy loop
            try:
                self.map_ready()
            except Exception:  # the thread must survive anything
                log.exception("OTLP receiver: mapping traces failed")
            self._keep_up(time.monotonic())

    def _keep_up(self, now: float, *, take_over: bool = False) -> None:
        if self._acks is not None:
            self.stats["taken_in"] += self._acks.keep_up(now, take_over=take_over)

    def map_ready(self, *, everything: bool = False) -> int:
        """Map the traces that are complete (all of them with `everything`); returns how many."""
        with self._map_lock:
            return self._map_ready(everything)

    def _map_ready(self, everything: bool) -> int:
        now = time.monotonic()
        with self._lock:
            ready = [
                key
                for key, trace in self._pending.items()
                if everything or now - trace.last_seen >= self._quiet_s(trace)
            ]
            traces = [(key, self._pending.pop(key)) for key in ready]
            for _key, trace in traces:
                self._pending_spans -= trace.waiting  # a trace back for a late span holds more
                self._pending_bytes -= trace.waiting_bytes
                trace.waiting = trace.waiting_bytes = 0
            mapped = self._take(traces)
        mapped.sort(key=lambda item: started(item[1].spans))
        self._turns.recall(mapped)
        ending = everything and self._acks is None  # (a stop with a log: rootless ones wait)
        self._log_all(mapped, ended=ending)
        let_go: list[tuple[tuple[str, str], Trace]] = []
        with self._lock:
            for key, trace in traces:
                del self._mapping[key]
                if key in self._pending:  # spans came meanwhile: mapped again, all of them
                    continue
                if trace.unlogged and not everything:  # its logger's buffer was full
                    self._retry(key, trace, now)
                    continue
                self._done[key] = trace
                self._done_bytes += trace.bytes
            cutoff = now - self.linger_s
            while self._done and (  # bounded in bytes too: mapped traces hold their spans
                len(self._done) > self.max_done_traces
                or self._done_bytes > self.max_done_bytes
                or next(iter(self._done.values())).last_seen < cutoff
            ):
                key, trace = self._done.popitem(last=False)
                self._done_bytes -= trace.bytes
                let_go.append((key, trace))
            if ending:  # shutdown: no root will come for those still without one
                let_go += list(self._done.items())
            self.stats["traces"] += len(traces)
            self._mapping.update(let_go)  # all: a late span joins its trace, not a fresh one
            unended = self._take([(k, t) for k, t in let_go if t.unended or t.unlogged])
        self._let_go(let_go, unended)
        return len(traces)

    def _let_go(self, let_go: list[tuple[tuple[str, str], Trace]], unended: list[Mapped]) -> None:
        """Writes the end of those let go of still without one and remembers the sessions of
        all (in flight meanwhile, taken so under the lock that let them go)."""
        self._turns.recall(unended)
        self._log_all(unended, ended=True)
        with self._lock:
            for key, trace in let_go:  # its root, come later, writes no second end
                self._mapping.pop(key, None)
                if key not in self._pending and trace.unlogged:  # its logger's buffer was full
                    trace.letting_go = True
                    self._retry(key, trace, time.monotonic())
                elif key not in self._pending and trace.start_written and trace.session:
                    self._ended[key] = (trace.session, trace.end_written)
            while len(self._ended) > MAX_KNOWN_SESSIONS:
                self._ended.popitem(last=False)

    def _quiet_s(self, trace: Trace) -> float:
        """How long a trace waits after its last span before it is mapped: its root come, or
        being mapped again (an event its logger dropped), `settle_s`; else `idle_s`."""
        return self.settle_s if trace.has_root or trace.unlogged else self.idle_s

    def _retry(self, key: tuple[str, str], trace: Trace, now: float) -> None:
        """Map the trace again after RETRY_S, doubling at each try up to a minute, its spans
        counted as waiting (under the lock): a full logger's traces must weigh on
        `overloaded()` (the 503s), not pile up unseen, nor be mapped every round."""
        trace.retries += 1
        trace.last_seen = now + min(60.0, RETRY_S * 2 ** min(trace.retries - 1, 6))
        trace.waiting, trace.waiting_bytes = len(trace.spans), trace.bytes
        self._pending_spans += trace.waiting
        self._pending_bytes += trace.waiting_bytes
        self._pending[key] = trace

    def _take(self, traces: list[tuple[tuple[str, str], Trace]]) -> list[Mapped]:
        """The traces' spans as they are now, to map while `add()` may add to them (under the
        lock): a span that comes meanwhile finds its trace in `_mapping`, not a new one."""
        self._mapping.update(traces)
        return [
            (key, Snapshot(list(t.spans.values()), t.has_root, frozenset(t.entries)), t)
            for key, t in traces
        ]

    def _back(self, key: tuple[str, str]) -> Trace:
        """A trace met for the first time, or back after it was let go of: then under its
        session, its start (and end, if it was) written (under the lock)."""
        session, ended = self._ended.pop(key, (None, False))
        return Trace(session=session, start_written=session is not None, end_written=ended)

    def _log_all(self, traces: list[Mapped], *, ended: bool) -> None:
        for (app, trace_id), snapshot, trace in traces:
            try:  # one trace that cannot be written must not lose the others
                self._log(app, trace_id, trace, snapshot, ended=ended)
            except Exception as exc:
                try:
                    self._reject(app, trace_id, trace, snapshot.spans, exc)
                except Exception as kept:  # the lake takes nothing: the others still go on
                    log.error(
                        "OTLP receiver: app %s: trace %s (%d spans) could not be written (%s) "
                        "nor kept aside (%s): its spans stay in the write-ahead log",
                        *(app, trace_id, len(snapshot.spans), exc, kept),
                    )
                    continue
            if self._acks is not None:
                self._acks.written(trace, (app, trace_id), snapshot, self._loggers.open.get(app))

    def _log(
        self, app: str, trace_id: str, trace: Trace, snapshot: Snapshot, *, ended: bool
    ) -> None:
        """Logs the trace's events not logged before, under the session its first ones went
        to; its session's end only once its root has come or, `ended`, nothing more will come
        (a trace back after it was let go of with its end written writes none again)."""
        rows = trace_rows(numbered_events(trace_id, snapshot.spans, self._turns.of(app)), trace)
        logger = self._loggers.get(app)
        trace.unended = not (snapshot.has_root or ended or trace.letting_go)
        trace.unlogged = False
        for row in rows:
            kind = row["event_type"]
            if row["event_id"] in trace.logged or (kind == START and trace.start_written):
                continue
            if kind == END and (trace.unended or trace.end_written):
                continue
            fields = {name: row[name] for name in LOGGED_COLUMNS}
            if logger.log(row["session_id"], kind, **fields) is None:  # its buffer is full
                trace.unlogged = True  # tried again when the trace is mapped again
                continue
            trace.start_written |= kind == START
            trace.end_written |= kind == END
            trace.session = row["session_id"]
            self._session_days.note(app, row)
            trace.logged.add(row["event_id"])
            self.stats["events"] += 1
        trace.retries = trace.retries if trace.unlogged else 0
        if trace.unended and self._acks is not None:  # (note_session notes a trace once)
            self._acks.note_session(app, trace_id, trace)

    def _reject(
        self, app: str, trace_id: str, trace: Trace, spans: list[Span], exc: Exception
    ) -> None:
        """Keep a trace that could not be written in the lake's rejected input, its spans as
        the receiver read them: the client was told they were taken."""
        trace.unended = trace.unlogged = False  # rejected whole: not again when let go of
        trace.retries = 0
        kept = keep_trace_rejected(self._lake, app, trace_id, trace, spans, exc)
        with self._lock:
            self.stats["rejected_spans"] += kept

    def _forget_turns(self, app: str) -> None:
        """An app whose logger was closed for another: its turns are read again if it returns,
        but kept while traces of it are being mapped (`recall` read them for those)."""
        with self._lock:
            mapping = any(key[0] == app for key in self._mapping)
        if not mapping:
            self._turns.forget(app)

    def close(self, timeout: float | None = None) -> None:
        """Map every waiting trace and write everything out; idempotent."""
        self._stop.set()
        self._thread.join()
        try:
            self.map_ready(everything=True)
        finally:  # what the loggers hold is written whatever the mapping met
            self._loggers.close(timeout)
            if self._acks is not None:
                self._acks.close()

    def logger_stats(self) -> list[LoggerStats]:
        """Each open logger's stats, and the sum of those closed for other apps."""
        return self._loggers.stats()

    def failing_writes(self) -> str | None:
        """The last error of an app's writes that fail now (the lake's disk full, its store
        down), else None: spans taken meanwhile could only wait in memory, acknowledged, and
        were lost if the receiver stopped before the lake came back."""
        return self._loggers.failing()
