"""Raw listing, pruning and batching of real Parquet files."""

import os
import shutil
from pathlib import Path

import pytest

from tests.lakes import DAY1, DAY2
from trajectory_assets.errors import RawLayoutError
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import (
    RawFile,
    group_sessions,
    list_days,
    list_raw_files,
    misnamed_day_folders,
)
from trajectory_assets.lake.raw_write import session_dir


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
    one_session = list_raw_files(lake, dt=DAY1, app_id=app, session_ids=[sid])
    assert {f.session_id for f in one_session} == {sid}
    assert len(one_session) >= 1


def test_folders_that_name_no_day_are_no_day_and_are_named(lake: Lake) -> None:
    everything = list_raw_files(lake)
    names = ("dt=2026-7-10", "dt=20260710", "dt=2026-07-10T00", "dt=2026-13-45", "DT=2026-07-10")
    for name in (*names, "date=2026-07-10", "2026-07-10"):  # these were passed over unsaid
        shutil.copytree(
            Path(lake.root, "raw_events", f"dt={DAY1}"), Path(lake.root, "raw_events", name)
        )
    Path(lake.root, "raw_events", "stray.parquet").touch()
    Path(lake.root, "raw_events", "_SUCCESS").touch()  # a writer's own: not raw data
    assert list_days(lake) == [DAY1, DAY2] and list_raw_files(lake) == everything
    assert [Path(p).name for p in misnamed_day_folders(lake)] == [
        "2026-07-10",
        "DT=2026-07-10",
        "date=2026-07-10",
        "dt=2026-07-10T00",
        "dt=2026-13-45",
        "dt=2026-7-10",
        "dt=20260710",
        "stray.parquet",
    ]


def test_a_linked_day_and_linked_files_are_read_as_their_targets(
    lake: Lake, tmp_path: Path
) -> None:
    day = Path(lake.root) / "raw_events" / f"dt={DAY1}"
    before = list_raw_files(lake, dt=DAY1)
    shutil.move(day, tmp_path / "day")
    day.symlink_to(tmp_path / "day")  # a day kept elsewhere
    one = next(day.glob("app_id=*/session_id=*/*.parquet"))
    shutil.move(one, tmp_path / "one.parquet")
    one.symlink_to(tmp_path / "one.parquet")  # a file kept elsewhere
    session = one.parent
    (session / "notes").symlink_to(session / "notes")  # not raw data: ignored, loop or not
    (session / "_tmp.parquet").symlink_to(tmp_path / "nowhere")  # hidden: ignored
    assert list_raw_files(lake, dt=DAY1) == before
    assert list_raw_files(lake, dt=DAY1, app_id=before[0].app_id)


@pytest.mark.parametrize(
    ("where", "target"),
    [
        ("day", "nowhere"),
        ("app", "nowhere"),
        ("file", "nowhere"),
        ("file", "itself"),
        ("app", "a folder"),
        ("session", "a folder"),
        ("in a session", "a folder"),  # a folder of any name: a real one there is read
        ("in a session", "its parent"),  # which loops
    ],
)
def test_a_link_to_nothing_or_to_a_folder_inside_a_day_stops_the_listing(
    lake: Lake, tmp_path: Path, where: str, target: str
) -> None:
    day = Path(lake.root) / "raw_events" / f"dt={DAY1}"
    app = next(day.glob("app_id=*"))
    link = {
        "day": day,
        "app": day / "app_id=linked",
        "session": app / "session_id=linked",
        "file": next(app.glob("session_id=*")) / "part-9.parquet",
        "in a session": next(app.glob("session_id=*")) / "more",
    }[where]
    if where == "day":
        shutil.rmtree(day)
    pointed = {
        "nowhere": tmp_path / "nowhere",
        "itself": link,
        "a folder": tmp_path,
        "its parent": link.parent,
    }[target]
    os.symlink(pointed, link)
    for pruned in ({}, {"app_id": app.name[len("app_id=") :]}):
        if where == "app" and pruned:
            continue  # a listing pruned to another app does not look at it
        with pytest.raises(RawLayoutError) as raised:
            list_raw_files(lake, dt=DAY1, **pruned)
        assert str(link) in str(raised.value) and str(pointed) in str(raised.value)
    assert list_raw_files(lake, dt=DAY2)  # other days still list


