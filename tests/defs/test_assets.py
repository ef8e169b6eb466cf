"""Real Dagster materializations: one partition, and a two-day range as one run."""

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import trajectory_assets as ta
from tests.dagster_assets import assets_of, number, text
from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog, run_all
from trajectory_assets.definitions import defs
from trajectory_assets.defs.instance import LAKE_TAG, bind
from trajectory_assets.defs.partitions import COMMAND_DAYS_TAG
from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.mentions import markdown_text
from trajectory_assets.operators import TABLES
from trajectory_assets.schema import RAW_EVENTS

ALL_ASSETS = assets_of(defs)
TIER_B_SELECTION = dg.AssetSelection.assets(*TABLES)


def resources(lake: Lake, runtime: str = "inline") -> dict[str, object]:
    return {"lake": LakeResource(root=lake.uri), "compute": ComputeResource(runtime=runtime)}  # type: ignore[arg-type]


def materialized(result: dg.ExecuteInProcessResult) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for event in result.get_asset_materialization_events():
        m = event.step_materialization_data.materialization
        found.setdefault(m.asset_key.to_user_string(), set()).add(str(m.partition))
    return found


def test_one_partition_writes_that_day_only(lake: Lake) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        ALL_ASSETS,
        selection=TIER_B_SELECTION,
        partition_key=DAY1,
        resources=resources(lake),
        instance=instance,
    )
    assert result.success
    assert materialized(result) == {t: {DAY1} for t in TABLES}
    catalog = lake_catalog(lake)
    for table in TABLES:
        assert catalog.days(table) == [DAY1]
    sessions = catalog.read("sessions")
    assert sessions.num_rows == 120
    record = instance.get_latest_materialization_event(dg.AssetKey("sessions"))
    assert record is not None
    meta = record.asset_materialization.metadata  # type: ignore[union-attr]
    assert meta["dagster/row_count"].value == 120
    spec = defs.resolve_asset_graph().get(dg.AssetKey("sessions"))
    schema = spec.metadata["dagster/column_schema"]  # the definition's: not in every event
    assert isinstance(schema, dg.TableSchema)
    assert [c.name for c in schema.columns] == TABLES["sessions"].schema.names
    assert "dagster/column_schema" not in meta
    assert text(meta, "path").endswith("/sessions")
    assert number(meta, "batches") >= 1


def test_a_run_refused_for_another_lake_names_that_lake_in_its_tags(lake: Lake) -> None:
    """The run list showed refused runs without the lake they were for."""
    instance = dg.DagsterInstance.ephemeral()
    bind(instance, "/somewhere/else")
    result = dg.materialize(
        ALL_ASSETS,
        selection=dg.AssetSelection.assets("sessions"),
        partition_key=DAY1,
        resources=resources(lake),
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success and not lake_catalog(lake).days("sessions")
    run = instance.get_run_by_id(result.run_id)
    assert run is not None and run.tags[LAKE_TAG] == lake.display()


def test_range_is_one_run_with_a_materialization_per_day(lake: Lake) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        ALL_ASSETS,
        selection=TIER_B_SELECTION,
        resources=resources(lake),
        instance=instance,
        tags={
            "dagster/asset_partition_range_start": DAY1,
            "dagster/asset_partition_range_end": DAY2,
        },
    )
    assert result.success
    assert materialized(result) == {t: {DAY1, DAY2} for t in TABLES}
    runs = instance.get_runs()
    assert len(runs) == 1
    record = instance.get_latest_materialization_event(dg.AssetKey("turns"))
    meta = record.asset_materialization.metadata  # type: ignore[union-attr]
    catalog = lake_catalog(lake)
    rows = {day: catalog.state("turns", day).rows for day in (DAY1, DAY2)}  # type: ignore[union-attr]
    assert meta["rows_in_run"].value == sum(rows.values())
    assert text(meta, "days") == f"{DAY1} .. {DAY2} (2 days)"
    # nothing per day in the metadata every day's event repeats: it grew with the days squared
    assert not [key for key in meta if DAY1 in key or DAY2 in key]
    for day in (DAY1, DAY2):
        # each day's own row count where the UI's partition view and plots look for it
        records = instance.fetch_observations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("turns"), asset_partitions=[day]), limit=1
        ).records
        observed = records[0].asset_observation.metadata  # type: ignore[union-attr]
        assert observed["dagster/row_count"].value == catalog.state("turns", day).rows  # type: ignore[union-attr]


