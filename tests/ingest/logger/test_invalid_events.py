"""An event the logger refuses is counted, and each kind of problem named once in its log."""

from pathlib import Path

import pytest

from tests.ingest.conftest import FAST, NewLogger


def test_each_kind_of_invalid_event_is_named_once(
    tmp_path: Path, new_logger: NewLogger, caplog: pytest.LogCaptureFixture
) -> None:
    """After a decision's typo was named, every session refused for its id passed unsaid:
    the first problem of all was the only one named."""
    logger = new_logger(str(tmp_path), "app", **FAST)
    for item in ("a", "b"):
        with logger.session("s1") as s:
            s.decision("rank", item, "maybe")
    for long_id in ("x" * 300, "y" * 301):
        with logger.session(long_id) as s:
            s.user_message("hello")
    with logger.session("s2") as s:
        for _ in range(300):  # objects of one kind, each its own address
            s.eval_result("suite", "task", object())  # type: ignore[arg-type]
    logger.close()
    named = [r.getMessage() for r in caplog.records if "further ones of this kind" in r.message]
    assert len(named) == 3, named
    assert "decision outcome 'maybe'" in named[0]
    assert "session_id too long" in named[1] and logger.stats()["invalid"] >= 304
    assert "eval_result passed <object object at 0x" in named[2]


def test_each_unknown_field_is_named(
    tmp_path: Path, new_logger: NewLogger, caplog: pytest.LogCaptureFixture
) -> None:
    """A field's name is the caller's code, not a value: after `modle` was named, a second
    typo (`tokns`) was counted unsaid, and its values went missing from every event."""
    logger = new_logger(str(tmp_path), "app", **FAST)
    for fields in ({"modle": "a"}, {"modle": "b"}, {"tokns": 3}, {"score_v1": 1}, {"score_v2": 2}):
        logger.log("s1", "llm_call", **fields)
    logger.close()
    named = [r.getMessage() for r in caplog.records if "further ones of this kind" in r.message]
    assert len(named) == 4, named
    assert "unknown event field(s) modle " in named[0] and "field(s) tokns " in named[1]
    assert "field(s) score_v1 " in named[2] and "field(s) score_v2 " in named[3]
