"""Reading a table through the catalog: the rows of named sessions come from the files whose log
entry allows them, and are the rows a whole read finds."""

import dataclasses
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from tests.lakes import DAY1, DAY2, SMALL_BATCHES
from tests.runs import files_read, lake_catalog, run_operator
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.lake import delta, delta_commit
from trajectory_assets.lake.catalog import Catalog, overlapping
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.staging import write_data_file
from trajectory_assets.operators import Compact, Sessionize
from trajectory_assets.schema import TableSpec

COLUMNS = ["dt", "session_id"]


def test_the_rows_of_named_sessions_are_read_from_the_files_that_may_hold_them(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forget of one session at a year of days read every row of its app in every table."""
    for op in (Compact(), Sessionize()):
        run_operator(op, lake, [DAY1, DAY2], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    catalog = lake_catalog(lake)
    read = files_read(monkeypatch)
    for table in ("raw_compacted", "sessions", "turns"):  # app in the rows, or in the folders
        every = catalog.read(table, columns=["app_id", *COLUMNS])
        app = every["app_id"][0].as_py()
        of_app = every.filter(pc.equal(every["app_id"], app))
        named = sorted({s for s in of_app["session_id"].to_pylist()})[3:5]
        named_rows = of_app.filter(pc.is_in(of_app["session_id"], pa.array(named)))
        read.clear()
        found = catalog.session_rows(table, app, [*named, "no-such-session"], COLUMNS)
        assert sorted(found.to_pylist(), key=str) == sorted(
            named_rows.select(COLUMNS).to_pylist(), key=str
        )
        assert found.num_rows > 0 and found.column_names == COLUMNS
        files_of_app = {
            f.path
            for f in catalog.snapshot(table).files
            if f.rows and (f.sessions is None or f.sessions[0] == app)
        }
        assert 0 < len(read) < len(files_of_app), table
        assert catalog.session_rows(table, "no-such-app", named, COLUMNS).num_rows == 0


@pytest.mark.parametrize("partition_by", [(), ("app_id",)])
def test_a_file_whose_ids_are_not_text_or_whose_rows_are_uncounted_is_read(
    tmp_path: Path, partition_by: tuple[str, ...]
) -> None:
    """Ids 9 and 10 of a table of one's own gave the text range "9".."10", which holds no "10",
    and a file whose log entry keeps no statistics counted as empty: both were skipped, and a
    forget would have found none of the session's rows there."""
    lake = Lake(str(tmp_path / "lake"))
    numbered, text = pa.array([9, 10]), pa.array(["9", "10"])
    for name, ids, stats in (("numbered", numbered, True), ("bare", text, False)):
        schema = pa.schema([("dt", pa.string()), ("app_id", pa.string()), ("session_id", ids.type)])
        spec = TableSpec(name, schema, partition_by, ("app_id", "session_id"))
        rows = pa.table({"dt": [DAY1] * 2, "app_id": ["a"] * 2, "session_id": ids}, schema)
        values = {"dt": DAY1, **({"app_id": "a"} if partition_by else {})}
        written = write_data_file(lake, spec, values, rows, f"part-{'0' * 16}-b-{name}.parquet")
        file = written if stats else dataclasses.replace(written, stats=None)
        delta_commit.commit_day(lake, spec, DAY1, [file], {}, since_version=None)
        found = Catalog(lake, {name: spec}).session_rows(name, "a", ["10"], COLUMNS)
        assert found.to_pylist() == [{"dt": DAY1, "session_id": rows["session_id"][1].as_py()}]


def test_a_forget_before_a_day_reads_the_later_files_that_may_hold_the_earlier_sessions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--before` read every row of the app on every day of every table (51 s at a year): the
    earlier days are read, and of the later days the files whose range holds a session found
    there (a replay filed by the day it ran), as for named sessions."""
    lake = Lake(str(tmp_path / "lake"))
    schema = pa.schema([("dt", pa.string()), ("app_id", pa.string()), ("session_id", pa.string())])
    spec = TableSpec("t", schema, (), ("app_id", "session_id"))
    files = {
        (DAY1, "early"): ["s1", "s2"],
        (DAY1, "other-app"): ["s0"],
        (DAY2, "replay"): ["s1", "s3"],
        (DAY2, "later"): ["s5", "s6"],
    }
    for day in (DAY1, DAY2):
        written = []
        for (on, name), ids in files.items():
            if on == day:
                app = "b" if name == "other-app" else "a"
                rows = pa.table(
                    {"dt": [day] * len(ids), "app_id": [app] * len(ids), "session_id": ids}
                )
                written.append(
                    write_data_file(lake, spec, {"dt": day}, rows, f"part-{name}.parquet")
                )
        delta_commit.commit_day(lake, spec, day, written, {}, since_version=None)
    paths = files_read(monkeypatch)

    def read() -> list[str]:  # the files' names
        return sorted(p.rsplit("/", 1)[-1] for p in paths)

    catalog = Catalog(lake, {"t": spec})
    found = catalog.session_rows("t", "a", ["s6"], COLUMNS, before=DAY2)
    assert sorted(found.to_pylist(), key=str) == sorted(
        [
            {"dt": DAY1, "session_id": "s1"},
            {"dt": DAY1, "session_id": "s2"},
            {"dt": DAY2, "session_id": "s1"},  # the replay, on the later day
            {"dt": DAY2, "session_id": "s6"},  # named
        ],
        key=str,
    )
    assert read() == ["part-early.parquet", "part-later.parquet", "part-replay.parquet"]
    paths.clear()
    alone = catalog.session_rows("t", "a", [], COLUMNS, before=DAY2)
    assert sorted(alone["session_id"].to_pylist()) == ["s1", "s1", "s2"]
    assert read() == ["part-early.parquet", "part-replay.parquet"]


def test_the_files_that_may_hold_sessions_are_those_whose_range_meets_one() -> None:
    """The binary search finds what comparing every file with every range finds."""
    rng = random.Random(7)

    def some_id() -> str:
        return f"s{rng.randrange(100):02d}"

    def span() -> tuple[str, str, str]:
        low, high = sorted((some_id(), some_id()))
        return rng.choice("ab"), low, high

    files = [
        delta.DataFile(f"f{i}", 10, 5, (("dt", DAY1),), None, span() if i % 7 else None)
        for i in range(300)
    ]
    for _ in range(50):
        ranges = [span() for _ in range(rng.randrange(1, 20))]
        expected = tuple(
            f
            for f in files
            if f.sessions is None
            or any(
                f.sessions[0] == app and f.sessions[1] <= last and first <= f.sessions[2]
                for app, first, last in ranges
            )
        )
        assert overlapping(files, ranges) == expected
