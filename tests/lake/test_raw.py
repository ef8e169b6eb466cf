"""Raw listing, pruning and batching of real Parquet files."""

import os
import shutil
from pathlib import Path

import pytest

from tests.lakes import DAY1, DAY2
from trajectory_assets.errors import BrokenLinkError
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import (
    RawFile,
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


def test_linked_folders_are_listed_as_what_they_point_to_each_once(
    lake: Lake, tmp_path: Path
) -> None:
    day = Path(lake.root) / "raw_events" / f"dt={DAY1}"
    before = {(f.app_id, f.session_id, Path(f.path).name, f.size) for f in list_raw_files(lake)}
    app = sorted(day.iterdir())[0]
    moved = tmp_path / "elsewhere" / app.name
    shutil.move(app, moved)
    os.symlink(moved, app)  # an app folder that lives elsewhere
    session = sorted(p for p in moved.iterdir())[0]
    os.symlink(moved, session / "loop")  # links back up must not list anything twice
    os.symlink(day, session / "day")
    os.symlink(day.parent, session / "raw_events")
    os.symlink(tmp_path / "nowhere", session / "notes.txt")  # not data: ignored as before
    after = list_raw_files(lake, dt=DAY1) + list_raw_files(lake, dt=DAY2)
    assert {(f.app_id, f.session_id, Path(f.path).name, f.size) for f in after} == before
    assert len(after) == len(before)


@pytest.mark.parametrize("where", ["day", "app", "file"])
def test_a_link_to_nothing_stops_the_listing_naming_link_and_target(
    lake: Lake, tmp_path: Path, where: str
) -> None:
    day = Path(lake.root) / "raw_events" / f"dt={DAY1}"
    link = {
        "day": day,
        "app": day / "app_id=gone",
        "file": next(day.glob("app_id=*/session_id=*")) / "part-9.parquet",
    }[where]
    if where == "day":
        shutil.rmtree(day)
    os.symlink(tmp_path / "nowhere", link)
    with pytest.raises(BrokenLinkError) as raised:
        list_raw_files(lake, dt=DAY1)
    assert str(link) in str(raised.value)
    assert str(tmp_path / "nowhere") in str(raised.value)
    assert list_raw_files(lake, dt=DAY2)  # other days still list


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


def _sessions(app: str, sizes: list[int]) -> list[RawFile]:
    return [
        RawFile(
            f"raw_events/dt={DAY1}/app_id={app}/session_id=s{i:04d}/0.parquet",
            size,
            0.0,
            DAY1,
            app,
            f"s{i:04d}",
        )
        for i, size in enumerate(sizes)
    ]


def test_an_apps_sessions_are_cut_into_batches_of_about_equal_size() -> None:
    """A day's app is cut into the whole number of batches nearest the target, never leaving a
    small remainder batch (memory follows the largest batch in flight)."""
    mib = 1024 * 1024
    files = [
        *_sessions("a", [mib // 4] * 68),  # 17 MiB: nearer one batch than two
        *_sessions("b", [mib // 4] * 668),  # 167 MiB: ten batches of ~16.7 MiB
        *_sessions("c", [mib // 4] * 4),  # 1 MiB: one small batch of its own
    ]
    groups = group_sessions(files, batch_bytes=16 * mib)
    by_app = [[g for g in groups if g.files[0].app_id == app] for app in "abc"]
    assert [len(gs) for gs in by_app] == [1, 10, 1]
    assert all(len({f.app_id for f in g.files}) == 1 for g in groups)
    assert all(15.5 * mib <= g.bytes <= 17 * mib for g in by_app[1])
    assert [g.batch_id for g in groups] == [f"{DAY1}-{i:05d}" for i in range(12)]
    assert [f for g in groups for f in g.files] == files  # sessions in order, each once


def test_a_session_larger_than_a_batch_leaves_no_empty_batch() -> None:
    mib = 1024 * 1024
    files = _sessions("a", [mib, 40 * mib, mib, mib])
    groups = group_sessions(files, batch_bytes=8 * mib)
    assert all(g.files for g in groups)
    assert [[f.session_id for f in g.files] for g in groups] == [
        ["s0000", "s0001"],
        ["s0002", "s0003"],
    ]