def test_tables_are_readable_by_duckdb_and_polars_with_spec_columns(lake: Lake) -> None:
    result = dg.materialize(
        ALL_ASSETS,
        selection=TIER_B_SELECTION,
        partition_key=DAY2,
        resources=resources(lake),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    from deltalake import DeltaTable

    for table, spec in TABLES.items():
        expected = lake_catalog(lake).state(table, DAY2).rows  # type: ignore[union-attr]
        con = duckdb.connect()
        con.register("t", DeltaTable(lake.path(table)).to_pyarrow_dataset())
        rel = con.sql("SELECT * FROM t")
        assert rel.columns == spec.schema.names
        assert len(rel.fetchall()) == expected
        frame = pl.scan_delta(lake.path(table)).collect()
        assert frame.columns == spec.schema.names
        assert frame.height == expected


@pytest.mark.ray
def test_materialize_on_ray(lake: Lake, ray_session: None) -> None:
    misspelt = _add_a_file_with_a_misspelt_column(lake)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        ALL_ASSETS,
        selection=TIER_B_SELECTION,
        partition_key=DAY1,
        resources=resources(lake, runtime="ray"),
        instance=instance,
    )
    assert result.success
    assert lake_catalog(lake).read("sessions").num_rows == 120
    # the misspelt column's values were not read: the run says which file and column
    record = instance.get_latest_materialization_event(dg.AssetKey("sessions"))
    assert record is not None and record.asset_materialization is not None
    named = text(record.asset_materialization.metadata, "unknown_raw_columns")
    said = f"{misspelt}: input_token (a misspelling of input_tokens?)"
    assert named == f"- {markdown_text(said)}"  # shown as itself: the producer names files
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "columns raw_events does not have" in e.user_message
    ]
    assert len(warnings) == 1 and f"{misspelt}: input_token" in warnings[0]


def _add_a_file_with_a_misspelt_column(lake: Lake) -> str:
    """A second file for a session of DAY1, from a producer that writes `input_token`."""
    session = lake.fs.ls(lake.path("raw_events", f"dt={DAY1}", "app_id=support-bot"))[0]
    relative = session[len(lake.root) + 1 :] + "/misspelt.parquet"
    row = {
        "event_id": "misspelt-1",
        "session_id": session.rsplit("=", 1)[-1],
        "app_id": "support-bot",
        "ts": dt.datetime.fromisoformat(f"{DAY1}T12:00:00+00:00"),
        "event_type": "llm_call",
    }
    table = pa.Table.from_pylist([row], schema=RAW_EVENTS).drop_columns(["input_tokens"])
    pq.write_table(table.append_column("input_token", pa.array([7])), lake.path(relative))
    return relative


def test_parameters_and_price_overrides_are_part_of_the_code_version(lake: Lake) -> None:
    """Editing prices.yaml, or a parameter, is a new code version of the tables it reaches, so
    Dagster marks them stale once the location reloads; other tables keep their version."""
    from trajectory_assets import build_definitions
    from trajectory_assets.operators import OPERATORS

    def versions(operators: Sequence[ta.Operator]) -> dict[str, str | None]:
        built = build_definitions(operators, name="priced", resources=resources(lake))  # type: ignore[arg-type]
        graph = built.resolve_asset_graph()
        return {k.to_user_string(): graph.get(k).code_version for k in graph.get_all_asset_keys()}

    sessionize = next(op for op in OPERATORS if op.name == "sessionize")
    plain = versions(OPERATORS)
    assert plain["llm_calls"].startswith(sessionize.version + "+")  # type: ignore[union-attr]
    assert plain["tool_stats"] == next(op.version for op in OPERATORS if op.name == "tool_stats")
    tuned = [
        op.configure(identical_run_threshold=9) if op is sessionize else op for op in OPERATORS
    ]
    assert versions(tuned)["llm_calls"] != plain["llm_calls"]
    assert versions(OPERATORS) == plain  # the same definitions, the same versions
    (Path(lake.root) / "prices.yaml").write_text(
        "models:\n  gpt-4o:\n    input_per_mtok: 1.0\n    output_per_mtok: 2.0\n"
    )
    priced = versions(OPERATORS)
    assert priced["llm_calls"] != plain["llm_calls"]
    assert priced["llm_calls"].startswith(sessionize.version + "+")  # type: ignore[union-attr]
    assert priced["tool_stats"] == plain["tool_stats"]
    (Path(lake.root) / "prices.yaml").write_text("models:\n  gpt-4o: {input_per_mtok: -1}\n")
    assert versions(OPERATORS) == plain  # a mistake in it does not stop the location loading


