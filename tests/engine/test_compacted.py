"""raw_compacted: the session operators read it when it is fresh, fall back to the raw files
when it is not, and compute the same tables either way."""

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.lakes import DAY1, DAY2, SMALL_BATCHES
from tests.runs import lake_catalog, plan, run_all, run_operator
from trajectory_assets.engine.explain import explain
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.lake import delta_history
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import COMPACTED_TABLE, RAW_TABLE
from trajectory_assets.lake.raw import list_raw_files
from trajectory_assets.lake.raw_read import read_events
from trajectory_assets.operators import OPERATORS, TIER_B, Compact, Sessionize, TurnFeatures

TINY_BATCHES = 64 * 1024  # 8-15 compacted files per app and day, many batches reading each
DAYS = [DAY1, DAY2]
REGISTRY = Registry.build([Sessionize()], OPERATORS)


def materialize(lake: Lake, *, compact: bool) -> None:
    for op in OPERATORS:
        if compact or not isinstance(op, Compact):
            run_operator(op, lake, DAYS, InlineRuntime(), batch_bytes=SMALL_BATCHES)


def committed(lake: Lake, table: str, day: str) -> dict[str, str]:
    """The metadata of the commit that last changed a table's day."""
    return next(c for c in delta_history.commits(lake, table) if day in c.days).metadata


def test_every_table_is_the_same_read_from_raw_or_compacted_or_in_one_shared_run(
    raw_lake_root: Path, tmp_path: Path
) -> None:
    """Each operator on its own, reading the raw files; each on its own, reading raw_compacted;
    and all of them in one run sharing every batch: the same tables, row for row."""
    from_raw = Lake(str(shutil.copytree(raw_lake_root, tmp_path / "raw")))
    from_compacted = Lake(str(shutil.copytree(raw_lake_root, tmp_path / "compacted")))
    shared = Lake(str(shutil.copytree(raw_lake_root, tmp_path / "shared")))
    materialize(from_raw, compact=False)
    materialize(from_compacted, compact=True)
    run_all(shared, DAYS, batch_bytes=SMALL_BATCHES)

    for day in DAYS:
        assert committed(from_raw, "sessions", day)["source"] == RAW_TABLE
        source = committed(from_compacted, "turn_features", day)["source"]
        assert source.startswith(f"{COMPACTED_TABLE} ")
        assert committed(shared, "turn_features", day)["source"] == RAW_TABLE
        for table in TIER_B:
            expected = lake_catalog(from_raw).read(table, dt=day)
            assert expected.num_rows > 0 or table == "decision_steps"
            for other in (from_compacted, shared):
                actual = lake_catalog(other).read(table, dt=day)
                assert actual.equals(expected), f"{table} dt={day} differs in {other.root}"


def test_compacted_holds_every_raw_row_once_in_few_sorted_files(lake: Lake) -> None:
    raw_before = {p: p.stat().st_mtime_ns for p in Path(lake.root, RAW_TABLE).rglob("*")}
    run_operator(Compact(), lake, [DAY1], InlineRuntime())
    catalog = lake_catalog(lake)
    compacted = catalog.read(COMPACTED_TABLE, dt=DAY1)
    raw = read_events(lake, list_raw_files(lake, dt=DAY1)).events
    key = ["source_file", "source_row"]
    assert compacted.sort_by([(k, "ascending") for k in key]).equals(
        raw.sort_by([(k, "ascending") for k in key])
    )
    files = catalog.files(COMPACTED_TABLE, DAY1)
    apps = {f.sessions[0] for f in files if f.sessions}
    assert len(files) == len(apps)  # at the default size one file per app holds the whole day
    assert len(list_raw_files(lake, dt=DAY1)) > 10 * len(files)
    for f in files:
        assert f.sessions is not None
        rows = pq.read_table(lake.path(COMPACTED_TABLE, f.path))
        sessions = rows["session_id"].to_pylist()
        assert sessions == sorted(sessions, key=lambda s: (s is None, s))
        assert [f.sessions[1], f.sessions[2]] == [sessions[0], max(sessions)]
        assert set(rows["app_id"].to_pylist()) == {f.sessions[0]}
    assert {p: p.stat().st_mtime_ns for p in Path(lake.root, RAW_TABLE).rglob("*")} == raw_before


def test_new_raw_files_make_compacted_stale_until_it_is_recomputed(lake: Lake) -> None:
    run_operator(Compact(), lake, [DAY1], InlineRuntime())
    assert "reads: raw_compacted " in explain(REGISTRY, [Sessionize()], lake, [DAY1], "inline")

    session = next(p for p in Path(lake.root, RAW_TABLE, f"dt={DAY1}").rglob("session_id=*"))
    shutil.copy(next(session.glob("*.parquet")), session / "late-arrival.parquet")
    (stale,) = plan(Sessionize(), lake, [DAY1])
    assert stale.source == RAW_TABLE
    assert "reads: raw_events" in explain(REGISTRY, [Sessionize()], lake, [DAY1], "inline")

    run_operator(Compact(), lake, [DAY1], InlineRuntime())
    (fresh,) = plan(Sessionize(), lake, [DAY1])
    assert fresh.source.startswith(COMPACTED_TABLE)
    # the same inputs either way, so the same attempt: where batches read from is not an input
    assert fresh.keys.keys == stale.keys.keys


