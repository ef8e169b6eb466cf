"""The schema guard: an operator that changes its columns commits only in a run that writes
every day its table has again (a Delta table holds one schema), never another partitioning; a
rollback does not bring back a day of another schema; days and versions of an older schema read
with their own columns."""

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
import pyarrow as pa
import pytest

import trajectory_assets as ta
from tests.lakes import DAY1, DAY2
from tests.runs import run_all, run_one, run_operator
from trajectory_assets.engine.explain import explain
from trajectory_assets.engine.lineage import stale_days
from trajectory_assets.engine.materialize import run_operators
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.errors import (
    NoPreviousVersionError,
    NotMaterializedError,
    SchemaChangeError,
)
from trajectory_assets.lake import delta_commit
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta_read import read
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS


def turn_counts(
    count_type: pa.DataType,
    version: str,
    *,
    extra: tuple[tuple[str, pa.DataType, str], ...] = (),
    partition_by: tuple[str, ...] = ("app_id",),
) -> ta.Operator:
    """Turns per session, with the count of the type the test declares, and `extra` columns
    (name, type, SQL) after it."""
    select = "".join(f", {sql} AS {name}" for name, _, sql in extra)

    class TurnCounts(ta.Operator):
        name, inputs = "turn_counts", ("turns",)
        outputs = (
            ta.TableSpec(
                "turn_counts",
                pa.schema(
                    [
                        ta.column("dt", pa.string(), ""),
                        ta.column("app_id", pa.string(), ""),
                        ta.column("session_id", pa.string(), ""),
                        ta.column("n_turns", count_type, ""),
                        *(ta.column(name, kind, "") for name, kind, _ in extra),
                    ]
                ),
                partition_by=partition_by,
                keys=("app_id", "session_id"),
                description="One row per session.",
            ),
        )

        def transform(self, ctx: ta.OpContext, batch: ta.Batch) -> pa.Table:
            return batch.sql(
                f"SELECT dt, app_id, session_id, count(*) AS n_turns{select} FROM turns "
                "GROUP BY ALL"
            )

    TurnCounts.version = version
    return TurnCounts()


def test_new_column_types_commit_only_with_every_day_of_the_table(lake: Lake) -> None:
    run_all(lake, [DAY1, DAY2])
    run_operator(turn_counts(pa.int64(), "1"), lake, [DAY1, DAY2])
    as_double = turn_counts(pa.float64(), "2")
    with pytest.raises(SchemaChangeError) as refused:
        run_operator(as_double, lake, [DAY2])
    assert str(refused.value).startswith(
        f"turn_counts: operator turn_counts now declares n_turns: long -> double, and the "
        f"table's days outside this run (1: {DAY1} .. {DAY1}) were written with another schema"
    )
    path = lake.path("turn_counts")
    assert pl.read_delta(path).schema["n_turns"] == pl.Int64  # nothing was committed
    run_operator(as_double, lake, [DAY1, DAY2])
    table = pl.read_delta(path)
    assert table.schema["n_turns"] == pl.Float64 and set(table["dt"]) == {DAY1, DAY2}


def test_a_dropped_column_commits_only_with_every_day_and_may_come_back_with_another_type(
    lake: Lake,
) -> None:
    """A column dropped on some days only hid the old days' values, and declared again with
    another type made the table unreadable by every reader (the old files' strings met a long)."""
    run_all(lake, [DAY1, DAY2])
    label = ("label", pa.string(), "'short'")
    run_operator(turn_counts(pa.int64(), "1", extra=(label,)), lake, [DAY1, DAY2])
    dropped = turn_counts(pa.int64(), "2")
    with pytest.raises(SchemaChangeError, match="now declares label: string -> dropped, and the"):
        run_operator(dropped, lake, [DAY2])
    run_operator(dropped, lake, [DAY1, DAY2])
    back = turn_counts(pa.int64(), "3", extra=(("label", pa.int64(), "1"),))
    run_operator(back, lake, [DAY2])  # a new column: the old days read as null
    table = pl.read_delta(lake.path("turn_counts"))
    assert table.schema["label"] == pl.Int64
    assert table.group_by("dt").agg(pl.col("label").max()).sort("dt")["label"].to_list() == [
        None,
        1,
    ]


def test_days_of_another_schema_under_the_same_version_are_stale(lake: Lake) -> None:
    """A column declared without a new version: `explain` said "up to date", `--missing` did
    nothing and the column stayed null on every day written before (a new type was refused
    until the version changed). The days' files name the schema they hold, so they are stale."""
    run_all(lake, [DAY1, DAY2])
    run_operator(turn_counts(pa.int64(), "1"), lake, [DAY1, DAY2])
    label = ("label", pa.string(), "'short'")
    for same_version in (
        turn_counts(pa.int64(), "1", extra=(label,)),
        turn_counts(pa.float64(), "1"),
    ):
        registry = Registry.build([same_version], OPERATORS)
        assert list(stale_days(lake, registry, [same_version], [DAY1, DAY2])) == [DAY1, DAY2]
        plan = explain(registry, [same_version], lake, [DAY1, DAY2], "inline")
        assert (
            "(stale: turn_counts of the day hold other columns than the operator declares now "
            "(its version, 1, unchanged))" in plan
        )
        run_operator(same_version, lake, [DAY1, DAY2])
        assert not stale_days(lake, registry, [same_version], [DAY1, DAY2])
    table = pl.read_delta(lake.path("turn_counts"))
    assert table.schema["n_turns"] == pl.Float64 and "label" not in table.columns


