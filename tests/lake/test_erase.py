"""Purging history for `forget`: only tables whose log touched the forgotten days lose it."""

import datetime as dt
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.lakes import DAY1, DAY2, write_session_file
from tests.runs import lake_catalog, run_all
from trajectory_assets.errors import RawLayoutError
from trajectory_assets.lake import delta, delta_history, erase, erase_purge, erase_raw
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import list_days, list_raw_files
from trajectory_assets.operators import Sessionize


def versions_kept(lake: Lake, name: str) -> list[int]:
    return sorted(c.version for c in delta_history.commits(lake, name))


def test_a_day_no_table_holds_purges_nothing(lake: Lake) -> None:
    run_all(lake, [DAY1])
    run_all(lake, [DAY2])
    before = versions_kept(lake, "sessions")
    assert before[0] == 0 and len(before) >= 3
    assert erase_purge.purge_history(lake, lake_catalog(lake), ["1970-01-01"]) == []
    assert versions_kept(lake, "sessions") == before  # time travel still reaches version 0


def test_a_day_a_table_holds_purges_that_table(lake: Lake) -> None:
    run_all(lake, [DAY1])
    run_all(lake, [DAY2], operators=[Sessionize()])  # only sessionize's tables touch DAY2
    purged = erase_purge.purge_history(lake, lake_catalog(lake), [DAY2])
    assert set(purged) == set(Sessionize().output_names)
    assert versions_kept(lake, "sessions")[0] > 0  # older entries cleaned up
    assert versions_kept(lake, "tool_stats")[0] == 0  # never held DAY2: history kept
    table = delta.open_table(lake, "sessions")
    assert table is not None and lake_catalog(lake).read("sessions", dt=DAY2).num_rows > 0


def test_rows_left_are_one_line_per_session_and_day_and_say_how_many_more() -> None:
    hits = [(DAY1, f"s{i:02}") for i in range(22)] + [(DAY1, "s00")]
    lines = erase._rows_found("turns", hits)
    assert lines[0] == f"turns: 2 row(s) of session s00 (dt={DAY1})"
    assert len(lines) == 21 and lines[-1] == "turns: and 2 more session day(s)"


def test_a_raw_file_linked_from_outside_the_lake_goes_with_its_target(
    lake: Lake, tmp_path: Path
) -> None:
    """A raw file may be a link, read as its target: forget deleted the link and left the
    session's events in the target, and said nothing holds them."""
    files = list_raw_files(lake, dt=DAY1)
    victim = files[0]
    other = next(f for f in files if f.session_id != victim.session_id)
    link = Path(lake.path(victim.path))
    outside = tmp_path / "archive" / "kept.parquet"
    outside.parent.mkdir()
    shutil.move(link, outside)
    link.symlink_to(outside)
    assert erase_raw.delete_raw(lake, [victim]) == [str(outside.resolve())]
    assert not outside.exists() and not link.parent.exists()
    # a link to a raw file of the lake is that file's to delete, with its own session
    inside = Path(lake.path(other.path))
    second = Path(lake.path(victim.path)).parent.parent / "session_id=linked" / "part-0.parquet"
    second.parent.mkdir()
    second.symlink_to(inside)
    (linked,) = list_raw_files(lake, dt=DAY1, app_id=victim.app_id, session_ids=["linked"])
    assert erase_raw.delete_raw(lake, [linked]) == [] and inside.exists()


