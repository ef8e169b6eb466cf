"""The OTLP receiver's event loggers: one per app, the latest ones open.

Kept apart from the receiver: which apps' loggers stay open, and when one may be closed for
another, is a question of threads and memory, not of traces.
"""

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from trajectory_assets.ingest.logger import EventLogger, LoggerStats
from trajectory_assets.ingest.logger.api import added_stats

log = logging.getLogger(__name__)

CLOSE_FLUSH_S = 5.0  # how long closing an app's logger for another may wait for its writes
MAX_OPEN_APPS = 256
"""Apps whose logger (a thread and a buffer each) stays open by default; beyond them, the least
recently written one whose writes succeed is flushed and closed for a new app: a client naming a
new `service.name` per resource made a thread each, never released (a thousand apps, a thousand
threads and 1.8 GB). One whose writes fail stays open, so that the receiver keeps answering 503
and loses nothing it took."""


class AppLoggers:
    """`open`: the apps' open loggers, least recently written first."""

    def __init__(
        self,
        lake: str,
        options: dict[str, Any],
        max_open: int = MAX_OPEN_APPS,
        on_close: Callable[[str], None] = lambda app: None,
    ) -> None:
        self.lake = lake
        self.options = options
        self.max_open = max_open
        self.on_close = on_close  # the receiver forgets what it keeps of the app's sessions
        self.open: OrderedDict[str, EventLogger] = OrderedDict()
        self._closed_stats: LoggerStats | None = None  # the sum of loggers closed for others
        self._warned = False

    def get(self, app: str) -> EventLogger:
        logger = self.open.get(app)
        if logger is not None:
            self.open.move_to_end(app)
            return logger
        while len(self.open) >= self.max_open and self._close_one():
            pass  # down to the limit again after writes failed and kept more open
        logger = EventLogger(self.lake, app, **self.options)
        self.open[app] = logger
        return logger

    def _close_one(self) -> bool:
        """Close the least recently written app's logger, once it has written what it holds
        (its turns are read from the lake again if the app returns); False, closing none, when
        its writes fail or take longer than CLOSE_FLUSH_S: the lake is failing or slow, and
        trying the next ones would hold up the mapping of every trace meanwhile."""
        app, logger = next(iter(self.open.items()))
        if logger.stats()["last_error"] is not None or not logger.flush(CLOSE_FLUSH_S):
            return False
        del self.open[app]
        self.on_close(app)
        logger.close()
        self._closed_stats = added_stats(self._closed_stats, logger.stats())
        if not self._warned:
            self._warned = True
            log.warning(
                "OTLP receiver: more than %d apps written to: the least recent one's logger is "
                "closed for each new one (max_open_apps; more stay open while writes fail)",
                self.max_open,
            )
        return True

    def close(self, timeout: float | None) -> None:
        for logger in list(self.open.values()):
            logger.close(timeout)

    def stats(self) -> list[LoggerStats]:
        """Each open logger's stats, and the sum of those closed for other apps."""
        closed = [self._closed_stats] if self._closed_stats else []
        return closed + [logger.stats() for logger in list(self.open.values())]

    def failing(self) -> str | None:
        """The last error of an app's writes that fail now, else None."""
        for app, logger in list(self.open.items()):
            error = logger.stats()["last_error"]
            if error:
                return f"app {app}: {error}"
        return None
