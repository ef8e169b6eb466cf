import datetime as dt
import threading
import time

import pyarrow as pa
import pytest

from trajectory_assets.batch import Batch


def test_an_operators_duckdb_works_in_utc_whatever_the_machines_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ts::date` and `hour(ts)` in an operator's SQL gave the machine's local day and hour: a
    worker abroad computed other values than the driver."""
    late = dt.datetime(2026, 11, 18, 23, 30, tzinfo=dt.UTC)
    events = pa.table({"ts": pa.array([late], pa.timestamp("us", tz="UTC"))})
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    seen: list[tuple[object, ...]] = []
    try:  # a new thread: a new connection, which takes the zone the process has now
        worker = threading.Thread(
            target=lambda: seen.append(
                *Batch(events).duckdb().sql("SELECT ts::date, hour(ts) FROM events").fetchall()
            )
        )
        worker.start()
        worker.join()
    finally:
        monkeypatch.undo()
        time.tzset()
    assert seen == [(dt.date(2026, 11, 18), 23)]
