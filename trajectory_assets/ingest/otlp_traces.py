"""What the OTLP receiver holds of a trace while it waits, is mapped and lingers for late spans.

Kept apart from the receiver: the state of one trace, and the checks of a span as it comes in,
are what a reader of the receiver's bookkeeping (`otlp.OtlpReceiver`) needs to see first.
"""

import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.importers.otel_spans import Span
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import id_problem
from trajectory_assets.lake.quarantine import keep_rejected
from trajectory_assets.lake.raw_write import storable
from trajectory_assets.schema import RAW_EVENTS

log = logging.getLogger("trajectory_assets.ingest.otlp")

MAX_KNOWN_SESSIONS = 200_000  # a long-running receiver's memory of sessions, each kind

START, END = "session_start", "session_end"
"""The event a trace's root gives the true values of (its end and status); its start is
written at once, since it carries the turn a trace begins at, which later requests read."""

LOGGED_COLUMNS = tuple(
    c for c in RAW_EVENTS.names if c not in ("app_id", "session_id", "event_type")
)
"""What a row gives `EventLogger.log` by keyword: every raw column but the logger's app and
the session and type it takes apart."""


@dataclass
class Trace:
    spans: dict[str, Span] = field(default_factory=dict)
    last_seen: float = 0.0
    bytes: int = 0  # of the requests its spans came in, all it holds
    waiting: int = 0  # spans added since it was last mapped
    waiting_bytes: int = 0  # and their bytes
    has_root: bool = False
    logged: set[str] = field(default_factory=set)  # event ids already given to the logger
    unended: bool = False  # mapped without its root: its session's end not logged yet
    session: str | None = None  # the session its events were logged under
    start_written: bool = False
    end_written: bool = False
    entries: set[int] = field(default_factory=set)  # of the write-ahead log, not yet released
    unlogged: bool = False  # an event its logger dropped at the last mapping (a full buffer)
    noted: bool = False  # its session is in the write-ahead log (`Acknowledged.note_session`)
    letting_go: bool = False  # let go of: its end is written without its root
    retries: int = 0  # mappings again for events its logger dropped

    def add_span(self, span: Span, weight: int, now: float) -> list[str] | None:
        """Take a span come in (`weight`: the bytes it came in); None when it is new, else how
        it differs from the one of its id the trace holds (nothing: the same span, sent
        again)."""
        self.last_seen = now
        self.has_root = self.has_root or span.parent_id is None
        known = self.spans.get(span.span_id)
        if known is not None:
            return known.differences(span)
        self.spans[span.span_id] = span
        self.bytes += weight
        self.waiting += 1
        self.waiting_bytes += weight
        return None


class Snapshot(NamedTuple):
    """A trace's spans when it was taken to be mapped (more may come meanwhile), and the
    write-ahead log's entries they came in."""

    spans: list[Span]
    has_root: bool
    entries: frozenset[int]


Mapped = tuple[tuple[str, str], Snapshot, Trace]
"""A trace taken to be mapped: its key (app, trace id), its spans then, and its state."""


Parts = Sequence[tuple[str, list[dict[str, Any]], int]]
"""A request's spans by resource: (app, spans as received, the bytes they weigh)."""
Taken = list[tuple[str, list[tuple[Span, dict[str, Any]]], int]]
"""A request's spans that can be read, by resource: (app, [(span, as received)], the bytes each
span weighs)."""
Refused = dict[str, list[tuple[str, dict[str, Any]]]]
"""A request's spans that cannot be taken, by app: [(why, as received)]."""


def received_monotonic(received_at: str | None) -> float:
    """When spans came, on this process's monotonic clock: now, or when an earlier receiver
    took them (`received_at`, ISO): spans taken in from a stopped receiver's log keep their age,
    so a trace whose root never came is let go of after `linger_s` from then, not from each
    restart (short runs of `serve` carried it from one to the next)."""
    now = time.monotonic()
    try:
        then = dt.datetime.fromisoformat(received_at).timestamp() if received_at else None
    except ValueError:  # a log written by hand: taken as now
        then = None
    return now if then is None else now - max(0.0, time.time() - then)


