"""Asset checks run with every materialization and fail when the tables stop adding up."""

import dataclasses
import logging
import shutil
from collections.abc import Collection
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from tests.dagster_assets import assets_of, inline_resources, materialize_range
from tests.lakes import DAY1, DAY2, write_session_file
from tests.operators.builders import event, events_table
from tests.runs import lake_catalog
from trajectory_assets.definitions import defs
from trajectory_assets.defs import checks
from trajectory_assets.defs.check_context import CheckContext, Thresholds, committed_audits
from trajectory_assets.defs.checks import (
    checks_for,
    duplicate_keys,
    duplicate_keys_by_file,
    evaluate,
    evaluate_all,
)
from trajectory_assets.lake import delta, delta_commit, delta_history, erase_purge
from trajectory_assets.lake.delta import DataFile
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import Compact, Sessionize
from trajectory_assets.operators.audit import recount
from trajectory_assets.operators.session_tables import REJECTED_EVENTS

SELECTION = dg.AssetSelection.all() - dg.AssetSelection.assets("raw_events", "daily_report")


def _materialize(
    lake: Lake,
    run_config: dict | None = None,
    instance: dg.DagsterInstance | None = None,
    selection: dg.AssetSelection = SELECTION,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        assets_of(defs),
        selection=selection,
        partition_key=DAY1,
        resources=inline_resources(lake),
        instance=instance or dg.DagsterInstance.ephemeral(),
        run_config=run_config or {},
    )