def test_a_raw_file_not_named_parquet_stops_the_listing(lake: Lake) -> None:
    """Firehose names its files without an extension: every such file was left out of every
    table without a word. A writer's own hidden files (`_SUCCESS`, `.crc`) are not raw data."""
    session = next((Path(lake.root) / "raw_events" / f"dt={DAY1}").glob("app_id=*/session_id=*"))
    one = next(session.glob("*.parquet"))
    before = list_raw_files(lake, dt=DAY1)
    (session / "_SUCCESS").touch()
    (session / f".{one.name}.crc").touch()
    (session / "README").write_text("not data")
    shutil.copy(one, session / f"{one.name}.tmp-0123abcd")  # an older writer's write under way
    assert list_raw_files(lake, dt=DAY1) == before
    shutil.copy(one, session / "part-0.PARQUET")  # a case-blind file system's writer: raw data
    assert len(list_raw_files(lake, dt=DAY1)) == len(before) + 1
    (session / "part-0.PARQUET").unlink()
    shutil.copy(one, session / "firehose-1-2026-11-18-00-00-00-0a1b")
    with pytest.raises(RawLayoutError, match=r"0a1b is a Parquet file not named \*\.parquet"):
        list_raw_files(lake, dt=DAY1)
    assert list_raw_files(lake, dt=DAY2)  # other days still list


@pytest.mark.parametrize(
    "folder",
    [
        "",  # in the day's folder itself
        "app_id=a",
        "app_id=__HIVE_DEFAULT_PARTITION__",
    ],
)
def test_a_parquet_file_outside_a_session_folder_stops_the_listing(lake: Lake, folder: str) -> None:
    """Its events belong to no session: it was left out of every table without a word."""
    placed = Path(lake.root) / "raw_events" / f"dt={DAY1}" / folder / "events.parquet"
    placed.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(
        next(placed.parents[len(Path(folder).parts)].glob("app_id=*/session_id=*/*.parquet")),
        placed,
    )
    with pytest.raises(RawLayoutError, match="so its events belong to no session") as raised:
        list_raw_files(lake, dt=DAY1)
    assert str(raised.value).startswith(f"raw data at {placed} is not in an app_id=<app>/")
    assert list_raw_files(lake, dt=DAY2)  # other days still list


@pytest.mark.parametrize(
    ("folder", "app", "session"),
    [
        ("app_id=a/session_id=__HIVE_DEFAULT_PARTITION__", "a", ""),  # a null, as Spark writes it
        ("app_id=a/session_id=", "a", ""),
        ("app_id=__HIVE_DEFAULT_PARTITION__/session_id=s", "", "s"),
    ],
)
def test_a_folder_of_a_null_key_is_listed_with_an_empty_key(
    lake: Lake, folder: str, app: str, session: str
) -> None:
    """Spark's partitionBy writes a row of a null key there: it stopped every command of the
    day; its rows are rejected rows (validation), and the day's other sessions count."""
    day = Path(lake.root) / "raw_events" / f"dt={DAY1}"
    before = list_raw_files(lake, dt=DAY1)
    placed = day / folder / "part-0.parquet"
    placed.parent.mkdir(parents=True)
    shutil.copy(next(day.glob("app_id=*/session_id=*/*.parquet")), placed)
    listed = list_raw_files(lake, dt=DAY1)
    assert [f for f in listed if f not in before] == [
        RawFile(
            f"raw_events/dt={DAY1}/{folder}/part-0.parquet",
            placed.stat().st_size,
            placed.stat().st_mtime,
            DAY1,
            app,
            session,
        )
    ]
    if app:  # `forget --all-sessions` lists the app's folders: it deletes it with them
        assert list_raw_files(lake, dt=DAY1, app_id=app) == [f for f in listed if f.app_id == app]