def read_request(parts: Parts) -> tuple[Taken, Refused]:
    """A request's (app, spans as received, the bytes they weigh) split into what can be taken
    and what cannot (an app id no folder can hold: `service.name` is the client's to say)."""
    taken: Taken = []
    refused: Refused = {}
    for app, raw_spans, nbytes in parts:
        if unnamed := id_problem("app_id", app):
            refused.setdefault(app, []).extend((unnamed, raw) for raw in raw_spans)
            continue
        spans, bad = read_spans(raw_spans)
        refused.setdefault(app, []).extend(bad)
        taken.append((app, spans, nbytes // max(1, len(raw_spans))))
    return taken, refused


def logged_records(taken: Taken) -> dict[str, list[dict[str, Any]]]:
    """A request's spans as its write-ahead log entry keeps them, by app (two resources may
    name one), the trace id as read, as `forget` compares it."""
    records: dict[str, list[dict[str, Any]]] = {}
    for app, spans, _weight in taken:
        for span, raw in spans:
            records.setdefault(app, []).append({**raw, "traceId": span.trace_id})
    return records


def written_sessions(
    taken: Taken, written_under: Callable[[tuple[str, str]], str | None]
) -> dict[str, dict[str, str]]:
    """By app, the sessions the request's traces already written went to (a late span, taken
    in again without its root, goes to its trace's session)."""
    sessions: dict[str, dict[str, str]] = {}
    for app, spans, _weight in taken:
        for span, _raw in spans:
            if (session := written_under((app, span.trace_id))) is not None:
                sessions.setdefault(app, {})[span.trace_id] = session
    return sessions


def trace_rows(rows: list[dict[str, Any]], trace: Trace) -> list[dict[str, Any]]:
    """A trace's rows under the session its first events went to, checked all or none (a trace
    is rejected whole): a session id no folder holds, or a value no raw column holds, which its
    logger would leave out of its write (and its entries would wait for ever)."""
    for row in rows:
        row["session_id"] = trace.session or row["session_id"]
        if unnamed := id_problem("session_id", row["session_id"]):
            raise UnparseableFileError(unnamed)
    if unfit := storable(rows)[1]:
        raise UnparseableFileError(unfit[0][1])
    return rows


def keep_trace_rejected(
    lake: Lake, app: str, trace_id: str, trace: Trace, spans: list[Span], exc: Exception
) -> int:
    """Keep a trace that could not be written in the lake's rejected input, its spans as the
    receiver read them (the client was told they were taken), and say why; how many."""
    reason = f"trace {trace_id} could not be written: {type(exc).__name__}: {exc}"
    if trace.logged:
        reason += f" (its {len(trace.logged)} events written before stay)"
    records = [{s: getattr(span, s) for s in Span.__slots__} for span in spans]
    keep_rejected(lake, "otlp", app, [(reason, r) for r in records])
    if isinstance(exc, UnparseableFileError | ValueError):
        log.error("OTLP receiver: app %s: %s", app, reason)
    else:  # a bug: its traceback
        log.exception("OTLP receiver: app %s: %s", app, reason)
    return len(records)


def read_spans(
    raw_spans: list[dict[str, Any]],
) -> tuple[list[tuple[Span, dict[str, Any]]], list[tuple[str, dict[str, Any]]]]:
    """(span, as received) of the spans that can be read, and (why, as received) of the
    others."""
    spans: list[tuple[Span, dict[str, Any]]] = []
    rejected: list[tuple[str, dict[str, Any]]] = []
    for raw in raw_spans:
        try:
            wire_ids(raw)
            spans.append((Span(raw), raw))
        except (UnparseableFileError, ValueError, TypeError, RecursionError) as exc:
            rejected.append((str(exc), raw))
    return spans, rejected


def wire_ids(raw: dict[str, Any]) -> None:
    """OTLP sends ids of 16 and 8 bytes (32 and 16 hex digits); a file's may lack leading zeros,
    a request's may not (a 3-byte id is no trace's)."""
    for key, width in (("traceId", 32), ("spanId", 16)):
        value = raw.get(key)
        if isinstance(value, str) and value and len(value) != width:
            raise UnparseableFileError(
                f"span {raw.get('name')!r} has a {key} of {len(value)} hex digits; OTLP's are "
                f"{width}"
            )


class SessionDays:
    """The days the receiver's sessions landed on, to say what to materialize: a session lands
    under the day of the first event its logger sees (see `logger`)."""

    def __init__(self) -> None:
        self.days: set[str] = set()
        self._sessions: OrderedDict[tuple[str, str], None] = OrderedDict()

    def note(self, app: str, row: dict[str, Any]) -> None:
        key = (app, row["session_id"])
        if key in self._sessions:
            return
        self._sessions[key] = None
        if len(self._sessions) > MAX_KNOWN_SESSIONS:
            self._sessions.popitem(last=False)
        self.days.add(row["ts"].date().isoformat())


def keep_all_rejected(lake: Lake, by_app: Refused) -> None:
    """Spans that cannot be taken, kept in the lake's rejected input with the reason, a file
    an app."""
    for app, rejected in by_app.items():
        if rejected:
            keep_rejected(lake, "otlp", app, rejected)
