"""The shared writer: the Tier A layout, idempotent file names, one `dt` per session."""

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq

from tests.ingest.lakes import raw_events, raw_files
from trajectory_assets.ingest.common import Row, event, stable_id
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw_write import file_name, rows_to_table, write_rows, write_session

DAY1 = dt.datetime(2026, 3, 1, 23, 59, 58, tzinfo=dt.UTC)


def _rows(session: str, start: dt.datetime, n: int, first: int = 0) -> list[Row]:
    return [
        event(
            "llm_call",
            event_id=stable_id("test", session, i),
            session_id=session,
            ts=start + dt.timedelta(seconds=i),
            seq=i,
            app_id="app",
            input_tokens=10,
        )
        for i in range(first, first + n)
    ]


def test_layout_and_file_name_follow_the_spec(tmp_path: Path) -> None:
    summary = write_rows(Lake(str(tmp_path)), _rows("s/1 x", DAY1, 3))
    (path,) = raw_files(tmp_path)
    relative = path.relative_to(tmp_path).as_posix()
    assert relative.startswith("raw_events/dt=2026-03-01/app_id=app/session_id=s%2F1%20x/ev-")
    assert path.name == file_name(stable_id("test", "s/1 x", i) for i in range(3))
    assert summary.events_written == 3 and summary.days == {"2026-03-01"}


def test_a_session_crossing_midnight_stays_under_its_first_day(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    write_rows(lake, _rows("s", DAY1, 4))  # 23:59:58 .. 00:00:01 next day
    assert set(raw_events(tmp_path)["dt"].to_pylist()) == {"2026-03-01"}


def test_a_later_file_of_a_session_goes_where_the_session_already_is(tmp_path: Path) -> None:
    """Events arriving in a second import, even earlier ones, join the session's existing `dt`."""
    lake = Lake(str(tmp_path))
    write_rows(lake, _rows("s", DAY1 + dt.timedelta(days=2), 2))
    write_rows(lake, _rows("s", DAY1, 2, first=10))
    raw = raw_events(tmp_path)
    assert raw.num_rows == 4
    assert set(raw["dt"].to_pylist()) == {"2026-03-03"}


def test_writing_the_same_events_again_adds_nothing(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    write_rows(lake, _rows("s", DAY1, 5))
    again = write_rows(lake, _rows("s", DAY1, 5))
    assert again.events_written == 0 and again.events_skipped == 5 and not again.files
    grown = write_rows(lake, _rows("s", DAY1, 7))  # a source that grew: only the new events
    assert grown.events_written == 2 and grown.events_skipped == 5
    assert not again.changed and not grown.changed
    raw = raw_events(tmp_path)
    assert raw.num_rows == 7 == len(set(raw["event_id"].to_pylist()))


def test_an_event_already_stored_with_other_content_is_kept_and_named(tmp_path: Path) -> None:
    """The id is the idempotency key, so the lake keeps its copy; the changed copy is reported,
    not counted as present without a word."""
    lake = Lake(str(tmp_path))
    write_rows(lake, _rows("s", DAY1, 3))
    edited = _rows("s", DAY1, 4)
    edited[1]["input_tokens"] = 11
    edited[2]["payload"] = '{"note": "re-exported"}'
    again = write_rows(lake, edited)
    assert again.events_written == 1 and again.events_skipped == 3
    assert sorted(again.changed) == sorted(
        [
            f"app app, session s, event {stable_id('test', 's', 1)}: input_tokens differ",
            f"app app, session s, event {stable_id('test', 's', 2)}: payload differ",
        ]
    )
    stored = {r["seq"]: r for r in raw_events(tmp_path).to_pylist()}
    assert stored[1]["input_tokens"] == 10 and stored[2]["payload"] is None


def test_the_copy_compared_is_the_one_the_tables_keep(tmp_path: Path) -> None:
    """A folder may hold an id twice (a logger without drop_existing); the tables keep the first
    in event order, so that copy is the one a re-sent event is compared with. NaN equals NaN."""
    lake = Lake(str(tmp_path))
    early, other = _rows("s", DAY1, 2)
    late = {**early, "ts": DAY1 + dt.timedelta(seconds=5), "input_tokens": 99}
    for rows in ([early, other], [late]):
        write_session(lake, "2026-03-01", "app", "s", rows_to_table(rows))
    assert [len(pq.read_table(p)) for p in sorted(raw_files(tmp_path))] == [1, 2]  # late first
    assert not write_rows(lake, [early]).changed
    assert write_rows(lake, [late]).changed == [
        f"app app, session s, event {early['event_id']}: ts, input_tokens differ"
    ]
    nan = _rows("n", DAY1, 1)
    nan[0]["latency_ms"] = float("nan")
    write_rows(lake, nan)
    assert not write_rows(lake, nan).changed


def test_a_session_another_writer_spelled_otherwise_is_found_and_written_into(
    tmp_path: Path,
) -> None:
    """Spark leaves a space or an `é` as it is in a folder name, and keeps the keys out of the
    files: an event re-sent to such a session was written again into a folder of this writer's
    spelling (the runs read both as the session, and a changed copy replaced the lake's), and an
    identical one was said to differ in app_id and session_id."""
    from trajectory_assets.lake.raw_write import known_session_days, session_rows

    lake = Lake(str(tmp_path))
    rows = _rows("s 1 é", DAY1, 3)
    for row in rows:
        row["app_id"] = "my app"
    spark = tmp_path / "raw_events/dt=2026-03-01/app_id=my app/session_id=s 1 é"
    spark.mkdir(parents=True)
    keyless = rows_to_table(rows[:2]).drop_columns(["app_id", "session_id"])
    pq.write_table(keyless, spark / "part-00000-x.c000.snappy.parquet")
    assert known_session_days(lake, "my app", ["s 1 é", "other"]) == {"s 1 é": "2026-03-01"}
    assert [r["seq"] for r in session_rows(lake, "2026-03-01", "my app", "s 1 é", ["seq"])] == [
        0,
        1,
    ]
    changed = [dict(r) for r in rows]
    changed[1]["input_tokens"] = 99
    again = write_rows(lake, changed)
    assert again.events_written == 1 and again.events_skipped == 2
    assert again.changed == [
        f"app my app, session s 1 é, event {stable_id('test', 's 1 é', 1)}: input_tokens differ"
    ]
    (folder,) = (tmp_path / "raw_events/dt=2026-03-01").glob("*/*")
    assert folder == spark and len(list(spark.glob("*.parquet"))) == 2  # no second spelling
