"""The `jsonl` importer: Tier A events one per line, validated before anything is written."""

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tests.ingest.lakes import raw_events
from trajectory_assets.cli import main
from trajectory_assets.ingest.console import summary_table
from trajectory_assets.ingest.run import ingest_files
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.quarantine import rejected_files


def _write(path: Path, lines: list[Any]) -> Path:
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    return path


def _event(event_id: str, event_type: str = "llm_call", **cols: Any) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "session_id": "s1",
        "ts": "2026-01-02T03:04:05Z",
        "event_type": event_type,
        **cols,
    }


def test_valid_lines_import_with_payload_objects_and_the_default_app(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "events.jsonl",
        [
            _event("e1", input_tokens=3, latency_ms=12),
            _event(
                "e2",
                "eval_result",
                payload={
                    "benchmark": "b",
                    "task_id": "t",
                    "run_id": None,
                    "passed": True,
                    "score": 1.0,
                },
            ),
            _event(
                "e3",
                "tool_call",
                app_id="other",
                ts=1767323045.5,
                artifacts=[{"kind": "stdout", "uri": "s3://x"}],
            ),
        ],
    )
    report = ingest_files(str(tmp_path / "lake"), "jsonl", [source], app_id="mine")
    assert not report.failed and report.events_written == 3
    rows = {r["event_id"]: r for r in raw_events(tmp_path / "lake").to_pylist()}
    assert rows["e1"]["app_id"] == "mine" and rows["e1"]["latency_ms"] == 12.0
    assert json.loads(rows["e2"]["payload"])["passed"] is True
    assert rows["e3"]["app_id"] == "other"
    assert rows["e3"]["artifacts"] == [{"kind": "stdout", "uri": "s3://x"}]
    assert rows["e1"]["dt"] == "2026-01-02"
    assert report.apps == ["mine", "other"]  # the apps written, a row's own included
    record = Console(record=True, width=200, file=io.StringIO())
    record.print(summary_table(report))
    (row,) = [line for line in record.export_text().splitlines() if line.startswith("│ jsonl")]
    assert row.split("│")[2].strip() == "mine, other"  # the table's app column says the same


def test_invalid_lines_are_kept_with_their_reasons_and_the_valid_ones_import(
    tmp_path: Path,
) -> None:
    """A line that cannot be an event is kept under _rejected/ingest/ with its line number and
    every reason, and the file's valid lines import: a three-line slip in a large export must
    neither lose it whole nor be lost. A file without a valid line fails, naming them."""
    source = _write(
        tmp_path / "bad.jsonl",
        [
            _event("e1"),
            "{not json",
            _event("", output_tokens=-1),
            _event("e4", "decision", payload="not json"),
            _event("e5", colour="red"),
            _event("e6", session_id="s" * 250),  # a stringified object as its id, say
            _event("e7", session_id="__HIVE_DEFAULT_PARTITION__"),
            _event("e8", ttft_ms=float("inf"), latency_ms=1e13, input_tokens=2**63 - 1),
            _event("e9", ts="0001-01-01T00:00:00Z"),  # made year 1 the lake's first partition
            _event("e10", ts=10**40),  # failed the whole file (OverflowError), no line named
            _event("e11", ts=1_767_323_045_000),  # Date.now(): epoch milliseconds
            _event("e12", session_id="s\nt"),  # no command line names it to forget it
            _event("e13", turn_index=-1),  # "no turn" as -1 made a turn of its own
        ],
    )
    good = _write(tmp_path / "good.jsonl", [_event("g1")])
    lake = tmp_path / "lake"
    report = ingest_files(str(lake), "jsonl", [source, good])
    assert not report.failed
    assert sorted(raw_events(lake)["event_id"].to_pylist()) == ["e1", "e11", "g1"]
    reasons = [
        "line 2: invalid JSON (Expecting property name enclosed in double quotes)",
        "line 3: null or empty event_id; negative output_tokens",
        "line 4: payload of decision is not a JSON object",
        "line 5: unknown keys ['colour']",
        "line 6: session_id too long to name a folder (261 bytes as `session_id=` and the value "
        "URL-encoded, at most 255)",
        "line 7: session_id __HIVE_DEFAULT_PARTITION__ is the folder name of a null session_id",
        "line 8: infinite ttft_ms; latency_ms over 10^12; input_tokens over 10^12",
        "line 9: ts before 1970-01-01",
        "line 10: ts is not a timestamp: 1000000000000000000000000000000000000000",  # :.40
        "line 12: session_id with a control character",
        "line 13: negative turn_index",
    ]
    assert report.rejected == [(str(source), r) for r in reasons]
    (kept_file,) = rejected_files(Lake(str(lake)))
    kept = [json.loads(line) for line in Path(kept_file).read_text().splitlines()]
    assert [k["reason"] for k in kept] == [f"{source}: {r}" for r in reasons]
    assert kept[0]["record"] == {"line": "{not json"} and kept[3]["record"]["colour"] == "red"
    assert {k["source"] for k in kept} == {"ingest"} and {k["app_id"] for k in kept} == {"jsonl"}

    only_bad = _write(tmp_path / "only_bad.jsonl", ["{not json", _event("", output_tokens=-1)])
    (failed,) = ingest_files(str(lake), "jsonl", [only_bad]).failed
    assert failed.reason == (
        "2 invalid line(s) or event(s): line 1: invalid JSON (Expecting property name enclosed "
        "in double quotes) | line 2: null or empty event_id; negative output_tokens"
    )
    assert len(rejected_files(Lake(str(lake)))) == 1  # the source is whole: nothing kept


