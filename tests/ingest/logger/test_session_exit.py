"""How a session's `with` block ends it: an exception is the agent's failure, with an error
event once; an exit that is no failure (sys.exit(0)) a success; a stop from outside (a
cancelled task, a timeout, Ctrl+C) an abandoned session without an error."""

import asyncio
import json
import sys
from pathlib import Path

import pytest

from tests.ingest.conftest import FAST, NewLogger
from tests.ingest.lakes import raw_events


def ends(tmp_path: Path) -> dict[str, tuple[str, list[str]]]:
    """Each session's status and the error types of its error events."""
    rows = raw_events(tmp_path).sort_by("seq").to_pylist()
    out: dict[str, tuple[str, list[str]]] = {}
    for session in sorted({r["session_id"] for r in rows}):
        mine = [r for r in rows if r["session_id"] == session]
        end = next(r for r in mine if r["event_type"] == "session_end")
        errors = [r["error_type"] for r in mine if r["event_type"] == "error"]
        out[session] = (json.loads(end["payload"])["status"], errors)
    return out


def test_how_a_block_ends_is_the_sessions_status(tmp_path: Path, new_logger: NewLogger) -> None:
    """sys.exit(0), a cancelled request and an `asyncio.wait_for` timeout were each an error
    row and a failure (66 of 350 sessions of an asyncio service); an error the agent logged
    and raised again was two."""
    logger = new_logger(str(tmp_path), "app", **FAST)
    with pytest.raises(SystemExit), logger.session("exit-0"):
        sys.exit(0)
    with pytest.raises(SystemExit), logger.session("exit-2"):
        sys.exit(2)
    with pytest.raises(KeyboardInterrupt), logger.session("ctrl-c"):
        raise KeyboardInterrupt
    with pytest.raises(TimeoutError), logger.session("logged-then-raised") as s:
        try:
            raise TimeoutError("the tool took too long")
        except TimeoutError:
            s.error("TimeoutError", "the tool took too long")
            raise

    with pytest.raises(ExceptionGroup), logger.session("group-logged-then-raised") as s:
        try:
            raise ExceptionGroup("tools", [ValueError("bad argument")])
        except* ValueError:
            s.error("ValueError", "bad argument")
            raise

    async def request(session: str) -> None:
        with logger.session(session):
            await asyncio.sleep(10)

    async def service() -> None:
        cancelled = asyncio.create_task(request("client-went-away"))
        await asyncio.sleep(0.01)
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(request("timed-out"), 0.01)

    asyncio.run(service())
    logger.close()
    assert ends(tmp_path) == {
        "exit-0": ("success", []),
        "exit-2": ("failure", ["SystemExit"]),
        "ctrl-c": ("abandoned", []),
        "logged-then-raised": ("failure", ["TimeoutError"]),
        "group-logged-then-raised": ("failure", ["ValueError"]),
        "client-went-away": ("abandoned", []),
        "timed-out": ("abandoned", []),
    }