def test_a_column_declared_at_the_same_version_is_filled_on_every_day(lake: Lake) -> None:
    run_all(lake, [DAY1, DAY2])
    run_operator(turn_counts(pa.int64(), "1"), lake, [DAY1, DAY2])
    label = ("label", pa.string(), "'short'")
    run_operator(turn_counts(pa.int64(), "1", extra=(label,)), lake, [DAY1, DAY2])
    table = pl.read_delta(lake.path("turn_counts"))
    assert set(table["label"].to_list()) == {"short"}


def test_the_partitioning_of_a_table_cannot_change(lake: Lake) -> None:
    """delta-rs kept the old partition columns (a dropped one read as null on every row), or
    committed a log entry no reader could open (an added one), even in a run of every day."""
    run_all(lake, [DAY1])
    run_operator(turn_counts(pa.int64(), "1"), lake, [DAY1])
    for partition_by, declared in (
        ((), "dt"),
        (("app_id", "session_id"), "dt, app_id, session_id"),
    ):
        with pytest.raises(SchemaChangeError) as refused:
            run_operator(turn_counts(pa.int64(), "2", partition_by=partition_by), lake, [DAY1])
        assert str(refused.value) == (
            f"turn_counts: operator turn_counts now partitions it by {declared}, and the table "
            "is partitioned by dt, app_id; a Delta table keeps the partitioning it was created "
            f"with: give the table a new name (or move {lake.path('turn_counts')} away and "
            "materialize every day again)"
        )
    table = pl.read_delta(lake.path("turn_counts"))
    assert table["app_id"].null_count() == 0 and table.height > 0


def test_a_column_added_upstream_reads_as_null_on_older_days_downstream(lake: Lake) -> None:
    """The README's promise, "new columns need nothing": a downstream operator read every
    upstream file with the new column and failed on the days written before it."""
    run_all(lake, [DAY1, DAY2])
    run_operator(turn_counts(pa.int64(), "1"), lake, [DAY1])
    run_operator(turn_counts(pa.int64(), "2", extra=(("label", pa.string(), "'x'"),)), lake, [DAY2])

    class Labels(ta.Operator):
        name, version, inputs = "labels", "1", ("turn_counts",)
        outputs = (
            ta.TableSpec(
                "labels",
                pa.schema(
                    [
                        ta.column("dt", pa.string(), ""),
                        ta.column("app_id", pa.string(), ""),
                        ta.column("labelled", pa.int64(), ""),
                    ]
                ),
                partition_by=("app_id",),
                keys=("app_id",),
                description="Labelled sessions per app.",
            ),
        )

        def transform(self, ctx: ta.OpContext, batch: ta.Batch) -> pa.Table:
            return batch.sql(
                "SELECT dt, app_id, count(label) AS labelled FROM turn_counts GROUP BY ALL"
            )

    labels = Labels()
    result = run_one(
        labels,
        lake,
        [DAY1, DAY2],
        InlineRuntime(),
        upstream=[*OPERATORS, turn_counts(pa.int64(), "2", extra=(("label", pa.string(), "'x'"),))],
    )
    assert sorted(result.days) == [DAY1, DAY2]
    by_day = pl.read_delta(lake.path("labels")).group_by("dt").agg(pl.col("labelled").sum())
    totals = dict(by_day.iter_rows())
    assert totals[DAY1] == 0 and totals[DAY2] > 0


def test_a_time_without_zone_added_to_a_table_keeps_it_readable(lake: Lake) -> None:
    """A `pa.timestamp("us")` column added to an existing table committed a schema of Delta's
    `timestamp_ntz` without the protocol feature it needs: every reader (and every later run,
    rollback included) failed on the table for good. A new table got the feature."""
    run_all(lake, [DAY1, DAY2])
    run_operator(turn_counts(pa.int64(), "1"), lake, [DAY1, DAY2])
    local = ("first_local", pa.timestamp("us"), "TIMESTAMP '2026-11-30 09:15:00'")
    run_operator(turn_counts(pa.int64(), "2", extra=(local,)), lake, [DAY2])
    table = pl.read_delta(lake.path("turn_counts"))
    assert table.schema["first_local"] == pl.Datetime("us")
    by_day = dict(table.group_by("dt").agg(pl.col("first_local").max()).iter_rows())
    assert by_day == {DAY1: None, DAY2: dt.datetime(2026, 11, 30, 9, 15)}
    with_local = turn_counts(pa.int64(), "2", extra=(local,))
    assert read(lake, with_local.outputs[0]).num_rows == table.height
    run_operator(with_local, lake, [DAY1, DAY2])
    assert pl.read_delta(lake.path("turn_counts"))["first_local"].null_count() == 0