def _evaluations(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {
        f"{e.asset_key.to_user_string()}:{e.check_name}": e
        for e in result.get_asset_check_evaluations()
    }


def test_every_check_passes_on_a_clean_materialization(lake: Lake) -> None:
    result = _materialize(lake)
    assert result.success
    evaluations = _evaluations(result)
    assert {
        "sessions:unique_keys",
        "sessions:n_events_match_raw",
        "turns:tokens_match_sessions",
        "rejected_events:rejected_share",
        "rejected_events:rejected_share_by_app",
        "decision_steps:elimination_ratio",
        "eval_runs:unique_keys",
        "turn_features:unique_keys",
        "errors:unique_keys",
        "raw_compacted:unique_keys",
        "raw_compacted:rows_match_raw",
        "sessions:sessions_on_their_day",
        "sessions:re_sent_events_agree",
        "sessions:event_types_known",
        "sessions:times_not_in_the_future",
        "eval_runs:runs_within_their_day",
    } <= set(evaluations)
    failing = {k: e.metadata for k, e in evaluations.items() if not e.passed}
    assert not failing


def test_tables_committed_with_a_selected_sibling_are_checked_too(lake: Lake) -> None:
    """`--select sessions` commits every table of sessionize, and recorded them, but Dagster
    left their checks out of the run: an ERROR check of rejected_events went unevaluated."""
    result = _materialize(
        lake,
        {"ops": {"tier_b": {"config": {"max_rejected_share": 0.0}}}},
        selection=dg.AssetSelection.assets("sessions"),
    )
    assert result.success
    evaluations = _evaluations(result)
    assert {"sessions:unique_keys", "turns:tokens_match_sessions", "errors:unique_keys"} <= set(
        evaluations
    )
    assert not evaluations["rejected_events:rejected_share"].passed
    assert "decision_steps:elimination_ratio" not in evaluations  # another operator's: not run


def test_rejected_share_over_the_limit_fails_its_check(lake: Lake) -> None:
    config = {"ops": {"tier_b": {"config": {"max_rejected_share": 0.00001}}}}
    instance = dg.DagsterInstance.ephemeral()
    result = _materialize(lake, config, instance)
    evaluations = _evaluations(result)
    check = evaluations["rejected_events:rejected_share"]
    assert not check.passed and check.partition == DAY1
    assert "raw rows rejected" in str(check.metadata["detail"].value)
    assert "limit 0.001%)" in str(check.metadata["detail"].value)  # the limit as given
    rejected = lake_catalog(lake).read("rejected_events", dt=DAY1)["app_id"].to_pylist()
    top = max(set(rejected), key=rejected.count)  # a day is every app's: whose rows they are
    detail = str(check.metadata["detail"].value)
    assert "; most from " in detail and f"{top} ({rejected.count(top)})" in detail
    whole = lake_catalog(lake).read("rejected_events", dt=DAY1)["reason"].to_pylist()
    reasons = [r for text in whole for r in text.split("; ")]  # each reason of a row counted
    most = max(reasons.count(r) for r in reasons)  # and why, without a query of the table
    tied = [r for r in set(reasons) if reasons.count(r) == most]
    assert any(f"; most often {r!r} ({most})" in detail for r in tied), detail
    # the run's log says so too (the run succeeds; the UI's run view shows its log lines)
    (logged,) = [
        e
        for e in instance.all_logs(result.run_id)
        if f"check rejected_events.rejected_share dt={DAY1} failed:" in e.user_message
    ]
    assert logged.level == logging.ERROR and "raw rows rejected" in logged.user_message


def test_a_check_whose_counts_left_the_log_records_no_evaluation(lake: Lake) -> None:
    """After Delta's own log cleanup, a run over the unchanged day recorded its failing check as
    passed ("not checked"): the failure vanished from the UI. Now no evaluation is recorded (not
    a pass), and the run's log says so. A purge by `forget` keeps the counts: evaluated."""
    config = {"ops": {"tier_b": {"config": {"max_rejected_share": 0.00001}}}}
    instance = dg.DagsterInstance.ephemeral()
    assert not _evaluations(_materialize(lake, config, instance))[
        "rejected_events:rejected_share"
    ].passed
    erase_purge.purge_history(lake, lake_catalog(lake), [DAY1])
    kept = _materialize(lake, config, instance)
    assert not _evaluations(kept)["rejected_events:rejected_share"].passed
    for table in ("rejected_events", "sessions"):  # Delta's cleanup: nothing kept
        log = DeltaTable(lake.path(table))
        log.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
        log.create_checkpoint()
        log.cleanup_metadata()
    again = _materialize(lake, config, instance)
    assert again.success and "rejected_events:rejected_share" not in _evaluations(again)
    assert any(
        "check rejected_events.rejected_share: 1 day(s) (2026-11-18) not evaluated: "
        in e.user_message
        for e in instance.all_logs(again.run_id)
    )
    key = dg.AssetCheckKey(dg.AssetKey("rejected_events"), "rejected_share")
    statuses = [
        r.status.value
        for r in instance.event_log_storage.get_asset_check_execution_history(key, limit=5)
    ]
    assert statuses == ["PLANNED", "FAILED", "FAILED"]  # planned it, and recorded no pass


def test_the_counts_of_many_days_come_from_one_walk_of_each_log(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each day walked the table's log from its newest commit: the checks of a range run over
    a year of days up to date read the log a year of times (a request per commit on S3)."""
    assert _materialize(lake).success
    walks: list[str] = []
    real = delta_history.operator_commits

    def counted(lake: Lake, name: str, days: Collection[str]) -> dict[str, delta_history.Commit]:
        walks.append(name)
        return real(lake, name, days)

    monkeypatch.setattr(delta_history, "operator_commits", counted)
    context = CheckContext(lake_catalog(lake), Thresholds(0.05, 0.95))
    outcomes = evaluate_all(checks_for([Sessionize()]), context, lambda _: [DAY1, DAY2])
    assert all(day.passed for _, days in outcomes for day in days.values())
    assert sorted(walks) == sorted(set(walks))  # once a table, for both days


WRITES_2 = '{"cache_write_tokens": 2}'


def test_recount_sets_aside_rejected_rows_and_duplicates() -> None:
    rows = [
        event("llm_call", 0, event_id="a", turn_index=0, input_tokens=5),
        event("llm_call", 1, event_id="a", turn_index=0, input_tokens=5),  # duplicate id
        event("llm_call", 2, event_id="b", input_tokens=7),  # no turn
        event("llm_call", 3, event_id="c", latency_ms=-1.0),  # rejected below
        # no turn either, its cache counted apart from its input: added to it, as the tables do
        event("llm_call", 4, event_id="d", input_tokens=1, cache_tokens=8, payload=WRITES_2),
    ]
    events = events_table(rows)
    bad = events.filter(pc.equal(events["event_id"], "c"))
    rejected = pa.table(
        {
            "dt": bad["dt"],
            "app_id": bad["app_id"],
            "source_file": bad["source_file"],
            "source_row": bad["source_row"],
            "event_id": bad["event_id"],
            "reason": ["negative latency_ms"],
            "row": ["{}"],
        },
        schema=REJECTED_EVENTS,
    )
    counted = recount(events, rejected)
    assert (counted["raw_rows"], counted["rejected_rows"], counted["valid_events"]) == (5, 1, 3)
    unturned = ("unturned_input_tokens", "unturned_output_tokens", "unturned_cache_tokens")
    assert tuple(counted[k] for k in unturned) == (7 + 11, 0, 8)


def test_duplicate_keys_counts_repeats() -> None:
    table = pa.table({"a": [1, 1, 2, 1], "b": ["x", "x", "x", "y"]})
    assert duplicate_keys(table, ["a", "b"]) == 1
    assert duplicate_keys(table.slice(0, 0), ["a"]) == 0


def test_compacted_rows_check_fails_when_the_committed_day_lost_rows(lake: Lake) -> None:
    """The check compares the rows the compaction read (its audit, kept with the commit) with
    the committed day: a day missing a file fails, with no raw file read again."""

    assert _materialize(lake).success
    (check,) = [c for c in checks_for([Compact()]) if c.name == "rows_match_raw"]
    catalog = lake_catalog(lake)
    assert evaluate(check, CheckContext(catalog, Thresholds(0.05, 0.95)), [DAY1])[DAY1].passed

    kept = [f for f in catalog.files("raw_compacted", DAY1) if f.rows > 0][1:]
    spec = catalog.get("raw_compacted")
    metadata = {"audit": next(delta_history.commits(lake, "raw_compacted")).metadata["audit"]}
    delta_commit.commit_day(lake, spec, DAY1, kept, metadata, since_version=None)
    day = evaluate(check, CheckContext(lake_catalog(lake), Thresholds(0.05, 0.95)), [DAY1])[DAY1]
    assert not day.passed
    assert "compacted rows" in day.detail


def test_a_day_whose_counts_left_the_log_is_not_checked_rather_than_failed(lake: Lake) -> None:
    """After `forget` or Delta's log cleanup the commit with the day's counts is gone: nothing
    to compare with, which is not a mismatch."""
    assert _materialize(lake).success
    (check,) = [c for c in checks_for([Compact()]) if c.name == "rows_match_raw"]
    catalog = lake_catalog(lake)
    spec = catalog.get("raw_compacted")
    files = catalog.files("raw_compacted", DAY1)
    delta_commit.commit_day(lake, spec, DAY1, files, {}, since_version=None)  # no audit
    table = delta.open_table(lake, "raw_compacted")  # the log cleaned up, as `forget` does
    assert table is not None
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
    table.create_checkpoint()
    table.cleanup_metadata()
    day = evaluate(check, CheckContext(lake_catalog(lake), Thresholds(0.05, 0.95)), [DAY1])[DAY1]
    assert day.passed
    assert day.detail.startswith("not checked: the counts its commit")


def test_a_rolled_back_day_is_checked_against_the_counts_of_the_state_it_restored(
    lake: Lake, tmp_path: Path
) -> None:
    """A restore commits an earlier version's files without counts of its own: the checks take
    the counts of the commit that made that earlier state current, not of the one undone."""
    assert _materialize(lake).success
    first = committed_audits(lake_catalog(lake), "sessions", [DAY1]).get(DAY1)
    session = next(Path(lake.root, "raw_events", f"dt={DAY1}").glob("app_id=*/session_id=*"))
    shutil.move(session, tmp_path / "away")
    assert _materialize(lake).success  # one session fewer
    assert committed_audits(lake_catalog(lake), "sessions", [DAY1]).get(DAY1) != first
    shutil.move(tmp_path / "away", session)  # the raw data as it was, and the tables rolled back
    for table in ("sessions", "turns", "errors", "rejected_events", "llm_calls", "tool_calls"):
        delta_commit.restore_day(lake, lake_catalog(lake).get(table), DAY1, {})
    assert committed_audits(lake_catalog(lake), "sessions", [DAY1]).get(DAY1) == first
    evaluations = _evaluations(_check_sessions(lake))
    assert evaluations["sessions:n_events_match_raw"].passed


@pytest.mark.parametrize("by_file_rows", [0, checks.BY_FILE_ROWS])
def test_unique_keys_counts_repeats_within_a_file_and_across_files(
    lake: Lake, by_file_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large day's keys are counted one file at a time when every session lies in one file,
    and over the whole day when one does not (a small day's always are): every way counts what
    a count over the whole day counts."""
    monkeypatch.setattr(checks, "BY_FILE_ROWS", by_file_rows)

    assert _materialize(lake).success
    (check,) = [
        c for c in checks_for([Sessionize()]) if c.key.to_user_string() == "turns:unique_keys"
    ]
    spec = lake_catalog(lake).get("turns")
    first, *rest = [f for f in lake_catalog(lake).files("turns", DAY1) if f.rows > 0]
    assert rest, "the day needs two files"
    folder = Path(lake.root, "turns")

    def commit_and_check(files: list[DataFile]) -> tuple[bool, str, int, bool]:
        """The check's verdict and detail, the whole day's count, and whether it was counted
        file by file."""
        delta_commit.commit_day(lake, spec, DAY1, files, {}, since_version=None)
        catalog = lake_catalog(lake)
        whole_day = duplicate_keys(catalog.read("turns", dt=DAY1), spec.keys)
        day = evaluate(check, CheckContext(catalog, Thresholds(0.05, 0.95)), [DAY1])[DAY1]
        by_file = duplicate_keys_by_file(catalog, spec, DAY1) is not None
        return day.passed, day.detail, whole_day, by_file

    doubled_path = str(Path(first.path).with_name("doubled.parquet"))
    rows = pq.read_table(folder / first.path)
    pq.write_table(pa.concat_tables([rows, rows]), folder / doubled_path)
    doubled = dataclasses.replace(
        first, path=doubled_path, rows=2 * first.rows, size=(folder / doubled_path).stat().st_size
    )
    passed, detail, whole_day, by_file = commit_and_check([doubled, *rest])
    assert not passed and whole_day == first.rows and by_file
    assert detail.startswith(f"{first.rows} duplicate keys in ")

    copy_path = str(Path(first.path).with_name("copy.parquet"))
    shutil.copy(folder / first.path, folder / copy_path)
    passed, detail, whole_day, by_file = commit_and_check(
        [first, dataclasses.replace(first, path=copy_path), *rest]
    )
    assert not passed and whole_day == first.rows and not by_file
    assert detail.startswith(f"{first.rows} duplicate keys in ")

    passed, detail, _, by_file = commit_and_check([first, *rest])
    assert passed and detail.startswith("0 duplicate keys in ") and by_file


def test_checks_alone_evaluate_the_committed_day(lake: Lake) -> None:
    """The UI's "Execute checks" selects checks without their assets: they are evaluated on
    the committed tables (a hand edit shows), not skipped with a green run."""
    assert _materialize(lake).success
    checked = _check_sessions(lake)
    assert checked.success and not checked.get_asset_materialization_events()
    evaluations = _evaluations(checked)
    assert {"sessions:unique_keys", "sessions:n_events_match_raw"} <= set(evaluations)
    assert all(e.passed for e in evaluations.values())

    sessions = lake_catalog(lake).read("sessions", dt=DAY1)
    from deltalake import write_deltalake

    write_deltalake(lake.path("sessions"), sessions.slice(0, 1), mode="append")  # a duplicate
    broken = _evaluations(_check_sessions(lake))
    assert not broken["sessions:unique_keys"].passed


def _check_sessions(lake: Lake) -> dg.ExecuteInProcessResult:
    """A run of the sessions table's checks alone, as the UI launches it."""
    job = dg.define_asset_job("checks", selection=dg.AssetSelection.checks_for_assets("sessions"))
    resources = inline_resources(lake)
    built = dg.Definitions(assets=assets_of(defs), jobs=[job], resources=resources)
    # unpartitioned, as the UI's "Execute checks" runs them: over every committed day
    return built.resolve_job_def("checks").execute_in_process(
        instance=dg.DagsterInstance.ephemeral()
    )


def test_each_day_of_a_range_run_has_its_own_check_status(lake: Lake) -> None:
    """A backfill of several days in one run records each check once per day, tied to that
    day's materialization: the UI shows a failing day failed, whatever the other days did."""
    instance = dg.DagsterInstance.ephemeral()
    days = {"dagster/asset_partition_range_start": DAY1, "dagster/asset_partition_range_end": DAY2}
    resources = inline_resources(lake)
    built = dg.materialize(
        assets_of(defs), selection=SELECTION, tags=days, resources=resources, instance=instance
    )
    assert built.success
    sessions = lake_catalog(lake).read("sessions", dt=DAY1)
    from deltalake import write_deltalake

    write_deltalake(lake.path("sessions"), sessions.slice(0, 1), mode="append")  # DAY1 only
    checks_alone = dg.AssetSelection.checks(
        dg.AssetCheckKey(dg.AssetKey("sessions"), "unique_keys")
    )
    checked = dg.materialize(
        assets_of(defs), selection=checks_alone, tags=days, resources=resources, instance=instance
    )
    assert checked.success
    outcomes = {e.partition: e.passed for e in checked.get_asset_check_evaluations()}
    assert outcomes == {DAY1: False, DAY2: True}
    key = dg.AssetCheckKey(dg.AssetKey("sessions"), "unique_keys")
    status = {
        info.partition_key: (info.latest_execution_status.value, info.is_current)
        for info in instance.event_log_storage.get_asset_check_partition_info([key])
    }
    assert status == {DAY1: ("FAILED", True), DAY2: ("SUCCEEDED", True)}


def test_sessions_split_over_two_days_or_filed_on_another_day_are_a_warning(
    tmp_path: Path,
) -> None:
    """A producer filing each event under its own day splits a session that runs past midnight
    into a row on each day; one filing by a local date puts it on another day than its first
    event's. Both are computed as filed (a warning, not a failure), and said."""
    import datetime as dt

    late = dt.datetime.fromisoformat(f"{DAY1}T23:50:00+00:00")

    def write(day: str, session: str, times: list[dt.datetime]) -> None:
        events = [{"event_id": f"{session}-{day}-{i}", "ts": ts} for i, ts in enumerate(times)]
        write_session_file(tmp_path, day, session, events)

    minutes = [dt.timedelta(minutes=m) for m in (0, 5)]
    write(DAY1, "whole", [late - dt.timedelta(hours=2) + m for m in minutes])
    write(DAY1, "past-midnight", [late + m for m in minutes])
    write(DAY2, "past-midnight", [late + dt.timedelta(minutes=20) + m for m in minutes])
    write(DAY2, "local-date", [late + m for m in minutes])  # started on DAY1, UTC
    write(DAY2, "whole-2", [late + dt.timedelta(hours=3) + m for m in minutes])
    lake = Lake(str(tmp_path))
    keys = ["sessions", "turns", "llm_calls"]
    result = materialize_range(defs, keys, lake, DAY1, DAY2)
    assert result.success  # a warning
    found = {
        e.partition: e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "sessions_on_their_day"
    }
    assert {d: found[d].passed for d in (DAY1, DAY2)} == {DAY1: False, DAY2: False}
    assert found[DAY2].severity == dg.AssetCheckSeverity.WARN
    # a check names no session: Dagster keeps a check's evaluation after the run forget deletes
    said = [str(v.value) for e in result.get_asset_check_evaluations() for v in e.metadata.values()]
    assert not [text for text in said if "past-midnight" in text or "local-date" in text]
    assert found[DAY1].metadata["detail"].value == (
        f"0 of 2 sessions start on another day (UTC) than dt={DAY1}; 1 of its sessions have a "
        f"row on {DAY2} as well (a session in two day folders is counted on both days)"
    )
    assert found[DAY2].metadata["detail"].value == (
        f"1 of 3 sessions start on another day (UTC) than dt={DAY2}; 1 of its sessions have a "
        f"row on {DAY1} as well (a session in two day folders is counted on both days)"
    )
