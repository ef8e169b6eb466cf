"""Times as producers write them: every form is read into UTC, or refused with why."""

import datetime as dt

import numpy as np
import pytest

from trajectory_assets.ingest.times import parse_ts

WHEN = dt.datetime(2026, 12, 2, 7, 58, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "value",
    [
        "2026-12-01T23:58:00-08:00[America/Los_Angeles]",  # Java's ZonedDateTime.toString()
        "2026-12-01T23:58:00[America/Los_Angeles]",  # the zone alone gives the offset
        "2026-12-02T07:58:00Z[UTC][u-ca=iso8601]",
        "2026-12-02T13:28:00+05:30",
        "2026-12-02T07:58:00",  # naive text: UTC
        np.datetime64("2026-12-02T07:58:00.000000123"),  # a DataFrame column's to_numpy()
        dt.datetime(2026, 12, 2, 7, 58),  # naive: UTC
    ],
)
def test_times_are_read_in_the_forms_producers_write(value: object) -> None:
    """A JVM producer's zone suffix and a numpy time were refused (kept aside, not in a table)."""
    assert parse_ts(value) == WHEN


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("2026-12-01T23:58:00[Nowhere/Town]", "not a time zone: 'Nowhere/Town'"),
        (np.datetime64("NaT"), "not a timestamp"),
        (np.datetime64("12000-01-01"), "past the year 9999"),
    ],
)
def test_a_time_that_is_none_is_refused_with_why(value: object, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_ts(value)
