"""A chat served over HTTP is a trace per request, tied together by `gen_ai.conversation.id`:
the session's turns are numbered once, across its traces in the order they started, whether
the traces come in one file, in files imported one by one, or to `serve` one by one, and also
after `serve` restarts. Each trace numbered its turns from 0: turn 0 of the session held every
request's first call, and `turns` had as many rows as the longest request."""

from pathlib import Path

import pyarrow.compute as pc

from tests.ingest.importers.test_otel_nesting import Trace
from tests.ingest.lakes import materialize, raw_events
from trajectory_assets.ingest.importers import IMPORTERS
from trajectory_assets.ingest.otlp import OtlpReceiver
from trajectory_assets.ingest.run import ingest_files

CONVERSATION = {"gen_ai.conversation.id": "chat-7"}


def request(number: int, calls: int) -> Trace:
    """Request `number` of the chat (one second apart): `calls` model calls, each followed by
    a tool call, under an agent span."""
    trace = Trace(f"{number + 1:032x}")
    base = number * 1000
    root = trace.add("invoke_agent support", None, "AGENT", base, base + 900, CONVERSATION)
    for call in range(calls):
        at = base + 10 + call * 200
        trace.add("chat", root, "LLM", at, at + 100, {"llm.model_name": "gpt-4o"})
        trace.add("lookup", root, "TOOL", at + 100, at + 150, {"tool.name": f"t{number}.{call}"})
    return trace


REQUESTS = [request(0, 2), request(1, 1), request(2, 3)]
EXPECTED = {"t0.0": 0, "t0.1": 1, "t1.0": 2, "t2.0": 3, "t2.1": 4, "t2.2": 5}


def tool_turns(rows: list[dict[str, object]]) -> dict[object, object]:
    return {r["tool_name"]: r["turn_index"] for r in rows if r["event_type"] == "tool_call"}


def one_file(path: Path, traces: list[Trace]) -> Path:
    combined = Trace()
    combined.spans = [span for trace in traces for span in trace.spans]
    return combined.write(path)


def test_traces_of_one_conversation_in_one_file_number_the_sessions_turns(
    tmp_path: Path,
) -> None:
    path = one_file(tmp_path / "chat.json", [REQUESTS[2], REQUESTS[0], REQUESTS[1]])
    rows = list(IMPORTERS["otel"].parse(path))
    assert {r["session_id"] for r in rows} == {"chat-7"}
    assert tool_turns(rows) == EXPECTED


def test_conversation_files_imported_one_by_one_continue_the_turns(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    for number, trace in enumerate(REQUESTS):
        path = trace.write(tmp_path / f"request-{number}.json")
        assert ingest_files(str(lake), "otel", [path]).failed == []
    assert tool_turns(raw_events(lake).to_pylist()) == EXPECTED
    again = ingest_files(str(lake), "otel", [one_file(tmp_path / "all.json", REQUESTS)])
    assert again.events_written == 0 and again.changed == []  # numbered as stored
    tables = materialize(lake)
    (session,) = tables["sessions"].to_pylist()
    assert session["n_turns"] == 6 and session["n_llm_calls"] == 6
    assert sorted(tables["turns"]["turn_index"].to_pylist()) == list(range(6))


def test_serve_numbers_a_conversations_requests_on_across_a_restart(tmp_path: Path) -> None:
    lake = str(tmp_path / "lake")
    receiver = OtlpReceiver(lake, app_id="chat", settle_s=60, idle_s=60)
    receiver.add(None, REQUESTS[0].spans)
    receiver.map_ready(everything=True)
    receiver.add(None, REQUESTS[1].spans)
    receiver.map_ready(everything=True)
    receiver.close()

    restarted = OtlpReceiver(lake, app_id="chat", settle_s=60, idle_s=60)
    restarted.add(None, REQUESTS[1].spans)  # an exporter's retry after the restart
    restarted.add(None, REQUESTS[2].spans)
    restarted.close()
    events = raw_events(Path(lake))
    assert tool_turns(events.to_pylist()) == EXPECTED
    starts = events.filter(pc.equal(events["event_type"], "session_start"))
    assert starts.num_rows == 3  # one a request: the session's times span them all
