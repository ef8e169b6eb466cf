"""The run's progress lines on the command line: what the run's code said, as a terminal shows
it safely."""

import logging

from trajectory_assets.cli.runlog import META, _ProgressOnly


def _line(message: str) -> logging.LogRecord | None:
    record = logging.LogRecord("run", logging.INFO, __file__, 1, "%s", (message,), None)
    setattr(record, META, {"orig_message": message})
    return record if _ProgressOnly().filter(record) else None


def test_a_producers_control_characters_reach_the_terminal_as_escapes() -> None:
    """A raw column named with ESC sequences cleared the screen and retitled the window from
    the line that warned of unknown columns (the error line escaped them)."""
    record = _line("raw file(s) have values in columns \x1b[2J\x1b]0;pwned\x07 no table reads")
    assert record is not None
    assert record.getMessage() == (
        "raw file(s) have values in columns \\x1b[2J\\x1b]0;pwned\\x07 no table reads"
    )
    two = _line("line one\nline two")
    assert two is not None and two.getMessage() == "line one\nline two"  # its own breaks stay
