"""Rejected input kept in the lake, and what `forget` removes of it."""

import json
from pathlib import Path

from trajectory_assets.ingest.run import ingest_files
from trajectory_assets.lake import erase
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.mentions import Sessions
from trajectory_assets.lake.quarantine import drop_rejected, keep_rejected, rejected_files


def span(session: str) -> dict[str, object]:
    return {"traceId": "", "attributes": {"gen_ai.conversation.id": session}}


def test_rejected_records_are_kept_with_the_reason_and_forget_drops_a_sessions(
    tmp_path: Path,
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    both = keep_rejected(lake, "otlp", "app", [("no trace id", span("s-12")), ("x", span("s-1"))])
    alone = keep_rejected(lake, "otlp", "app", [("no trace id", span("s-12"))])
    accented = keep_rejected(lake, "otlp", "app", [("no trace id", span("sé-9"))])
    assert sorted(rejected_files(lake)) == sorted([both, alone, accented])
    line = Path(both).read_text().splitlines()[0]
    assert json.loads(line) == {
        "received_at": json.loads(line)["received_at"],
        "source": "otlp",
        "app_id": "app",
        "reason": "no trace id",
        "record": span("s-12"),
    }
    assert "sé-9" in Path(accented).read_text()  # as received, not escaped

    def left(*sessions: str) -> list[str]:
        return erase.leftovers(lake, Catalog(lake, {}), erase.Request("app", sessions))

    assert left("s-12") == [
        f"{p} holds rejected input of session s-12" for p in sorted([both, alone])
    ]
    assert drop_rejected(lake, Sessions("app", frozenset({"s-1"}))) == 1  # s-1's line, not s-12's
    assert left("s-1") == []
    assert (
        drop_rejected(lake, Sessions("another app", frozenset({"s-12"}))) == 0
    )  # only the app's own
    assert drop_rejected(lake, Sessions("app", frozenset({"s-12"}))) == 2
    assert rejected_files(lake) == [accented]  # files left without lines are gone
    assert left("s-12") == []
    assert drop_rejected(lake, Sessions("app", frozenset({"sé-9"}))) == 1 and left("sé-9") == []


def test_forget_finds_a_sessions_kept_lines_by_the_app_they_name_or_in_unread_lines(
    tmp_path: Path,
) -> None:
    """`ingest` keeps an invalid jsonl row under the app the row names, and a line it could not
    read under the import's app: forget finds the session in both."""
    source = tmp_path / "events.jsonl"
    row = {"event_id": "", "session_id": "s-7", "app_id": "mine", "ts": "2026-01-02T03:04:05Z"}
    good = {**row, "event_id": "e1", "event_type": "x", "session_id": "s-1"}
    source.write_text("\n".join([json.dumps(good), json.dumps(row), '{"session_id": "s-7", x']))
    lake = Lake(str(tmp_path / "lake"))
    (imported,) = ingest_files(lake, "jsonl", [source]).files
    assert imported.ok and len(imported.rejected) == 2
    kept = {
        json.loads(line)["app_id"]
        for path in rejected_files(lake)
        for line in Path(path).read_text().splitlines()
    }
    assert kept == {"mine", "jsonl"}
    assert drop_rejected(lake, Sessions("mine", frozenset({"s-7"}))) == 2
    assert rejected_files(lake) == []


def test_a_line_holding_a_unicode_line_separator_is_one_line(tmp_path: Path) -> None:
    """JSON keeps U+2028 and U+0085 raw in its texts (LLM text holds them); splitting a file by
    Python's idea of lines cut such a record in two, and forget's purge failed on it for good."""
    lake = Lake(str(tmp_path / "lake"))
    said = {**span("s-1"), "name": "one\u2028two\u0085three"}
    path = keep_rejected(lake, "otlp", "app", [("bad", said), ("bad", span("s-2"))])
    assert drop_rejected(lake, Sessions("app", frozenset({"s-2"}))) == 1
    (kept,) = Path(path).read_bytes().splitlines()  # by b"\n" alone
    assert json.loads(kept)["record"] == said
    assert drop_rejected(lake, Sessions("app", frozenset({"s-1"}))) == 1
    assert rejected_files(lake) == []


def test_forgetting_a_whole_app_drops_its_lines_that_name_no_session(tmp_path: Path) -> None:
    """A child span carries no conversation id: a tenant's `--all-sessions` left 14 files of
    its rejected spans, and said nothing held them."""
    lake = Lake(str(tmp_path / "lake"))
    child = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "tool"}
    theirs = keep_rejected(lake, "otlp", "leaving", [("span id reused", child)])
    other = keep_rejected(lake, "otlp", "staying", [("span id reused", child)])
    tenant = Sessions("leaving", frozenset({"s-1"}))
    assert drop_rejected(lake, tenant) == 0  # names no session of its own
    assert erase.leftovers(
        lake, Catalog(lake, {}), erase.Request("leaving", before=erase.EVERY_DAY)
    ) == [f"{theirs} holds rejected input of session (any of the app's)"]
    assert drop_rejected(lake, tenant, whole_app=True) == 1
    assert rejected_files(lake) == [other]
