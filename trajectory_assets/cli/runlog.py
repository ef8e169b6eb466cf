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

FORMAT = "%(asctime)s  %(message)s"
DATE_FORMAT = "%H:%M:%S"
META = "dagster_meta"  # where Dagster's log handler keeps a record's metadata


class _ProgressOnly(logging.Filter):
    """Keep what the run's code logged (context.log); drop Dagster's event records (step
    started, failed with a stack trace, ...), which the command summarises itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        meta: dict[str, Any] = getattr(record, META, None) or {}
        if meta.get("dagster_event") is not None:
            return False
        record.msg, record.args = meta.get("orig_message", record.getMessage()), ()
        return True


@dg.logger(None, description="The run's progress lines on stderr, without Dagster's event records.")
def progress_logger(init_context: dg.InitLoggerContext) -> logging.Logger:
    logger = logging.Logger("trajectory_assets.run", level=logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    handler.addFilter(_ProgressOnly())
    logger.addHandler(handler)
    return logger