class SessionCount(ta.Operator):
    """Sessions per app: committed in the run's first round."""

    name, version, inputs = "session_count", "1", ("sessions",)
    outputs = (
        ta.TableSpec(
            "session_count",
            pa.schema(
                [
                    ta.column("dt", pa.string(), "The day."),
                    ta.column("app_id", pa.string(), "The app."),
                    ta.column("n", pa.int64(), "Sessions."),
                ]
            ),
            partition_by=(),
            keys=("app_id",),
            description="One row per app.",
        ),
    )

    def transform(self, ctx: ta.OpContext, batch: ta.Batch) -> pa.Table:
        return batch.sql("SELECT dt, app_id, count(*) AS n FROM sessions GROUP BY ALL")


class Broken(SessionCount):
    """Reads session_count, so it runs in a later round, after that day was committed."""

    name, inputs = "broken", ("session_count",)
    outputs = (dataclasses.replace(SessionCount.outputs[0], name="broken"),)

    def transform(self, ctx: ta.OpContext, batch: ta.Batch) -> pa.Table:
        raise KeyError("n_sessionz")


def failing_run(
    lake: Lake, operators: list[ta.Operator]
) -> tuple[dg.ExecuteInProcessResult, dg.DagsterInstance]:
    """DAY1 of a location of `operators` over the built-in tables (committed first), in a run
    that must fail."""
    run_all(lake, [DAY1])  # the built-in tables, not in this location
    built = ta.build_definitions(operators, upstream=ta.BUILTIN_OPERATORS)
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        assets_of(built),
        partition_key=DAY1,
        resources=resources(lake),
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success
    return result, instance


def test_a_failed_run_records_the_days_it_committed_before_failing(lake: Lake) -> None:
    """Dagster must not disagree with the lake: session_count's day was committed before broken
    failed, so the failed run records it as materialized."""
    result, instance = failing_run(lake, [SessionCount(), Broken()])
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None and error.cls_name == "Failure"  # the operator's own traceback:
    assert f"operator broken dt={DAY1} batch " in error.message  # in the failure's metadata
    assert "KeyError: 'n_sessionz'" in error.message
    detail = failure.step_failure_data.user_failure_data
    assert detail is not None and 'raise KeyError("n_sessionz")' in str(
        detail.metadata["traceback"]
    )
    counted = Catalog(lake, {"session_count": SessionCount.outputs[0]}).state("session_count", DAY1)
    assert counted is not None and counted.rows == 3  # three apps
    record = instance.get_latest_materialization_event(dg.AssetKey("session_count"))
    assert record is not None and record.asset_materialization is not None
    assert record.asset_materialization.partition == DAY1
    assert record.asset_materialization.metadata["dagster/row_count"].value == counted.rows
    assert instance.get_latest_materialization_event(dg.AssetKey("broken")) is None
    checked = {  # a day shown materialized shows its checks too (they stayed "planned")
        (e.asset_key.to_user_string(), e.check_name, e.partition, e.passed)
        for e in result.get_asset_check_evaluations()
    }
    assert ("session_count", "unique_keys", DAY1, True) in checked
    assert not any(table == "broken" for table, *_ in checked)


