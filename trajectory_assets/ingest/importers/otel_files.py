"""Reading OTel spans from files, and traces whose spans are spread over several files
imported together.

An exporter that writes files (the SDK's batch processor, a Collector's file exporter) flushes
spans as they end, into the file of the moment: a trace's children land in one file and its
root, ending last, in the next. Mapped file by file, each piece was a session of its own trace
id: the piece imported first fixed the session's start, end and status (their event ids are
the trace's), each piece numbered its turns from 0 again, and the order of the files decided
the numbers. So a file's traces are mapped whole, with their spans from the other files of the
import, whichever file comes first; the other files then find the same events already there.
A piece imported by a later `ingest` is still a piece: import a trace's files together
(`serve` merges late spans in memory instead).
"""

import gzip
import json
import warnings
from collections.abc import Sequence
from pathlib import Path

from trajectory_assets.errors import UnparseableFileError
from trajectory_assets.ingest.common import (
    LeftOut,
    Unimportable,
    json_documents,
    json_error,
    read_text,
    unimportable,
)
from trajectory_assets.ingest.importers.otel_spans import Span, reused_reason, service_spans

ServiceSpan = tuple[str | None, Span]
"""A span and the app its resource's `service.name` names (`otel_spans.service_app`)."""


def load_spans(path: str | Path) -> tuple[list[ServiceSpan], int]:
    """The file's readable spans, and how many it holds that are not (`unimportable`)."""
    text = read_text(path)
    try:
        docs = [json.loads(text)]
    except json.JSONDecodeError as whole:  # JSON Lines, the SDK's console output, or broken
        try:
            docs = json_documents(text)
        except json.JSONDecodeError as where:  # the line that breaks, not the second one
            raise json_error(where, text) from None
        except RecursionError:
            raise UnparseableFileError("JSON nested too deeply") from None
        if len(docs) < 2:
            raise json_error(whole, text) from None
    except RecursionError:
        raise UnparseableFileError("JSON nested too deeply") from None
    spans, unread = [], 0
    for service, raw in (pair for doc in docs for pair in service_spans(doc)):
        try:
            span = Span(raw)
            span.raw = raw
            spans.append((service, span))
        except (UnparseableFileError, ValueError, TypeError, AttributeError, RecursionError) as exc:
            unread += 1  # as the receiver rejects a span; a field of the wrong JSON type too
            record = raw if isinstance(raw, dict) else {"span": raw}
            unimportable(f"span {record.get('spanId')!r:.40}: {exc}", record)
    return spans, unread


class TraceFiles:
    """The files of one import that may hold OTel spans, and which traces each holds (every
    file read once, when a trace is first looked up; files of other formats hold none)."""

    def __init__(self, paths: Sequence[str]) -> None:
        self._paths = sorted(set(paths))
        self._holders: dict[str, list[str]] | None = None
        self._recent: dict[str, list[ServiceSpan]] = {}

    def whole_traces(self, path: str, own: list[ServiceSpan]) -> list[ServiceSpan]:
        """`own`, the spans read from `path`, with the spans the other files hold of the same
        traces (`first_copies`)."""
        traces = {span.trace_id for _, span in own}
        holders = self._index()
        others = sorted({p for t in traces for p in holders.get(t, ()) if p != path})
        by_file = {path: own}
        for other in others:
            by_file[other] = [(s, sp) for s, sp in self._spans(other) if sp.trace_id in traces]
        return first_copies(path, by_file)

    def _index(self) -> dict[str, list[str]]:
        if self._holders is None:
            self._holders = {}
            for path in filter(_may_hold_spans, self._paths):
                for trace in {span.trace_id for _, span in self._spans(path)}:
                    self._holders.setdefault(trace, []).append(path)
        return self._holders

    def _spans(self, path: str) -> list[ServiceSpan]:
        """The readable spans of a file (none when it holds none: what it cannot read is its own
        import's to report), the last few files' kept: pieces of a trace are neighbours."""
        if path not in self._recent:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Unimportable)
                warnings.simplefilter("ignore", LeftOut)
                try:
                    self._recent[path] = load_spans(path)[0]
                except (OSError, UnparseableFileError, ValueError, TypeError, AttributeError):
                    self._recent[path] = []
            while len(self._recent) > 8:
                del self._recent[next(iter(self._recent))]
        return self._recent[path]


def first_copies(path: str, by_file: dict[str, list[ServiceSpan]]) -> list[ServiceSpan]:
    """Each span once, from the first file in path order that holds it (the same result
    whichever of the files is imported): a copy sent again is the same span, but a span of
    `path` that differs from the copy kept, in the file or an earlier one, is another span
    under a reused id, left out (`unimportable`, kept with the reason) as `serve` rejects it.
    Taking it silently billed a trace's calls to whichever model the file sorting first named."""
    kept: dict[tuple[str, str], tuple[str, Span]] = {}
    merged: list[ServiceSpan] = []
    for file in sorted(by_file):
        for service, span in by_file[file]:
            first = kept.setdefault((span.trace_id, span.span_id), (file, span))
            if first[1] is span:
                merged.append((service, span))
            elif file == path and (differences := first[1].differences(span)):
                before = "comes earlier" if first[0] == path else f"comes earlier, in {first[0]},"
                unimportable(reused_reason(span, differences, before), span.raw or {})
    return merged


HEAD_BYTES = 1 << 20
SPAN_KEYS = (b'"traceId"', b'"trace_id"', b'"resourceSpans"')


def _may_hold_spans(path: str) -> bool:
    """Whether a file's first MiB names a span's key: an import of every format (`auto`) would
    otherwise parse each large Inspect log once more to index it."""
    try:
        opened = gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")  # noqa: SIM115
        with opened as f:
            head = f.read(HEAD_BYTES)
    except (OSError, EOFError):
        return False
    return any(key in head for key in SPAN_KEYS)
