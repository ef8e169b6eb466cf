"""Planning: shared batches, explain output, windows, and clear errors for a missing upstream."""

from pathlib import Path

import pytest

from tests.lakes import DAY1, DAY2, SMALL_BATCHES
from tests.runs import lake_catalog, plan, run_all, run_operator
from trajectory_assets.engine.explain import explain
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.engine.settings import RunSettings
from trajectory_assets.errors import MissingUpstreamError
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operator import Operator
from trajectory_assets.operators import (
    OPERATORS,
    Compact,
    DecisionSteps,
    EvalRuns,
    Sessionize,
    ToolStats,
    TurnFeatures,
)


def test_explain_shows_files_batches_operators_and_runtime(lake: Lake) -> None:
    registry = Registry.build([Sessionize()], OPERATORS)
    text = explain(registry, [Sessionize()], lake, [DAY1], "ray")
    assert f"operator sessionize v{Sessionize.version}" in text
    assert "outputs: sessions, turns, errors, rejected_events, llm_calls, tool_calls" in text
    assert "runtime: ray" in text
    assert f"dt={DAY1}: " in text and " input files, " in text
    assert "batches (0 already finished)" in text
    auto = explain(registry, [Sessionize()], lake, [DAY1], "auto")
    assert "runtime: auto: inline (" in auto  # a small lake stays in-process
    given = explain(registry, [Sessionize()], lake, [DAY1], "auto", cluster="head:6379")
    assert "runtime: auto: ray (the Ray cluster at head:6379, whatever the size)" in given


def test_every_operator_shares_the_batches_of_one_read(lake: Lake) -> None:
    """One batch task per batch of sessions runs every session operator, and the first phase
    of the aggregates over their outputs; nothing waits for a second round."""
    registry = Registry.build(OPERATORS)
    catalog = lake_catalog(lake)
    from trajectory_assets.engine.plan import plan_days
    from trajectory_assets.engine.settings import RunSettings

    ((day, waiting),) = plan_days(registry, OPERATORS, catalog, [DAY1], RunSettings())
    assert waiting == []
    assert [op.name for op in day.run] == [op.name for op in OPERATORS]
    (task, *_) = day.tasks
    assert [s.operator.name for s in task.steps] == [op.name for op in OPERATORS]
    assert all(s.upstream == () for s in task.steps)  # every input comes from the same batch
    assert len(day.tasks) == len({t.batch_id for t in day.tasks})


def test_an_aggregate_over_committed_rows_runs_on_their_files(lake: Lake) -> None:
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    (day,) = plan(ToolStats(), lake, [DAY1])
    assert [op.name for op in day.run] == ["tool_stats"]
    assert all(t.primary and not t.raw_files for t in day.tasks)
    (((spec, _),),) = {t.primary for t in day.tasks[:1]}
    assert spec.name == "tool_calls"
    files = [f for f in lake_catalog(lake).files("tool_calls", DAY1) if f.rows > 0]
    assert (day.input_files, day.input_bytes) == (len(files), sum(f.size for f in files))


def test_a_missing_upstream_day_is_a_clear_error(lake: Lake) -> None:
    with pytest.raises(MissingUpstreamError, match=f"turn_features dt={DAY1} reads turns"):
        plan(TurnFeatures(), lake, [DAY1])
    with pytest.raises(MissingUpstreamError, match="materialize sessions for that day first"):
        plan(EvalRuns(), lake, [DAY1])
    with pytest.raises(
        MissingUpstreamError, match="there is no raw data for 2020-01-01 to compute"
    ):
        plan(EvalRuns(), lake, ["2020-01-01"])  # a day a UI run may pick: nothing to materialize


def test_a_day_computed_from_the_same_inputs_is_up_to_date(lake: Lake) -> None:
    run_all(lake, [DAY1], operators=[Compact(), Sessionize()])
    (day,) = plan(Sessionize(), lake, [DAY1])
    assert [op.name for op in day.current] == ["sessionize"] and day.tasks == ()


@pytest.mark.parametrize("op", [TurnFeatures(), DecisionSteps()], ids=lambda op: op.name)
def test_reading_only_the_declared_raw_columns_changes_nothing(lake: Lake, op: Operator) -> None:
    """An operator that declares `raw_columns` gets only those; its output must be the same as
    with every column, or it is reading a column it did not declare."""
    from trajectory_assets.batch import Batch
    from trajectory_assets.engine.outputs import normalise
    from trajectory_assets.lake.raw import list_raw_files
    from trajectory_assets.lake.raw_read import read_events
    from trajectory_assets.operator import OpContext

    run_operator(Sessionize(), lake, [DAY1], InlineRuntime())
    files = list_raw_files(lake, dt=DAY1)
    full = read_events(lake, files).events
    narrow = read_events(lake, files, columns=op.raw_columns).events
    assert narrow.num_columns < full.num_columns
    turns = lake_catalog(lake).read("turns", dt=DAY1)
    ctx = OpContext(DAY1, "b")
    outputs = [
        normalise(op, op.transform(ctx, Batch({"events": events, "turns": turns})), DAY1)
        for events in (full, narrow)
    ]
    assert outputs[0] == outputs[1]


