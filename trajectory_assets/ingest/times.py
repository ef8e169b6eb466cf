"""Times as producers write them, read into UTC: ISO text (with an offset, `Z`, RFC 9557's zone
suffix, or none: UTC), datetimes, numpy's datetime64 and epoch numbers read by their size; and
the synthesized times of formats that record none."""

import datetime as dt
import math
import numbers
import re
from collections.abc import Iterable
from typing import Any

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""Base of synthesized timestamps for formats that record no time at all (see each importer)."""


EPOCH_UNITS = ((1e17, 1_000_000_000), (1e14, 1_000_000), (1e11, 1_000), (0, 1))
"""(magnitude from which, units a second) of epoch numbers: ns, us, ms, then seconds."""


def parse_ts(value: Any) -> dt.datetime:
    """A timestamp in UTC from ISO-8601 text (naive text is taken as UTC; RFC 9557's zone
    suffix, `…-08:00[America/Los_Angeles]`, is read), a datetime (naive: UTC) or epoch seconds.

    Numbers above 1e17 are taken as epoch nanoseconds, above 1e14 as microseconds and above
    1e11 (the year 5138 in seconds) as milliseconds, which covers every exporter we read (OTel
    SDKs write ns, JavaScript's Date.now() ms). ValueError for anything else, a time past the
    year 9999 included.
    """
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    if type(value).__name__ == "datetime64":  # numpy's, as `df["ts"].to_numpy()` gives it
        return _datetime64(value)
    if isinstance(value, bool):
        raise ValueError(f"not a timestamp: {value!r}")
    if isinstance(value, numbers.Integral):  # numpy's too (a time from a DataFrame column)
        value = int(value)
    elif isinstance(value, numbers.Real):
        value = float(value)
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"not a timestamp: {value!r}")
        per_second = next(n for limit, n in EPOCH_UNITS if abs(value) >= limit)
        try:  # integers exactly (ns to us truncated), floats to the nearest microsecond
            if isinstance(value, int):
                return EPOCH + dt.timedelta(microseconds=value * 1_000_000 // per_second)
            return EPOCH + dt.timedelta(microseconds=round(value * 1_000_000 / per_second))
        except OverflowError:
            raise ValueError(f"not a time (past the year 9999): {value!r}") from None
    if isinstance(value, str):
        text, zone = _zone_suffix(value.strip())
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        parsed = dt.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC if zone is None else _zone(zone))
        return parsed.astimezone(dt.UTC)
    raise ValueError(f"not a timestamp: {value!r}")


def _datetime64(value: Any) -> dt.datetime:
    """A numpy datetime64 (naive: UTC, as numpy has it), to the microsecond."""
    if value != value:  # NaT
        raise ValueError(f"not a timestamp: {value!r}")
    microseconds = int(value.astype("datetime64[us]").astype("int64"))
    try:
        return EPOCH + dt.timedelta(microseconds=microseconds)
    except OverflowError:
        raise ValueError(f"not a time (past the year 9999): {value!r}") from None


_SUFFIX = re.compile(r"^(.*?)((?:\[[^\]]*\])+)$")


def _zone_suffix(text: str) -> tuple[str, str | None]:
    """RFC 9557's bracketed suffixes off an ISO time (Java's `ZonedDateTime.toString()`:
    `2026-12-01T23:58-08:00[America/Los_Angeles]`), and the time zone they name: the offset,
    where the text has one, gives the instant."""
    found = _SUFFIX.match(text)
    if found is None:
        return text, None
    zones = [t.lstrip("!") for t in re.findall(r"\[([^\]]*)\]", found.group(2)) if "=" not in t]
    return found.group(1), zones[0] if zones else None


def _zone(name: str) -> dt.tzinfo:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"not a time zone: {name!r}") from None


def synthetic_ts(index: int) -> dt.datetime:
    """Deterministic time for formats without timestamps: one second per event after the
    epoch (`place_synthetic_times` moves such sessions to a day of the user's choosing)."""
    return EPOCH + dt.timedelta(seconds=index)


SYNTHETIC_UNTIL = EPOCH + dt.timedelta(days=365)
"""Times before this are synthesized (no agent ran in 1970): what `place_synthetic_times` moves."""


def place_synthetic_times(rows: Iterable[dict[str, Any]], day: dt.date) -> int:
    """Move synthesized times (counted from 1970-01-01) to the same clock time from `day`, so
    sessions without real timestamps land in a daily partition that can be materialized.
    Returns how many events moved."""
    shift = dt.datetime.combine(day, dt.time(), dt.UTC) - EPOCH
    moved = 0
    for row in rows:
        ts = row.get("ts")
        if isinstance(ts, dt.datetime) and ts < SYNTHETIC_UNTIL:
            row["ts"] = ts + shift
            moved += 1
    return moved
