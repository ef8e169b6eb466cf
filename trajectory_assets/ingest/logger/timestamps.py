"""The event logger's times: a `ts` as microseconds since the epoch, read as `ingest` reads
one, and the warning a naive datetime on a machine off UTC deserves."""

import contextlib
import datetime as dt
import functools
import logging
from typing import Any

from trajectory_assets.ingest.times import parse_ts

log = logging.getLogger("trajectory_assets.ingest.logger")

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)


def ts_us(value: Any) -> int:
    """Microseconds since the epoch of a datetime (naive: UTC) or an epoch number, read as
    `ingest` reads one: seconds, or ms/us/ns by its size (JavaScript's `Date.now()` is ms)."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        # a time the platform's clock cannot hold is no local time either
        with contextlib.suppress(OverflowError, OSError, ValueError):
            _naive_warning(value.astimezone().utcoffset())
    us = (parse_ts(value) - _EPOCH) // _US
    if us < 0:  # a day Dagster's daily partitions cannot name (year 1 became the lake's start)
        raise ValueError(f"ts {value!r} is before 1970-01-01")
    return us


@functools.cache  # once a process for each offset: a producer passes every ts alike
def _naive_warning(local: dt.timedelta | None) -> None:
    """A naive datetime is UTC here, as a naive time is everywhere in the lake; on a machine
    whose zone is not UTC it is often local time (`datetime.now()`), filed hours off, and on
    another day near midnight, without a word."""
    if local:
        log.warning(
            "event logger: a ts given as a datetime without a time zone is taken as UTC, and "
            "this machine's time zone is UTC%s: if it is local time (datetime.now()), pass an "
            "aware one (datetime.now(datetime.UTC), or datetime.now().astimezone())",
            _offset(local),
        )


def _offset(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