def test_values_no_column_holds_and_json_nested_too_deeply_are_lines_of_their_own(
    tmp_path: Path,
) -> None:
    """A turn_index past int32 (or a seq past int64) failed the write of the whole file after
    some of its sessions were written ("imported 0", the bad line kept nowhere); a line nested
    100,000 deep crashed `ingest` with a traceback (RecursionError). Each is now one rejected
    line, kept with its reason, and the rest imports."""
    nested = '{"a": ' * 100_000 + "1" + "}" * 100_000
    source = _write(
        tmp_path / "hostile.jsonl",
        [
            _event("g1", session_id="a-good"),
            _event("b1", session_id="0-bad", turn_index=2**31),
            _event("b2", session_id="s2", seq=2**63),
            '{"event_id": "b3", "payload": ' + nested + "}",
            _event("g2", session_id="z-good", turn_index=2**31 - 1),
        ],
    )
    lake = tmp_path / "lake"
    report = ingest_files(str(lake), "auto", [source])
    assert not report.failed and report.events_written == 2
    assert sorted(raw_events(lake)["event_id"].to_pylist()) == ["g1", "g2"]
    assert [r for _, r in report.rejected] == [
        "line 4: JSON nested too deeply",
        "event b1: turn_index 2147483648 does not fit its column (int32)",
        "event b2: seq 9223372036854775808 does not fit its column (int64)",
    ]
    (kept_file,) = rejected_files(Lake(str(lake)))
    kept = [json.loads(line) for line in Path(kept_file).read_text().splitlines()]
    assert sorted(k["record"].get("event_id", "") for k in kept) == ["", "b1", "b2"]


def test_a_lone_surrogate_is_a_line_of_its_own_kept_as_it_came(tmp_path: Path) -> None:
    """`\\ud800` is valid JSON but no Unicode text (half of a UTF-16 pair: a JavaScript string
    cut mid-emoji): keeping the line aside could not encode it, and failed the whole file."""
    source = tmp_path / "cut.jsonl"
    lone = json.dumps(_event("b1", "agent_message", payload={"text": "cut \ud800 here"}))
    source.write_text("\n".join([json.dumps(_event("g1")), lone, json.dumps(_event("g2"))]))
    lake = tmp_path / "lake"
    report = ingest_files(str(lake), "auto", [source])
    assert not report.failed and report.events_written == 2
    assert [r for _, r in report.rejected] == [
        "event b1: payload holds a lone surrogate (half of a UTF-16 pair), no Unicode text"
    ]
    (kept_file,) = rejected_files(Lake(str(lake)))
    (kept,) = [json.loads(line) for line in Path(kept_file).read_text().splitlines()]
    assert json.loads(kept["record"]["payload"]) == {"text": "cut \ud800 here"}