def test_a_long_range_runs_in_windows_of_raw_files(lake: Lake) -> None:
    """The driver holds one window's file list at a time, not the whole range's."""
    from trajectory_assets.engine.materialize import _windows
    from trajectory_assets.engine.settings import RunSettings
    from trajectory_assets.lake.raw import list_raw_files

    days = [DAY1, DAY2]
    per_day = [len(list_raw_files(lake, dt=d)) for d in days]
    result = run_all(lake, [], operators=[Compact()])
    whole = list(_windows(lake, days, True, RunSettings(), result))
    assert [list(w) for w in whole] == [days]
    small = RunSettings(window_raw_files=min(per_day))
    windows = list(_windows(lake, days, True, small, result))
    assert [list(w) for w in windows] == [[DAY1], [DAY2]]
    assert [len(files) for w in windows for files in w.values()] == per_day
    # a window ends before a day that would take it well past the target, not after it
    just_over_one_day = RunSettings(window_raw_files=per_day[0] + 1)
    windows = list(_windows(lake, days, True, just_over_one_day, result))
    assert [list(w) for w in windows] == [[DAY1], [DAY2]]


def test_compacted_batches_are_cut_only_where_their_session_ranges_do_not_overlap() -> None:
    """A rejected row of another session widens its compacted file's range over the next
    file's: cut there, two batches would read the same sessions of the other inputs (and write
    them twice). A file of unknown range leaves its batch's other inputs unfiltered."""
    from trajectory_assets.engine.plan import _compacted_units
    from trajectory_assets.lake.delta import DataFile

    def file(name: str, sessions: tuple[str, str, str] | None) -> DataFile:
        return DataFile(name, 10, 1, (("dt", DAY1),), sessions=sessions)

    wide, next_one = file("1", ("a", "a0", "z9")), file("2", ("a", "b3", "b5"))
    units = _compacted_units([wide, next_one, file("3", ("a", "zz", "zz"))], batch_bytes=10)
    assert [[f.path for f in unit] for unit, _ in units] == [["1", "2"], ["3"]]
    assert units[0][1] == (("a", "a0", "z9"), ("a", "b3", "b5"))
    (unknown,) = _compacted_units([file("4", None), file("5", ("b", "s", "t"))], batch_bytes=100)
    assert unknown[1] == ()


def test_a_file_whose_log_entry_counts_no_rows_is_read_as_one_that_may_hold_any() -> None:
    """A file another writer committed without statistics counted as empty: the planner left
    its rows out of every batch, and forget's search out of its reads."""
    from trajectory_assets.engine.plan import _compacted_units
    from trajectory_assets.lake.catalog import overlapping
    from trajectory_assets.lake.delta import DataFile

    def file(name: str, stats: str | None) -> DataFile:
        return DataFile(name, 10, 0, (("dt", DAY1),), stats=stats)

    empty, uncounted = file("1", '{"numRecords": 0}'), file("2", None)
    assert empty.known_empty and not uncounted.known_empty
    assert not file("3", '{"numRecords": null}').known_empty
    assert overlapping([empty, uncounted], []) == (uncounted,)
    assert overlapping([empty, uncounted], [("a", "s", "t")]) == (uncounted,)
    assert [[f.path for f in unit] for unit, _ in _compacted_units([empty, uncounted], 10)] == [
        ["2"]
    ]


def test_a_day_of_payloads_that_compress_many_times_over_is_cut_into_more_batches(
    tmp_path: Path,
) -> None:
    """Sized by bytes on disk alone, this day was one batch of 200 MB decoded (a batch peaks
    at about six times that): model calls that log the whole conversation so far."""
    import datetime as dt

    import pyarrow as pa
    import pyarrow.parquet as pq

    from trajectory_assets.engine.plan import plan_days
    from trajectory_assets.engine.settings import MAX_BATCH_BYTES, MAX_EXPANSION, RunSettings
    from trajectory_assets.schema import RAW_EVENTS

    lake = Lake(str(tmp_path))
    ts = dt.datetime.fromisoformat(f"{DAY1}T10:00:00+00:00")
    for s in range(16):
        folder = tmp_path / "raw_events" / f"dt={DAY1}" / "app_id=app" / f"session_id=s{s:02d}"
        folder.mkdir(parents=True)
        rows = [
            {
                **dict.fromkeys(RAW_EVENTS.names),
                "event_id": f"e{c}",
                "app_id": "app",
                "session_id": f"s{s:02d}",
                "ts": ts + dt.timedelta(seconds=c),
                "event_type": "llm_call",
                "payload": '{"messages": "' + f"turn of s{s} " * 30_000 * (c + 1) + '"}',
            }
            for c in range(8)
        ]
        table = pa.Table.from_pylist(rows, schema=RAW_EVENTS)
        pq.write_table(table, folder / "part-0.parquet", compression="zstd")
    registry = Registry.build([Sessionize()], OPERATORS)
    ((day, _),) = plan_days(
        registry, [Sessionize()], lake_catalog(lake), [DAY1], RunSettings(cores=2)
    )
    decoded = [
        sum(pq.read_metadata(lake.path(f.path)).row_group(0).total_byte_size for f in t.raw_files)
        for t in day.tasks
    ]
    assert sum(decoded) > 150 * 1024 * 1024 and len(day.tasks) >= 4
    assert max(decoded) <= 1.5 * MAX_BATCH_BYTES * MAX_EXPANSION
    text = explain(registry, [Sessionize()], lake, [DAY1], "inline")
    assert f"bytes (decoding to about {day.expansion:.0f}x that: smaller batches), " in text
    configured = RunSettings(cores=2, batch_bytes=64 * 1024 * 1024)  # taken as given
    ((as_given, _),) = plan_days(registry, [Sessionize()], lake_catalog(lake), [DAY1], configured)
    assert (as_given.expansion, len(as_given.tasks)) == (1.0, 1)


