"""The shared writer: the Tier A layout, idempotent file names, one `dt` per session."""

import datetime as dt
from pathlib import Path

from tests.ingest.lakes import raw_events, raw_files
from trajectory_assets.ingest.common import Row, event, stable_id
from trajectory_assets.ingest.writer import file_name, write_rows
from trajectory_assets.lake.fs import Lake

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
    raw = raw_events(tmp_path)
    assert raw.num_rows == 7 == len(set(raw["event_id"].to_pylist()))
