"""Whether an event a producer sends again is the one the lake holds: a re-sent copy is the same
event; one with other content is named (the lake keeps its copy, the first written)."""

import datetime as dt
import math

from trajectory_assets.schema import COUNTER_COLUMNS, RAW_EVENTS


def differences(
    stored: dict[str, dict[str, object]], given: dict[str, dict[str, object]]
) -> list[str]:
    """A line for each given event whose stored copy holds other values."""
    lines = []
    for event_id in sorted(given):
        old, new = stored[event_id], given[event_id]
        columns = [
            c
            for c in RAW_EVENTS.names
            if c not in COUNTER_COLUMNS
            and not (c in _FOLDER_KEYS and old.get(c) is None)  # a writer that left the keys to
            and not _same(old.get(c), new.get(c))  # the folder names (Spark, DuckDB): the same
        ]
        if columns:
            lines.append(f"event {event_id}: {', '.join(columns)} differ")
    return lines


_FOLDER_KEYS = ("app_id", "session_id")


def _same(old: object, new: object) -> bool:
    if isinstance(old, float) and isinstance(new, float) and math.isnan(old) and math.isnan(new):
        return True  # a re-sent NaN latency is the same value
    return as_stored(old) == as_stored(new)


def as_stored(value: object) -> object:
    """A timestamp stored without a zone is UTC, as the raw read takes it."""
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value