def test_a_write_that_fails_midway_counts_what_it_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A disk that filled up during an import: the report said 0 events and app `-` while
    sessions were written, and its invalid lines, kept, were not said."""
    from trajectory_assets.lake import raw_write as writer

    real = writer.write_session
    calls: list[str] = []

    def fills_up(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[3])
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(writer, "write_session", fills_up)
    source = _write(
        tmp_path / "two.jsonl",
        [_event("e1", session_id="a"), _event("e2", session_id="b"), "{not json"],
    )
    lake = tmp_path / "lake"
    report = ingest_files(str(lake), "jsonl", [source])
    (failed,) = report.failed
    assert failed.reason == "write failed: OSError: [Errno 28] No space left on device"
    assert (report.events_written, report.sessions, report.apps) == (1, 1, ["jsonl"])
    assert [r for _, r in report.rejected] == [
        "line 3: invalid JSON (Expecting property name enclosed in double quotes)"
    ]
    monkeypatch.setattr(writer, "write_session", real)
    again = ingest_files(str(lake), "jsonl", [source])
    assert (again.failed, again.events_written, again.events_skipped) == ([], 1, 1)


def test_a_session_split_over_files_counts_once_in_the_report(tmp_path: Path) -> None:
    first = _write(tmp_path / "a.jsonl", [_event("e1"), _event("e2")])
    second = _write(tmp_path / "b.jsonl", [_event("e3"), _event("e4", session_id="s2")])
    report = ingest_files(str(tmp_path / "lake"), "jsonl", [first, second])
    assert [len(f.sessions) for f in report.files] == [1, 2]
    assert report.sessions == 2  # s1 in both files, and s2


def test_a_line_separator_inside_a_string_does_not_cut_the_line(tmp_path: Path) -> None:
    """JSON writers leave U+2028 and U+2029 unescaped inside strings; str.splitlines cut there."""
    text = json.dumps(_event("e1", payload="a\u2028b\u2029c"), ensure_ascii=False)
    source = tmp_path / "events.jsonl"
    source.write_text(text + "\r\n" + json.dumps(_event("e2")) + "\n", encoding="utf-8")
    report = ingest_files(str(tmp_path / "lake"), "jsonl", [source])
    assert not report.failed and report.events_written == 2
    payloads = set(raw_events(tmp_path / "lake")["payload"].to_pylist())
    assert "a\u2028b\u2029c" in payloads


def test_a_reimport_with_edited_events_warns_and_keeps_the_lakes_copy(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = str(tmp_path / "lake")
    source = _write(tmp_path / "events.jsonl", [_event("e1", output_tokens=5), _event("e2")])
    assert main(["ingest", str(source), "--lake", lake, "--format", "jsonl"]) == 0
    capsys.readouterr()
    _write(source, [_event("e1", output_tokens=7, model="m"), _event("e2"), _event("e3")])
    assert main(["ingest", str(source), "--lake", lake, "--format", "jsonl"]) == 0
    out, err = capsys.readouterr()
    assert "1 new event(s), 2 already present" in out
    assert (
        "warning: 1 event(s) of the lake's copy differ from the files' (or are no longer read "
        "from them), in 1 session(s) (jsonl/s1; first: app jsonl, session s1, event e1: model, "
        "output_tokens differ, from " in " ".join(err.split())
    )
    assert (  # ready to run
        f"(trajectory-assets forget --lake {lake} --app-id jsonl --session-id s1) and ingest "
        "again" in " ".join(err.split())
    )
    assert {
        r["event_id"]: r["output_tokens"] for r in raw_events(tmp_path / "lake").to_pylist()
    } == {
        "e1": 5,
        "e2": None,
        "e3": None,
    }


def test_a_reimport_names_the_sessions_whose_events_differ(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The warning named the first event's session only: which sessions to forget was a
    search of the lake."""
    lake = str(tmp_path / "lake")
    before = [_event(f"e{i}", session_id=f"s{i}", output_tokens=1) for i in range(5)]
    source = _write(tmp_path / "events.jsonl", before)
    assert main(["ingest", str(source), "--lake", lake, "--format", "jsonl"]) == 0
    _write(source, [_event(f"e{i}", session_id=f"s{i}", output_tokens=2) for i in range(5)])
    capsys.readouterr()
    assert main(["ingest", str(source), "--lake", lake, "--format", "jsonl"]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "(or are no longer read from them), in 5 session(s) (jsonl/s0, jsonl/s1, jsonl/s2 and 2 "
        "more;" in err
    )