def test_explain_says_why_a_day_runs_again(lake: Lake) -> None:
    """After an upgrade every day ran again and explain did not say why: another version."""
    import shutil

    class Earlier(Sessionize):
        version = "0-earlier"

    registry = Registry.build([Sessionize()], OPERATORS)
    fresh = explain(registry, [Sessionize()], lake, [DAY1], "inline")
    assert "batches (not materialized yet)" in fresh
    run_all(lake, [DAY1], operators=[Compact(), Earlier()])
    upgraded = explain(registry, [Sessionize()], lake, [DAY1], "inline")
    assert (
        f"(stale: the day holds version 0-earlier's tables, the operator is now "
        f"{Sessionize.version})" in upgraded
    )
    from trajectory_assets.cli.days import missing_days  # --missing --dry-run says it too

    assert missing_days(lake, registry, ["sessions"], say_why=True)[DAY1] == (
        "tables missing or stale (sessionize: the day holds version 0-earlier's tables, the "
        f"operator is now {Sessionize.version})"
    )
    assert (
        missing_days(lake, registry, ["sessions"])[DAY1] == "tables missing or stale (sessionize)"
    )
    run_all(lake, [DAY1], operators=[TurnFeatures()])  # read the earlier version's turns
    both = Registry.build([Sessionize(), TurnFeatures()], OPERATORS)
    said = missing_days(lake, both, ["sessions", "turn_features"], say_why=True)[DAY1]
    assert said.endswith(  # not "its inputs changed since": nothing changed but the version
        "turn_features: its input tables are computed again first (turns))"
    ), said
    run_all(lake, [DAY1], operators=[Compact(), Sessionize()])
    day = Path(lake.root, "raw_events", f"dt={DAY1}")
    late = next(day.glob("app_id=*/session_id=*/*.parquet"))
    shutil.copy(late, late.with_name("late.parquet"))
    changed = explain(registry, [Sessionize()], lake, [DAY1], "inline")
    assert "(stale: its inputs changed since: raw files or input tables of the day)" in changed


def test_explain_names_the_parameters_or_lake_files_that_changed(lake: Lake) -> None:
    """A day computed with other parameters, or before prices.yaml was edited, was stale from
    "raw files, input tables, parameters or prices", and a user re-pricing 44 days could not
    tell which."""
    run_all(lake, [DAY1], operators=[Compact(), Sessionize()])
    registry = Registry.build([Sessionize()], OPERATORS)
    stricter = Sessionize().configure(identical_run_threshold=5)
    plan = explain(Registry.build([stricter], OPERATORS), [stricter], lake, [DAY1], "inline")
    default = Sessionize().params["identical_run_threshold"]
    assert (
        "(stale: it was computed with other parameters (identical_run_threshold "
        f"{default} then, 5 now))"
    ) in plan
    prices = "models:\n  gpt-4o: {input_per_mtok: 1, output_per_mtok: 2}\n"
    Path(lake.root, "prices.yaml").write_text(prices)
    repriced = explain(registry, [Sessionize()], lake, [DAY1], "inline")
    assert "(stale: prices.yaml of the lake, which it reads, changed since it was computed)" in (
        repriced
    )
    Path(lake.root, "prices.yaml").unlink()
    skipping = explain(
        registry, [Sessionize()], lake, [DAY1], "inline", RunSettings(on_bad_file="skip")
    )
    assert "(stale: it was computed with another on_bad_file setting (fail or skip))" in skipping


def test_explain_says_a_day_rewritten_by_another_writer_runs_again(lake: Lake) -> None:
    """A Z-ORDER by a Spark shop's nightly job made every day stale, and explain said the
    commit that wrote it was no longer in the log."""
    from deltalake import DeltaTable

    run_all(lake, [DAY1], operators=[Compact(), Sessionize()])
    DeltaTable(lake.path("sessions")).optimize.z_order(["session_id"])
    registry = Registry.build([Sessionize()], OPERATORS)
    plan = explain(registry, [Sessionize()], lake, [DAY1], "inline")
    assert (
        "(stale: the day's files were not all committed by one run of the operator (rewritten "
        "by another writer, an OPTIMIZE, say))" in plan
    )
