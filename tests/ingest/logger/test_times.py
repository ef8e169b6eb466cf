"""The event logger's times: what a producer passes as `ts`, and what it is told when a time is
likely to be filed hours off."""

import datetime as dt
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.ingest.lakes import raw_events
from trajectory_assets.ingest import EventLogger
from trajectory_assets.ingest.logger import timestamps

LOGGER = "trajectory_assets.ingest.logger"


@pytest.fixture()
def zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process in Los Angeles' time zone (UTC-8 in December), UTC again afterwards."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    timestamps._naive_warning.cache_clear()
    yield
    monkeypatch.undo()
    time.tzset()
    timestamps._naive_warning.cache_clear()


def test_a_naive_datetime_off_utc_is_taken_as_utc_and_said_once(
    tmp_path: Path, zone: None, caplog: pytest.LogCaptureFixture
) -> None:
    """`ts=datetime.now()` west of UTC filed a session 8 hours early, on the day before, with a
    session_start stamped by the logger 8 hours after it: without a word."""
    local = dt.datetime(2026, 12, 1, 23, 30)  # what datetime.now() gives there
    with caplog.at_level(logging.WARNING, LOGGER), EventLogger(str(tmp_path), "app") as logger:
        for minute in range(3):
            logger.log("s1", "user_message", ts=local + dt.timedelta(minutes=minute))
        logger.log("s1", "user_message", ts=np.datetime64("2026-12-02T07:33:00"))  # numpy's: UTC
        logger.log("s1", "user_message", ts=local.replace(tzinfo=dt.UTC))  # aware: no warning
    said = [r.getMessage() for r in caplog.records if "without a time zone" in r.getMessage()]
    assert said == [
        "event logger: a ts given as a datetime without a time zone is taken as UTC, and this "
        "machine's time zone is UTC-08:00: if it is local time (datetime.now()), pass an aware "
        "one (datetime.now(datetime.UTC), or datetime.now().astimezone())"
    ]
    stored = raw_events(tmp_path)
    assert sorted(stored["ts"].to_pylist()) == [
        dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 1, 23, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 1, 23, 31, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 1, 23, 32, tzinfo=dt.UTC),
        dt.datetime(2026, 12, 2, 7, 33, tzinfo=dt.UTC),
    ]
    assert logger.stats()["invalid"] == 0


def test_a_naive_datetime_on_a_utc_machine_says_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A server on UTC (the usual case) passes `datetime.utcnow()`-style times: right."""
    timestamps._naive_warning.cache_clear()
    with caplog.at_level(logging.WARNING, LOGGER), EventLogger(str(tmp_path), "app") as logger:
        logger.log("s1", "user_message", ts=dt.datetime(2026, 12, 1, 23, 30))
    assert not [r for r in caplog.records if "without a time zone" in r.getMessage()]