def test_a_link_out_of_the_lake_forget_would_mishandle_is_refused_before_anything_goes(
    lake: Lake, tmp_path: Path
) -> None:
    """A link planted in a session's folder made forget delete whatever it linked to (any file
    its user may delete); and a link holding other sessions' rows would be written again as a
    file, leaving the forgotten rows in its target."""
    files = list_raw_files(lake, dt=DAY1)
    victim = files[0]
    other = next(
        f for f in files if f.app_id == victim.app_id and f.session_id != victim.session_id
    )
    stranger = next(f for f in files if f.app_id != victim.app_id)
    link = Path(lake.path(victim.path)).parent / "zz.parquet"
    precious = tmp_path / "precious.txt"
    precious.write_text("not events")
    finance = tmp_path / "finance.parquet"  # a Parquet file, of no events
    pq.write_table(pa.table({"account": ["a"], "usd": [1.0]}), finance)
    shared = tmp_path / "shared.parquet"
    shutil.copy(lake.path(other.path), shared)  # the other session's events
    foreign = tmp_path / "foreign.parquet"
    shutil.copy(lake.path(stranger.path), foreign)  # another app's
    asked = erase.Request(victim.app_id, (victim.session_id,))

    def refused(target: Path, request: erase.Request = asked) -> str:
        if link.is_symlink():
            link.unlink()
        link.symlink_to(target)
        planted = next(f for f in list_raw_files(lake, dt=DAY1) if f.path.endswith("zz.parquet"))
        with pytest.raises(RawLayoutError) as raised:
            erase_raw.refuse_outside_targets(lake, request, [victim, planted], [])
        return str(raised.value)

    assert f"{precious}, outside the lake, which is no Parquet file" in refused(precious)
    assert "which is no raw events file (it has no event_id" in refused(finance)
    assert "which holds other sessions' events too" in refused(shared)
    both = erase.Request(victim.app_id, (victim.session_id, other.session_id, stranger.session_id))
    assert "which holds other apps' events too" in refused(foreign, both)
    link.unlink()
    link.symlink_to(shared)
    planted = next(f for f in list_raw_files(lake, dt=DAY1) if f.path.endswith("zz.parquet"))
    erase_raw.refuse_outside_targets(lake, both, [victim, planted], [])  # theirs alone: it goes
    with pytest.raises(RawLayoutError, match="forget would write the link again as a file"):
        erase_raw.refuse_outside_targets(lake, asked, [victim], [planted.path])
    assert precious.exists() and shared.exists() and finance.exists()


def test_sessions_forgotten_before_are_known_in_any_order_and_in_part(tmp_path: Path) -> None:
    """A request of sessions forgotten before, in another order or some of them, was "nothing
    to forget" (its record was matched as the same list); an unfinished later forget of one of
    them must be finished, not called done."""
    lake = Lake(str(tmp_path))

    def forgot(app: str, sessions: list[str], verified: bool, name: str) -> str:
        path = lake.path(erase.FORGOTTEN, f"{name}.json")
        record = erase.Record(app, sessions, None, "t", sessions=sessions, verified=verified)
        erase.save(lake, path, record)
        return path

    first = forgot("app", ["x", "y"], True, "20261101T000000-a")
    forgot("other", ["z"], True, "20261102T000000-b")
    later = forgot("app", ["z"], True, "20261103T000000-c")
    asked = erase.Request("app", ("z", "y"))
    assert erase.verified_records(lake, asked) == [later, first]
    assert erase.verified_records(lake, erase.Request("app", ("y",))) == [first]
    assert erase.verified_records(lake, erase.Request("app", ("y", "w"))) == []  # w never was
    unfinished = forgot("app", ["x"], False, "20261104T000000-d")
    assert erase.verified_records(lake, erase.Request("app", ("y", "x"))) == []
    assert erase.unfinished_record(lake, erase.Request("app", ("y", "x"))) == unfinished
    assert erase.unfinished_record(lake, erase.Request("app", ("y",))) is None


def test_the_untimed_day_goes_with_its_last_session_and_other_days_stay(tmp_path: Path) -> None:
    """A day emptied by a forget stays, so its tables are rebuilt empty; the day of untimed
    events has no tables, and kept empty it was a day before the first partition that every
    `--missing` named."""
    at = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    write_session_file(tmp_path, "1970-01-01", "untimed", [{"event_id": "e", "ts": at}])
    write_session_file(tmp_path, DAY1, "timed", [{"event_id": "t", "ts": at}])
    lake = Lake(str(tmp_path))
    files = list_raw_files(lake, dt="1970-01-01") + list_raw_files(lake, dt=DAY1)
    erase_raw.delete_raw(lake, files)
    assert list_days(lake) == [DAY1]
