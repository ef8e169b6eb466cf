"""A trace whose spans an exporter wrote into several files (its children flushed first, its
root, ending last, in the next file) is one session whichever file is imported first. Mapped
file by file, each piece was a session of its own: the first fixed its start, end and status,
and each numbered its turns from 0 again (a real any-agent export: 3 turns for 4 calls, two
calls in turn 0, status unknown)."""

import json
from pathlib import Path

from tests.ingest.importers.test_otel_nesting import Trace
from tests.ingest.lakes import raw_events
from trajectory_assets.ingest.run import ingest_files


def agent_run() -> Trace:
    """An agent span over four model calls, each followed by a tool call."""
    trace = Trace()
    root = trace.add("invoke_agent helper", None, "AGENT", 0, 2000)
    for call in range(4):
        at = 10 + call * 400
        trace.add("chat", root, "LLM", at, at + 300, {"llm.model_name": "gpt-4o"})
        trace.add("lookup", root, "TOOL", at + 300, at + 350, {"tool.name": f"t{call}"})
    return trace


def piece(trace: Trace, spans: list[dict[str, object]], path: Path) -> Path:
    part = Trace(trace.trace_id)
    part.spans = spans
    return part.write(path)


def events(lake: Path) -> list[tuple[object, ...]]:
    columns = ("event_id", "event_type", "ts", "turn_index", "tool_name", "payload")
    return sorted(tuple(row[c] for c in columns) for row in raw_events(lake).to_pylist())


def events_of(trace: Trace, tmp_path: Path) -> list[tuple[object, ...]]:
    """The events of the trace imported alone."""
    (tmp_path / "alone").mkdir(exist_ok=True)
    whole = trace.write(tmp_path / "alone" / "trace.json")
    assert ingest_files(str(tmp_path / "alone-lake"), "otel", [whole]).rejected == []
    return events(tmp_path / "alone-lake")


def test_a_trace_split_over_files_is_one_session_in_any_order(tmp_path: Path) -> None:
    trace = agent_run()
    whole = trace.write(tmp_path / "trace.json")
    assert ingest_files(str(tmp_path / "one"), "otel", [whole]).failed == []
    expected = events(tmp_path / "one")
    calls = sorted((e[2], e[3]) for e in expected if e[1] == "llm_call")
    assert [turn for _, turn in calls] == [0, 1, 2, 3]

    (tmp_path / "export").mkdir()
    first = piece(trace, trace.spans[1:4], tmp_path / "export" / "1.json")  # flushed first
    second = piece(trace, [trace.spans[0], *trace.spans[4:]], tmp_path / "export" / "2.json")
    for lake, paths in (("folder", [tmp_path / "export"]), ("reversed", [second, first])):
        report = ingest_files(str(tmp_path / lake), "otel", paths)
        assert report.failed == [] and report.changed == [], report.changed
        assert events(tmp_path / lake) == expected, lake


def test_a_span_id_reused_with_other_content_is_kept_apart_with_its_reason(
    tmp_path: Path,
) -> None:
    """Two exports of one trace whose model call differs (a test file edited between commits)
    imported together: the call of the file sorting first was taken, the other dropped without a
    word, so the session was billed to whichever model the first file named. Imported in two
    runs, `ingest` warned that the events differ; together it must say so too."""
    trace = agent_run()
    (tmp_path / "export").mkdir()
    first = trace.write(tmp_path / "export" / "a.json")
    edited = json.loads(json.dumps(trace.spans))
    edited[1]["attributes"] = [{"key": "llm.model_name", "value": {"stringValue": "mistral"}}]
    edited[1]["name"] = "chat again"
    second = piece(trace, edited, tmp_path / "export" / "b.json")
    report = ingest_files(str(tmp_path / "lake"), "otel", [second, first])
    assert report.failed == []
    reason = (
        f"span id {trace.spans[1]['spanId']} of trace {trace.trace_id} comes earlier, in "
        f"{first}, with another name, attrs: span ids are unique in a trace, so the first one "
        "is kept"
    )
    assert [(Path(path).name, why) for path, why in report.rejected] == [("b.json", reason)]
    assert events(tmp_path / "lake") == events_of(trace, tmp_path)  # the first file's copies
    kept = (tmp_path / "lake" / "_rejected" / "ingest").rglob("*")
    assert any("chat again" in p.read_text() for p in kept if p.is_file())

    again = Trace(trace.trace_id)  # in one file: a copy the same, then one not
    again.spans = [*trace.spans, *trace.spans[1:2], *edited[1:2]]
    twice = again.write(tmp_path / "twice.json")
    report = ingest_files(str(tmp_path / "lake2"), "otel", [twice])
    assert [why.split(":")[0] for _, why in report.rejected] == [
        f"span id {trace.spans[1]['spanId']} of trace {trace.trace_id} comes earlier with "
        "another name, attrs"
    ]
    assert events(tmp_path / "lake2") == events_of(trace, tmp_path)
