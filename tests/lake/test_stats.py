"""Delta file statistics: what readers prune on must be exact and parse as JSON everywhere."""

import datetime as dt
import json
import math
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

from tests.lakes import DAY1, write_lake
from tests.runs import lake_catalog, run_operator
from trajectory_assets.lake.stats import file_stats
from trajectory_assets.operators import Sessionize, TurnFeatures


def _no_constants(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def test_a_file_with_a_value_no_bound_states_carries_its_row_count_alone() -> None:
    """JSON has no NaN or Infinity; and a column left without bounds read as `>= null` in
    deltalake's dataset, which dropped the file from every filter on the column."""
    finite = pa.table({"finite": [1.5, -2.0, None], "none": pa.nulls(3, pa.int64())})
    stats = json.loads(file_stats(finite), parse_constant=_no_constants)
    assert stats["minValues"] == {"finite": -2.0} and stats["maxValues"] == {"finite": 1.5}
    assert stats["nullCount"] == {"finite": 1, "none": 3}  # all null: no bounds needed
    for odd in ([1.0, float("inf"), None], [-float("inf"), 1.0], [float("nan"), 1.0]):
        table = finite.slice(0, len(odd)).append_column("odd", pa.array(odd))
        assert json.loads(file_stats(table), parse_constant=_no_constants) == {
            "numRecords": len(odd)
        }


def test_every_column_readers_bound_has_bounds_flags_and_early_years_too() -> None:
    """A flag column (every call table has one) left the whole file without statistics; a time
    before the year 1000 was written `999-...`, no time a reader parses."""
    early = dt.datetime(999, 1, 2, 3, 4, 5, 6000, tzinfo=dt.UTC)
    table = pa.table(
        {
            "ok": [True, False],
            "ts": pa.array([early, early], pa.timestamp("us", tz="UTC")),
            "day": pa.array([dt.date(2026, 11, 18)] * 2),
            "artifacts": pa.array([[1], None], pa.list_(pa.int64())),
        }
    )
    stats = json.loads(file_stats(table))
    assert stats["minValues"] == {
        "ok": False,
        "ts": "0999-01-02T03:04:05.006Z",
        "day": "2026-11-18",
    }
    assert stats["maxValues"]["ok"] is True and "artifacts" not in stats["nullCount"]


def test_long_text_is_bounded_by_its_first_characters() -> None:
    """A session id of 65 characters had no bounds: `WHERE session_id = 'short'` through
    deltalake's dataset found nothing in its file."""
    long = "x" * 65
    stats = json.loads(file_stats(pa.table({"id": ["short", long]})))
    assert stats["minValues"]["id"] == "short" and stats["maxValues"]["id"] == "x" * 63 + "y"
    stats = json.loads(file_stats(pa.table({"id": [long, "y" * 100 + "z"]})))
    assert stats["minValues"]["id"] == "x" * 64  # a prefix: no greater than the value
    assert stats["maxValues"]["id"] == "y" * 63 + "z"  # above every text beginning y * 64
    assert json.loads(file_stats(pa.table({"top": ["\U0010ffff" * 70]}))) == {"numRecords": 1}
    high = json.loads(file_stats(pa.table({"id": ["\U00040000"]})))["maxValues"]["id"]
    assert high == "\U00040000" and "\\u" not in file_stats(pa.table({"id": ["\U00040000"]}))


def test_values_python_cannot_hold_have_no_bounds() -> None:
    """A time past the year 9999 (epoch ms taken for seconds), one whose maximum rounds up past
    it (`9999-12-31T23:59:59.999999`, an "end of time" placeholder), before the year 1, or
    text that is no UTF-8: `as_py` raised, and the day's commit failed without a word."""
    last = dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC)
    bad = pa.array([b"\xff\xfe"], pa.binary()).view(pa.string())
    table = pa.table(
        {
            "far": pa.array([1_795_000_000_000 * 10**6], pa.timestamp("us", tz="UTC")),
            "last": pa.array([last], pa.timestamp("us", tz="UTC")),
            "early": pa.array([-63_000_000_000 * 10**6], pa.timestamp("us", tz="UTC")),
            "text": bad,
            "fine": [1],
        }
    )
    for name in ("far", "last", "early", "text"):
        assert json.loads(file_stats(table.select([name, "fine"]))) == {"numRecords": 1}
    assert json.loads(file_stats(table.select(["fine"])))["minValues"] == {"fine": 1}


def test_an_infinite_rate_commits_and_every_reader_reads_it(tmp_path: Path) -> None:
    """A call short enough that output_tokens / (latency / 1000) overflows to infinity."""
    t0 = dt.datetime(2026, 11, 18, 8, tzinfo=dt.UTC)
    call = {"event_type": "llm_call", "turn_index": 0, "latency_ms": 1e-310, "output_tokens": 9}
    events: list[dict[str, object]] = [
        {"event_id": "e1", "ts": t0, "event_type": "session_start"},
        {"event_id": "e2", "ts": t0 + dt.timedelta(seconds=1), **call},
    ]
    lake = write_lake(tmp_path, [events])
    for op in (Sessionize(), TurnFeatures()):
        run_operator(op, lake, [DAY1])

    rate = lake_catalog(lake).read("turn_features", dt=DAY1)["output_tokens_per_s"].to_pylist()
    assert rate == [float("inf")]
    table = DeltaTable(lake.path("turn_features"))
    assert table.to_pyarrow_table()["output_tokens_per_s"].to_pylist() == [float("inf")]
    con = duckdb.connect()
    con.register("turn_features", table.to_pyarrow_dataset())
    assert con.sql("SELECT output_tokens_per_s FROM turn_features").fetchall() == [(math.inf,)]
    polars = pl.read_delta(lake.path("turn_features"))
    assert polars["output_tokens_per_s"].to_list() == [math.inf]
