"""A materialization over days: an operator that changes its column types commits only in a run
of every day its table has (a Delta table holds one schema)."""

from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest

import trajectory_assets as ta
from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog, run_all, run_operator
from trajectory_assets.engine.materialize import run_operators
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.errors import MissingUpstreamError, SchemaChangeError
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators.sessionize import Sessionize


def turn_counts(count_type: pa.DataType, version: str) -> ta.Operator:
    class TurnCounts(ta.Operator):
        """Turns per session, with the count of the type the test declares."""

        name, inputs, requires = "turn_counts", ("turns",), None
        outputs = (
            ta.TableSpec(
                "turn_counts",
                pa.schema(
                    [
                        ta.column("dt", pa.string(), ""),
                        ta.column("app_id", pa.string(), ""),
                        ta.column("session_id", pa.string(), ""),
                        ta.column("n_turns", count_type, ""),
                    ]
                ),
                partition_by=("app_id",),
                keys=("app_id", "session_id"),
                description="One row per session.",
            ),
        )

        def transform(self, ctx: ta.OpContext, batch: ta.Batch) -> pa.Table:
            return batch.sql(
                "SELECT dt, app_id, session_id, count(*) AS n_turns FROM turns GROUP BY ALL"
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
        f"table's days outside this run (1: {DAY1} .. {DAY1}) were written with the old types"
    )
    path = lake.path("turn_counts")
    assert pl.read_delta(path).schema["n_turns"] == pl.Int64  # nothing was committed
    run_operator(as_double, lake, [DAY1, DAY2])
    table = pl.read_delta(path)
    assert table.schema["n_turns"] == pl.Float64 and set(table["dt"]) == {DAY1, DAY2}


def test_a_day_without_raw_data_is_refused_and_an_empty_day_folder_materializes(
    lake: Lake,
) -> None:
    """No raw folder is no data yet (a late delivery, a day still to come): a run of such days
    alone would show them materialized, empty, so it is refused. In a range with data on other
    days they are committed empty, and said so, rather than failing the whole range. A folder
    without files is a day without sessions."""
    with pytest.raises(MissingUpstreamError, match=r"no raw data for 2020-01-01 in .*raw_events"):
        run_operator(Sessionize(), lake, ["2020-01-01"], InlineRuntime())
    assert lake_catalog(lake).days("sessions") == []
    lines: list[str] = []
    run_operators(
        [Sessionize()], lake, ["2020-01-01", DAY1], InlineRuntime(), progress=lines.append
    )
    assert lake_catalog(lake).days("sessions") == ["2020-01-01", DAY1]
    assert any(
        line.startswith("no raw data for 2020-01-01 in ")
        and line.endswith(": committed as days without events")
        for line in lines
    )
    Path(lake.path("raw_events", "dt=2020-01-02")).mkdir()
    run_operator(Sessionize(), lake, ["2020-01-02"], InlineRuntime())
    assert lake_catalog(lake).read("sessions", dt="2020-01-02").num_rows == 0


def test_a_range_run_names_the_days_it_leaves_as_up_to_date(lake: Lake) -> None:
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime())
    lines: list[str] = []
    run_operators([Sessionize()], lake, [DAY1, DAY2], InlineRuntime(), progress=lines.append)
    (planned,) = [line for line in lines if " to run) for " in line]
    assert planned.startswith("2 day(s): ") and planned.endswith(f"; up to date: {DAY1}")