@pytest.mark.parametrize("compact", [False, True], ids=["raw", "compacted"])
def test_each_turn_features_batch_reads_only_the_turns_files_of_its_sessions(
    lake: Lake, compact: bool
) -> None:
    if compact:
        run_operator(Compact(), lake, [DAY1], InlineRuntime(), batch_bytes=TINY_BATCHES)
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime(), batch_bytes=TINY_BATCHES)
    turns_files = lake_catalog(lake).files("turns", DAY1)
    (day,) = plan(TurnFeatures(), lake, [DAY1], batch_bytes=TINY_BATCHES)
    tasks = day.tasks
    assert len(tasks) > 4 and len(turns_files) > 4
    for task in tasks:
        (step,) = task.steps
        ((spec, files),) = step.upstream
        assert spec.name == "turns"
        assert 1 <= len(files) <= 3, (task.batch_id, len(files), len(turns_files))


def test_explain_says_it_reads_compacted_files_whose_sessions_are_unknown(tmp_path: Path) -> None:
    """Rows without a session id (rejected, but kept in raw_compacted) leave the range of
    sessions of their app's file unknown; explain then counted the compacted files as the day's
    input files and never said they were raw_compacted's."""
    import datetime as dt

    import pyarrow as pa

    from trajectory_assets.schema import RAW_EVENTS

    ts = dt.datetime.fromisoformat(f"{DAY1}T10:00:00+00:00")
    nullable = pa.schema([f.with_nullable(True) for f in RAW_EVENTS])  # as producers write
    for i, (app, session) in enumerate([("app", "s1"), ("other", None)]):  # other: no ids
        row = {**dict.fromkeys(nullable.names), "app_id": app, "session_id": session}
        row.update(event_id=f"e{i}", ts=ts, event_type="user_message")
        folder = tmp_path / RAW_TABLE / f"dt={DAY1}" / f"app_id={app}" / f"session_id=s{i + 1}"
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist([row], schema=nullable), folder / "0.parquet")
    lake = Lake(str(tmp_path))
    run_operator(Compact(), lake, [DAY1], InlineRuntime())
    assert any(f.sessions is None for f in lake_catalog(lake).files(COMPACTED_TABLE, DAY1))
    text = explain(REGISTRY, [Sessionize()], lake, [DAY1], "inline")
    assert "reads: raw_compacted " in text, text


@pytest.mark.parametrize("bad", ["nan", "no_app", "long_app"])
def test_turn_features_alone_reads_each_turn_once_whatever_the_compacted_statistics(
    lake: Lake, bad: str
) -> None:
    """A compacted file whose log bounds no column (one holding a NaN latency carries its row
    count alone; one of rows without an app id bounds none) made its batch read the turns of
    every session of the day: `turn_features` on its own (a new version, the UI's Materialize
    on it) committed the day's turns twice over. A file's footers bound no text over 4 KB: a
    5,000-character app id (its log's bounds, cut at 64 characters, differ) left it unknown."""
    import pyarrow as pa

    day = Path(lake.root, RAW_TABLE, f"dt={DAY1}")
    path = sorted(day.glob("app_id=*/session_id=*/*.parquet"))[5]
    table = pq.read_table(path)
    column = "latency_ms" if bad == "nan" else "app_id"
    values = table[column].to_pylist()
    values[0] = {"nan": float("nan"), "no_app": None, "long_app": "a" * 5000}[bad]
    if bad == "no_app":  # a copy of the row in a folder of its own, its app id null
        path = day / "app_id=__HIVE_DEFAULT_PARTITION__" / "session_id=s" / "0.parquet"
        path.parent.mkdir(parents=True)
        table = table.slice(0, 1)
        values = values[:1]
    index = table.schema.get_field_index(column)
    field = table.schema.field(index).with_nullable(True)
    table = table.set_column(index, field, pa.array(values, field.type))
    pq.write_table(table.cast(table.schema.set(index, field)), path)
    run_operator(Compact(), lake, [DAY1], InlineRuntime(), batch_bytes=TINY_BATCHES)
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime(), batch_bytes=TINY_BATCHES)
    compacted = Lake(lake.root)  # another process: the files as the log states them
    assert any(f.sessions is None for f in lake_catalog(compacted).files(COMPACTED_TABLE, DAY1))
    run_operator(TurnFeatures(), compacted, [DAY1], InlineRuntime(), batch_bytes=TINY_BATCHES)
    features = lake_catalog(compacted).read("turn_features", dt=DAY1)
    columns = (features[c].to_pylist() for c in ("app_id", "session_id", "turn_index"))
    keys = set(zip(*columns, strict=True))
    turns = lake_catalog(compacted).read("turns", dt=DAY1).num_rows
    assert features.num_rows == len(keys) == turns
