"""The run's log on the command line: the progress lines of the run, one per line, and no
Dagster event records.

Dagster's default console logger prints a failed step's event with its whole stack trace, and
the command then prints the same failure again as one `error:` line. For an expected error (a
bad raw file, another writer, a missing upstream day) the stack trace is noise, so the command
line uses this logger instead; `-v` brings back Dagster's own console logger and everything it
prints.
"""

import logging
import sys
from typing import Any

import dagster as dg

from trajectory_assets.errors import shown

FORMAT = "%(asctime)s  %(message)s"
DATE_FORMAT = "%H:%M:%S"
META = "dagster_meta"  # where Dagster's log handler keeps a record's metadata


BLOCKED = "Step blocked by limit for pool"  # and "Step still blocked ...", dropped
SKIPPED_AFTER_FAILURE = "Dependencies for step "  # Dagster's line of a step it then skips


class _ProgressOnly(logging.Filter):
    """Keep what the run's code logged (context.log, INFO and up); drop Dagster's event records
    (step started, failed with a stack trace, ...) and its line about a step skipped after a
    failed one, which the command summarises itself, but for the one that says why nothing
    happens: the step waits for the pool's slot."""

    def filter(self, record: logging.LogRecord) -> bool:
        meta: dict[str, Any] = getattr(record, META, None) or {}
        event = meta.get("dagster_event")
        if event is not None:
            message = str(getattr(event, "message", "") or "")
            if not message.startswith(BLOCKED):
                return False
            pool = message.rsplit(" ", 1)[-1]
            record.msg = (
                f"waiting for the {pool} pool: another run of this instance holds its slot "
                "(one step at a time). A run killed outside Dagster holds it until it is "
                "terminated (the UI: Runs, that run, Terminate); its slot is then freed"
            )
            record.args = ()
            return True
        message = str(meta.get("orig_message", record.getMessage()))
        if record.levelno < logging.INFO or message.startswith(SKIPPED_AFTER_FAILURE):
            return False  # the skipped step's line: the command names the failure itself
        record.msg, record.args = shown(message), ()  # names of raw files and columns: a
        return True  # producer's, their control characters as escapes


@dg.logger(None, description="The run's progress lines on stderr, without Dagster's event records.")
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("trajectory_assets.run", level=logging.DEBUG)  # for BLOCKED
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    handler.addFilter(_ProgressOnly())
    logger.addHandler(handler)
    return logger
