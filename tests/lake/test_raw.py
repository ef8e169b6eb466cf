"""Raw listing, pruning and batching of real Parquet files."""

from tests.lakes import DAY1, DAY2
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import (
    group_sessions,
    list_days,
    list_raw_files,
)


def test_pruning_by_day_range_app_and_session(lake: Lake) -> None:
    assert list_days(lake) == [DAY1, DAY2]
    assert list_days(lake, dt_from=DAY2) == [DAY2]
    everything = list_raw_files(lake)
    day1 = list_raw_files(lake, dt=DAY1)
    assert {f.dt for f in day1} == {DAY1}
    assert len(day1) < len(everything)
    app = day1[0].app_id
    one_app = list_raw_files(lake, dt=DAY1, app_id=app)
    assert {f.app_id for f in one_app} == {app}
    sid = one_app[0].session_id
    one_session = list_raw_files(lake, dt=DAY1, app_id=app, session_id=sid)
    assert {f.session_id for f in one_session} == {sid}
    assert len(one_session) >= 1


def test_groups_hold_whole_sessions_and_are_deterministic(lake: Lake) -> None:
    files = list_raw_files(lake)
    groups = group_sessions(files, batch_bytes=20_000)
    assert len(groups) > 4
    assert groups == group_sessions(list(reversed(files)), batch_bytes=20_000)
    seen: dict[tuple[str, str], str] = {}
    for g in groups:
        assert {f.dt for f in g.files} == {g.day}
        for f in g.files:
            owner = seen.setdefault((f.app_id, f.session_id), g.batch_id)
            assert owner == g.batch_id, "a session was split across batches"
    assert sum(len(g.files) for g in groups) == len(files)