@pytest.mark.parametrize(
    "folder",
    ["session_id=s/app_id=a", "app_id=a/part=1/session_id=s", "app_id=a/session_id=s/app_id=b"],
)
def test_key_folders_in_another_order_stop_the_listing(lake: Lake, folder: str) -> None:
    """Spark's partitionBy("dt", "session_id", "app_id"): the runs read them, but forget looks
    for a session's folders inside its app's, found none and left its events."""
    day = Path(lake.root) / "raw_events" / f"dt={DAY1}"
    placed = day / folder / "part-0.parquet"
    placed.parent.mkdir(parents=True)
    shutil.copy(next(day.glob("app_id=*/session_id=*/*.parquet")), placed)
    with pytest.raises(
        RawLayoutError, match="not in the order dt=/app_id=/session_id=, each key once"
    ):
        list_raw_files(lake, dt=DAY1)
    assert list_raw_files(lake, dt=DAY2)


def test_a_broken_link_for_the_whole_raw_table_is_named_by_every_listing(
    lake: Lake, tmp_path: Path
) -> None:
    raw = Path(lake.root) / "raw_events"
    shutil.rmtree(raw)
    raw.symlink_to(tmp_path / "gone")
    for listing in (lambda: list_days(lake), lambda: list_raw_files(lake, dt=DAY1)):
        with pytest.raises(RawLayoutError, match="raw_events is a symbolic link"):
            listing()


def test_a_pruned_listing_refuses_the_linked_folders_a_full_one_refuses(
    lake: Lake, tmp_path: Path
) -> None:
    day = Path(lake.root) / "raw_events" / f"dt={DAY1}"
    app = next(day.glob("app_id=*"))
    shutil.move(app, tmp_path / "app")
    app.symlink_to(tmp_path / "app")
    app_id = app.name[len("app_id=") :]
    with pytest.raises(RawLayoutError):
        list_raw_files(lake, dt=DAY1, app_id=app_id)
    with pytest.raises(RawLayoutError):
        list_raw_files(lake, dt=DAY1, app_id=app_id, session_ids=["any"])


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


