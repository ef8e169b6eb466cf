"""The event logger's tests share one way to make loggers that never outlive their test."""

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from trajectory_assets.ingest import EventLogger

FAST = {"flush_interval_s": 0.05, "retry_initial_s": 0.02, "retry_max_s": 0.1}

NewLogger = Callable[..., EventLogger]


@pytest.fixture()
def new_logger() -> Iterator[NewLogger]:
    """EventLogger, closed at teardown even when a test fails half-way: a logger left running
    would keep retrying in the background and disturb the next test."""
    made: list[EventLogger] = []

    def make(*args: Any, **kwargs: Any) -> EventLogger:
        made.append(EventLogger(*args, **kwargs))
        return made[-1]

    yield make
    for logger in made:
        logger.close(timeout=1.0)