def commit_but(day: str) -> Callable[..., int | None]:
    """`delta_commit.commit_day` that fails for `day`: a run killed after its first days."""
    real = delta_commit.commit_day

    def commit(lake: Lake, spec: ta.TableSpec, on: str, *args: Any, **kwargs: Any) -> int | None:
        if on == day:
            raise RuntimeError(f"killed before {day}")
        return real(lake, spec, on, *args, **kwargs)

    return commit


def test_days_a_schema_change_cut_short_left_are_refused_until_written_again(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a run of every day had committed its first under the new types, the table's schema
    was the new one: the guard saw no change, and a run of one day committed beside days of the
    old types (Polars refused the table). Each file's name now says which schema wrote it."""
    run_all(lake, [DAY1, DAY2])
    run_operator(turn_counts(pa.int64(), "1"), lake, [DAY1, DAY2])
    as_double = turn_counts(pa.float64(), "2")
    with monkeypatch.context() as patched:
        patched.setattr(delta_commit, "commit_day", commit_but(DAY2))
        with pytest.raises(RuntimeError, match=f"killed before {DAY2}"):
            run_operator(as_double, lake, [DAY1, DAY2])
    with pytest.raises(SchemaChangeError) as refused:
        run_operator(as_double, lake, [DAY1])
    assert str(refused.value).startswith(
        "turn_counts: operator turn_counts declares a new schema, and the table's days outside "
        f"this run (1: {DAY2} .. {DAY2}) were written with another schema"
    )
    run_operator(as_double, lake, [DAY1, DAY2])  # completes the interrupted commit of DAY2
    assert pl.read_delta(lake.path("turn_counts")).schema["n_turns"] == pl.Float64
    run_operator(turn_counts(pa.float64(), "3"), lake, [DAY1])  # one day: every day is new


def test_an_interrupted_commit_of_another_schema_is_dropped(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rolled forward under the operator's new schema, an interrupted commit of the old one put
    long files under a double column before the guard could see it."""
    run_all(lake, [DAY1])
    with monkeypatch.context() as patched:
        patched.setattr(delta_commit, "commit_day", commit_but(DAY1))
        with pytest.raises(RuntimeError, match=f"killed before {DAY1}"):
            run_operator(turn_counts(pa.int64(), "1"), lake, [DAY1])
    lines: list[str] = []
    as_double = turn_counts(pa.float64(), "2")
    run_operators(
        [as_double],
        lake,
        [DAY1],
        InlineRuntime(),
        registry=Registry.build([as_double], OPERATORS),
        progress=lines.append,
    )
    assert any("holds files of another schema than the operator's now: dropped" in x for x in lines)
    table = pl.read_delta(lake.path("turn_counts"))
    assert table.schema["n_turns"] == pl.Float64 and table.height > 0


def test_a_version_reads_with_its_own_columns(lake: Lake) -> None:
    """Read with the operator's columns of now, a version from before a column was added failed
    with Arrow's `No match for FieldRef`, as did the current version before a run added it."""
    run_all(lake, [DAY1])
    run_operator(turn_counts(pa.int64(), "1"), lake, [DAY1])
    labelled = turn_counts(pa.int64(), "2", extra=(("label", pa.string(), "'x'"),))
    catalog = Catalog(lake, {"turn_counts": labelled.outputs[0]})
    before = catalog.snapshot("turn_counts").version
    with pytest.raises(NotMaterializedError, match="turn_counts holds no column label yet: "):
        catalog.read("turn_counts")
    run_operator(labelled, lake, [DAY1])
    catalog = Catalog(lake, {"turn_counts": labelled.outputs[0]})
    old = catalog.read("turn_counts", version=before)
    assert old.column_names == ["dt", "app_id", "session_id", "n_turns"] and old.num_rows > 0
    assert set(catalog.read("turn_counts")["label"].to_pylist()) == {"x"}
    with pytest.raises(NotMaterializedError, match=f"no column label at version {before}: "):
        catalog.read("turn_counts", version=before, columns=["session_id", "label"])


def test_a_day_written_with_another_schema_is_not_restored(lake: Lake) -> None:
    """A rollback across a type change put the old files (longs) under the new schema
    (doubles): Polars refused the table, and a string column made to a number broke every
    reader."""
    run_all(lake, [DAY1])
    run_operator(turn_counts(pa.int64(), "1"), lake, [DAY1])
    as_double = turn_counts(pa.float64(), "2")
    run_operator(as_double, lake, [DAY1])
    with pytest.raises(NoPreviousVersionError) as refused:
        delta_commit.restore_day(lake, as_double.outputs[0], DAY1, {})
    assert str(refused.value) == (
        f"turn_counts dt={DAY1} as of version 1 was written with another schema (n_turns: long "
        "-> double): restored, its files would hold the old columns under the table's current "
        "schema, which readers refuse; materialize the day again instead"
    )
    assert pl.read_delta(lake.path("turn_counts")).schema["n_turns"] == pl.Float64