def test_a_days_sessions_are_cut_into_batches_of_about_equal_size_across_apps() -> None:
    """A day is cut into the whole number of batches nearest the target, never leaving a small
    remainder batch (memory follows the largest batch in flight); apps share batches, so many
    small apps cost no more than one app of their size."""
    mib = 1024 * 1024
    files = [
        *_sessions("a", [mib // 4] * 68),
        *_sessions("b", [mib // 4] * 668),
        *_sessions("c", [mib // 4] * 4),
    ]  # 185 MiB: twelve batches of ~15.4 MiB
    groups = group_sessions(files, batch_bytes=16 * mib)
    assert [g.batch_id for g in groups] == [f"{DAY1}-{i:05d}" for i in range(12)]
    assert all(15 * mib <= g.bytes <= 16 * mib for g in groups)
    assert [f for g in groups for f in g.files] == files  # sessions in order, each once
    assert groups[0].ranges == (("a", "s0000", "s0061"),)
    assert [r[:2] for r in groups[1].ranges] == [("a", "s0062"), ("b", "s0000")]  # shared
    tiny = [f for i in range(500) for f in _sessions(f"app{i:03d}", [1000])]
    assert len(group_sessions(tiny, batch_bytes=16 * mib)) == 1  # not one batch per app


def test_a_session_larger_than_a_batch_leaves_no_empty_batch() -> None:
    mib = 1024 * 1024
    files = _sessions("a", [mib, 40 * mib, mib, mib])
    groups = group_sessions(files, batch_bytes=8 * mib)
    assert all(g.files for g in groups)
    assert [[f.session_id for f in g.files] for g in groups] == [
        ["s0000", "s0001"],
        ["s0002", "s0003"],
    ]


def test_an_empty_file_of_the_last_session_is_batched() -> None:
    """A producer's file of 0 bytes (created, not yet written) in the day's last session put it
    past the last batch: every command listing the day failed with an IndexError."""
    groups = group_sessions(_sessions("a", [1000, 0]), batch_bytes=1000)
    assert [[f.session_id for f in g.files] for g in groups] == [["s0000", "s0001"]]


def test_an_app_and_session_whose_folder_names_are_encoded_are_found(tmp_path: Path) -> None:
    """Writers encode folder names (`session_id=agent%3Arun-1`): a listing pruned by app and
    session finds them by their ids (`forget --session-id` listed nothing for such a session)."""
    lake = Lake(str(tmp_path / "lake"))
    folder = Path(session_dir(lake, DAY1, "my app", "agent:run-1"))
    folder.mkdir(parents=True)
    (folder / "0.parquet").write_bytes(b"")
    assert folder.name == "session_id=agent%3Arun-1"
    (found,) = list_raw_files(lake, dt=DAY1, app_id="my app", session_ids=["agent:run-1"])
    assert (found.app_id, found.session_id) == ("my app", "agent:run-1")


@pytest.mark.parametrize(
    ("app_folder", "session_folder", "session_id"),
    [
        ("app_id=my app", "session_id=hive style", "hive style"),  # Spark's raw space
        ("app_id=my%20app", "session_id=%6Eabc", "nabc"),  # an encoding of what needs none
    ],
)
def test_folders_named_otherwise_than_ours_are_found_by_the_ids_they_read_as(
    tmp_path: Path, app_folder: str, session_folder: str, session_id: str
) -> None:
    """The runs read these folders as app `my app` and the session; a listing pruned by app and
    session built our own spelling of the names, found nothing, and `forget` exited 1 each
    time with the session still in every table."""
    lake = Lake(str(tmp_path / "lake"))
    folder = tmp_path / "lake" / "raw_events" / f"dt={DAY1}" / app_folder / session_folder
    folder.mkdir(parents=True)
    (folder / "0.parquet").write_bytes(b"")
    (everything,) = list_raw_files(lake, dt=DAY1)
    assert (everything.app_id, everything.session_id) == ("my app", session_id)
    (found,) = list_raw_files(lake, dt=DAY1, app_id="my app", session_ids=[session_id, "other"])
    assert found == everything
    assert list_raw_files(lake, dt=DAY1, app_id="my app", session_ids=["other"]) == []


def test_every_misplaced_file_of_every_day_is_named_at_once(lake: Lake) -> None:
    """A logger that left out the session's folder on many days: `--missing` named one file per
    command, so a lake took as many commands as it had days to repair."""
    from trajectory_assets.engine.lineage import stale_days
    from trajectory_assets.engine.registry import Registry
    from trajectory_assets.operators import OPERATORS

    placed = []
    for day, n in ((DAY1, 5), (DAY2, 1)):
        raw = Path(lake.root) / "raw_events" / f"dt={day}"
        folder = raw / "app_id=a"  # a logger that left out the session's folder
        folder.mkdir(parents=True)
        source = next(raw.glob("app_id=*/session_id=*/*.parquet"))
        for i in range(n):
            placed.append(folder / f"ev-{i}.parquet")
            shutil.copy(source, placed[-1])
    with pytest.raises(RawLayoutError) as raised:
        list_raw_files(lake, dt=DAY1)
    assert str(raised.value).startswith(
        f"raw data at {placed[0]} is not in an app_id=<app>/session_id=<session> folder of its "
        f"day (and 4 more: {placed[1]}, {placed[2]}, {placed[3]} ...), so its events belong to "
        "no session"
    )
    with pytest.raises(RawLayoutError) as stale:
        stale_days(lake, Registry.build(OPERATORS), OPERATORS, [DAY1, DAY2])
    assert str(stale.value).endswith(f"; so is raw data of 1 more day(s): {placed[5]}")
