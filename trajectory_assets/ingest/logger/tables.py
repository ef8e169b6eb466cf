"""The logger's events as Arrow tables: one session's events of one flush (`Batch`), in the
RAW_EVENTS shape, with the events whose values their columns cannot hold left out."""

from dataclasses import dataclass

import pyarrow as pa

from trajectory_assets.ingest.logger.buffer import LoggedEvent
from trajectory_assets.lake.raw_write import column_array, unstorable
from trajectory_assets.schema import RAW_EVENTS


@dataclass
class Batch:
    """One session's events of one flush: written as one file, retried as a unit."""

    day: str
    session_id: str
    table: pa.Table
    placed: bool  # the day is the session's folder in the lake, or drop_existing is off
    attempts: int = 0
    next_try: float = 0.0


def to_table(events: list[LoggedEvent], app_id: str) -> pa.Table:
    """The events in the RAW_EVENTS shape; raises on a value Arrow cannot store in its column."""
    arrays = []
    for field in RAW_EVENTS:
        name = field.name  # once per column: a pyarrow property, slow in the inner loop
        if name == "app_id":
            arrays.append(pa.array([app_id] * len(events), pa.string()))
        else:
            arrays.append(column_array([getattr(e, name) for e in events], field.type))
    return pa.Table.from_arrays(arrays, schema=RAW_EVENTS)


def storable_table(
    events: list[LoggedEvent], app_id: str
) -> tuple[pa.Table | None, list[tuple[LoggedEvent, str]]]:
    """The events Arrow can store, as a table (None for none), and (event, why) for each of
    the others: one value out of its column's range must not lose the rest of the flush."""
    try:
        return to_table(events, app_id), []
    except Exception:
        pass
    good: list[LoggedEvent] = []
    unfit: list[tuple[LoggedEvent, str]] = []
    for event in events:
        try:
            to_table([event], app_id)
            good.append(event)
        except Exception as exc:
            row = {f: getattr(event, f, None) for f in RAW_EVENTS.names}
            row["app_id"] = app_id  # the logger's, not the event's
            unfit.append((event, unstorable(row) or f"a value does not fit its column: {exc}"))
    return (to_table(good, app_id) if good else None), unfit
