"""The app of OTel spans is their resource's `service.name`, whether they are imported from a
file or received by `serve`: `ingest` filed every file's spans under `otel` while `serve` used
the service, so a program's traces exported to files and sent live landed in two apps (its
sessions counted twice, a conversation's turns numbered from 0 again). The SDK's stand-in for
an unset name (`unknown_service`, `unknown_service:<executable>`) names no app."""

import json
from pathlib import Path
from typing import Any

from tests.ingest.importers.test_otel_sessions import EXPECTED, REQUESTS, tool_turns
from tests.ingest.lakes import raw_events
from trajectory_assets.ingest.otlp import OtlpReceiver
from trajectory_assets.ingest.otlp_decode import decode_json
from trajectory_assets.ingest.run import ingest_files


def exported(path: Path, *resources: tuple[str | None, list[dict[str, Any]]]) -> Path:
    """An OTLP/JSON file as a collector's file exporter writes it: spans under their resource."""
    docs = []
    for service, spans in resources:
        attrs = (
            [] if service is None else [{"key": "service.name", "value": {"stringValue": service}}]
        )
        docs.append({"resource": {"attributes": attrs}, "scopeSpans": [{"spans": spans}]})
    path.write_text(json.dumps({"resourceSpans": docs}))
    return path


def apps(lake: Path) -> dict[str, set[str]]:
    events = raw_events(lake).to_pylist()
    out: dict[str, set[str]] = {}
    for row in events:
        out.setdefault(row["app_id"], set()).add(row["session_id"])
    return out


def test_a_served_conversation_goes_on_in_its_exported_files_as_one_apps(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    receiver = OtlpReceiver(str(lake), settle_s=60, idle_s=60)
    (served,) = decode_json(
        exported(tmp_path / "wire.json", ("support-bot", REQUESTS[0].spans)).read_bytes()
    )
    receiver.add(served.service, served.spans)
    receiver.close()
    files = [
        exported(tmp_path / f"request-{n}.json", ("support-bot", REQUESTS[n].spans)) for n in (1, 2)
    ]
    report = ingest_files(str(lake), "auto", files)
    assert report.failed == [] and report.apps == ["support-bot"]
    assert apps(lake) == {"support-bot": {"chat-7"}}
    assert tool_turns(raw_events(lake).to_pylist()) == EXPECTED


def test_a_file_of_several_services_files_each_under_its_own(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    path = exported(
        tmp_path / "two.json",
        ("checkout", REQUESTS[0].spans),
        ("unknown_service:python", REQUESTS[1].spans),
        (None, REQUESTS[2].spans),
    )
    assert ingest_files(str(lake), "otel", [path]).failed == []
    assert apps(lake) == {"checkout": {"chat-7"}, "otel": {"chat-7"}}
    # the two traces of the unnamed programs' app number its session's turns on from each other
    unnamed = [r for r in raw_events(lake).to_pylist() if r["app_id"] == "otel"]
    assert sorted(tool_turns(unnamed).items()) == [
        ("t1.0", 0),
        ("t2.0", 1),
        ("t2.1", 2),
        ("t2.2", 3),
    ]


def test_the_sdks_own_span_json_names_its_service_too(tmp_path: Path) -> None:
    """`ReadableSpan.to_json()` writes the resource into each span."""
    lake = tmp_path / "lake"
    sdk_span = {
        "name": "chat",
        "context": {"trace_id": "0x" + "ab" * 16, "span_id": "0x" + "cd" * 8},
        "parent": None,
        "start_time": "2026-11-30T10:00:00.000000Z",
        "end_time": "2026-11-30T10:00:01.000000Z",
        "status": {"status_code": "OK"},
        "attributes": {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
        "resource": {"attributes": {"service.name": "triage"}, "schema_url": ""},
    }
    path = tmp_path / "spans.json"
    path.write_text(json.dumps({"spans": [sdk_span]}))
    assert ingest_files(str(lake), "auto", [path]).failed == []
    assert set(apps(lake)) == {"triage"}


def test_an_app_id_given_files_every_service_under_it(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    path = exported(
        tmp_path / "two.json", ("checkout", REQUESTS[0].spans), ("triage", REQUESTS[1].spans)
    )
    report = ingest_files(str(lake), "otel", [path], app_id="shop")
    assert report.failed == [] and report.apps == ["shop"]
    assert apps(lake) == {"shop": {"chat-7"}}
    assert tool_turns(raw_events(lake).to_pylist()) == {"t0.0": 0, "t0.1": 1, "t1.0": 2}


def test_serve_files_the_sdks_unset_service_name_under_otel(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    wire = exported(tmp_path / "wire.json", ("unknown_service:python3.11", REQUESTS[0].spans))
    (received,) = decode_json(wire.read_bytes())
    assert received.service is None
    receiver = OtlpReceiver(str(lake), settle_s=60, idle_s=60)
    receiver.add(received.service, received.spans)
    receiver.close()
    assert apps(lake) == {"otel": {"chat-7"}}