def test_a_failure_after_the_commits_still_records_them(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vacuuming and checks come after every commit: a failure there leaves the days committed,
    so the failed run records them."""

    def no_space(*args: object, **kwargs: object) -> list[str]:
        raise OSError("no space left on device")

    monkeypatch.setattr("trajectory_assets.defs.assets.delta_history.vacuum", no_space)
    _, instance = failing_run(lake, [SessionCount()])
    record = instance.get_latest_materialization_event(dg.AssetKey("session_count"))
    assert record is not None and record.asset_materialization is not None
    assert record.asset_materialization.partition == DAY1


def test_a_table_committed_with_its_selected_sibling_is_recorded_too(lake: Lake) -> None:
    """Picking `sessions` in the UI runs sessionize, which commits `turns` with it: Dagster
    records that day of `turns` as well (so what reads `turns` shows stale), and records
    nothing for a sibling the run left as it was."""
    instance = dg.DagsterInstance.ephemeral()

    def sessions_only(force: bool) -> dg.ExecuteInProcessResult:
        done = dg.materialize(
            ALL_ASSETS,
            selection=dg.AssetSelection.assets("sessions"),
            partition_key=DAY1,
            resources=resources(lake),
            instance=instance,
            run_config={"ops": {"tier_b": {"config": {"force": force}}}},
        )
        assert done.success
        return done

    first = sessions_only(force=False)
    siblings = {"turns", "errors", "rejected_events", "llm_calls", "tool_calls"}
    assert set(materialized(first)) == {"sessions", *siblings}
    assert materialized(first)["turns"] == {DAY1}
    record = instance.get_latest_materialization_event(dg.AssetKey("turns"))
    assert record is not None and record.asset_materialization is not None
    meta = record.asset_materialization.metadata
    assert text(meta, "recorded_by").startswith("a run of another table of its operator")
    assert number(meta, "dagster/row_count") == lake_catalog(lake).read("turns").num_rows
    again = sessions_only(force=False)  # up to date: nothing committed, nothing recorded
    assert set(materialized(again)) == {"sessions"}
    forced = sessions_only(force=True)
    assert materialized(forced)["turns"] == {DAY1}


def test_a_run_that_skips_unreadable_raw_files_says_so_in_its_log(lake: Lake) -> None:
    """`on_bad_file: skip` fails nothing: the run's log names each skipped file (the UI shows
    the log; the metadata's skipped_files is one click further); and a folder that names no day,
    which no run reads."""
    (Path(lake.root) / "raw_events" / "dt=2026-11-1").mkdir()
    session = lake.fs.ls(lake.path("raw_events", f"dt={DAY1}", "app_id=support-bot"))[0]
    bad = Path(lake.fs.ls(session)[0])
    bad.write_bytes(bad.read_bytes()[:100])
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        ALL_ASSETS,
        selection=dg.AssetSelection.assets("sessions"),
        partition_key=DAY1,
        resources=resources(lake),
        run_config={"ops": {"tier_b": {"config": {"on_bad_file": "skip"}}}},
        instance=instance,
        tags={COMMAND_DAYS_TAG: "2026-11-18..2026-13-01"},  # edited by hand
    )
    assert result.success
    edited = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if "names no days" in (e.user_message)
    ]
    assert edited == [
        f"tag {COMMAND_DAYS_TAG}='2026-11-18..2026-13-01' names no days (first..last spans of "
        "YYYY-MM-DD, separated by commas): the schema guard counts this run's days"
    ]
    warnings = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if e.level == logging.WARNING and "skipped as unreadable" in e.user_message
    ]
    assert len(warnings) == 1
    assert warnings[0].startswith("1 raw file(s) were skipped as unreadable (see skipped_files")
    assert bad.name in warnings[0]
    # and the day's checks say so: every other check passed while the file's rows were missing
    (read,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "raw_files_read"]
    assert not read.passed and read.severity == dg.AssetCheckSeverity.WARN
    assert "1 raw file(s) not read (on_bad_file: skip)" in str(read.metadata["detail"].value)
    misnamed = [
        e.user_message
        for e in instance.all_logs(result.run_id)
        if "name no day" in (e.user_message)
    ]
    assert misnamed == [
        "1 raw folder(s) or file(s) name no day, so their data is in no table: "
        f"{Path(lake.root) / 'raw_events' / 'dt=2026-11-1'}; raw data goes in day folders, "
        "`dt=` (lower case) and the day as YYYY-MM-DD (dt=2026-07-10): move or rename them"
    ]
