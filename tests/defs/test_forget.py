"""The instance half of `forget`: which runs name a session, and deleting them. Real runs in a
real (temporary) instance; the command's whole path is in tests/cli/test_forget.py."""

from collections.abc import Iterator

import dagster as dg
import pytest

from trajectory_assets.defs.forget import delete_runs, runs_mentioning
from trajectory_assets.defs.instance import LAKE_TAG, bind, rebind
from trajectory_assets.lake.mentions import Sessions

DAYS = dg.DailyPartitionsDefinition(start_date="2026-11-01")
LAKE = "/lakes/this"


@dg.asset(partitions_def=DAYS)
def sessions(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Names, in its preview, one session of `app` per day of its run (`s-12` on the 2nd, ...)
    and `s-1` of another app, and in a path a session whose id is not a word."""
    rows = [f"| app | s-1{day[-1]} | 1 |" for day in context.partition_keys]
    preview = "\n".join(
        ["| app_id | session_id | n |", "|---|---|---|", *rows, "| other | s-1 | 1 |"]
    )
    return dg.MaterializeResult(
        metadata={
            "preview": dg.MetadataValue.md(preview),
            "skipped_files": "raw_events/app_id=app/session_id=a%20b/part-0.parquet",
        }
    )


@dg.asset(partitions_def=DAYS)
def eval_runs() -> dg.MaterializeResult:
    """A table not kept by session: its preview names no session, though its row may be made
    from a forgotten one alone."""
    preview = "| benchmark | model | n |\n|---|---|---|\n| secret-bench | m | 1 |"
    return dg.MaterializeResult(metadata={"preview": dg.MetadataValue.md(preview)})


@pytest.fixture()
def instance() -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test() as instance:
        yield instance


def of_app(ids: set[str], app: str = "app") -> Sessions:
    return Sessions(app, frozenset(ids))


def run(instance: dg.DagsterInstance, first: str, last: str | None = None, lake: str = LAKE) -> str:
    """A run of one day, or of a range of days as a backfill of one run records it."""
    tags = {LAKE_TAG: lake}
    if last is None:
        done = dg.materialize([sessions], instance=instance, partition_key=first, tags=tags)
    else:
        tags["dagster/asset_partition_range_start"] = first
        tags["dagster/asset_partition_range_end"] = last
        done = dg.materialize([sessions], instance=instance, tags=tags)
    assert done.success
    return done.run_id


def test_runs_naming_a_session_on_the_days_are_found(instance: dg.DagsterInstance) -> None:
    second = run(instance, "2026-11-02")
    third = run(instance, "2026-11-03")
    both = run(instance, "2026-11-02", "2026-11-03")
    assert runs_mentioning(instance, ["2026-11-02"], of_app({"s-12"}), LAKE) == {
        second: ["s-12"],
        both: ["s-12"],
    }
    assert runs_mentioning(instance, ["2026-11-03"], of_app({"s-12", "s-13"}), LAKE) == {
        third: ["s-13"],
        both: ["s-12", "s-13"],
    }
    assert runs_mentioning(instance, ["2026-11-02"], of_app({"s-1"}), LAKE) == {}  # another app's
    assert runs_mentioning(instance, ["2026-11-02"], of_app({"s-1"}, "other"), LAKE) == {
        second: ["s-1"],
        both: ["s-1"],
    }
    assert runs_mentioning(instance, ["2026-11-02"], of_app({"s-12"}, "other"), LAKE) == {}
    assert (
        runs_mentioning(instance, ["2026-11-05"], of_app({"s-12"}), LAKE) == {}
    )  # runs of other days
    assert runs_mentioning(instance, ["2026-11-03"], of_app({"a b"}), LAKE) == {
        third: ["a b"],
        both: ["a b"],
    }


def test_runs_of_another_lake_are_not_this_lakes_to_delete(instance: dg.DagsterInstance) -> None:
    """A run allowed to write another lake (a staging copy) names the same sessions: forget of
    this lake deleted it and recorded this lake's days over it."""
    ours = run(instance, "2026-11-02")
    run(instance, "2026-11-02", lake="/lakes/staging-copy")
    assert runs_mentioning(instance, ["2026-11-02"], of_app({"s-12"}), LAKE) == {ours: ["s-12"]}
    bind(instance, LAKE)
    rebind(instance, "/lakes/moved")  # the same lake, elsewhere: its runs are still its own
    moved = runs_mentioning(instance, ["2026-11-02"], of_app({"s-12"}), "/lakes/moved")
    assert moved == {ours: ["s-12"]}


def test_deleted_runs_take_their_records_with_them(instance: dg.DagsterInstance) -> None:
    kept = run(instance, "2026-11-03")
    gone = run(instance, "2026-11-02")
    assert delete_runs(instance, [gone]) == []
    assert instance.get_run_by_id(gone) is None and instance.all_logs(gone) == []
    assert instance.get_run_by_id(kept) is not None
    assert instance.get_materialized_partitions(dg.AssetKey("sessions")) == {"2026-11-03"}
    assert runs_mentioning(instance, ["2026-11-02", "2026-11-03"], of_app({"s-12"}), LAKE) == {}


def test_runs_that_made_a_table_not_kept_by_session_are_found(
    instance: dg.DagsterInstance,
) -> None:
    """A forget left the `eval_runs` previews of older runs in the instance: a row made from
    the forgotten session alone (its benchmark, model and run) names no session. Every run of
    the day that made such a table goes, but the forget's own rebuild (tagged), which read the
    lake without the sessions."""
    tags = {LAKE_TAG: LAKE}
    older = dg.materialize([eval_runs], instance=instance, partition_key="2026-11-02", tags=tags)
    rebuild = {**tags, "trajectory_assets/process": "host:1"}
    mine = dg.materialize([eval_runs], instance=instance, partition_key="2026-11-02", tags=rebuild)
    other_day = dg.materialize(
        [eval_runs], instance=instance, partition_key="2026-11-03", tags=tags
    )
    assert older.success and mine.success and other_day.success
    assert runs_mentioning(instance, ["2026-11-02"], of_app({"s-12"}), LAKE) == {}  # by name
    found = runs_mentioning(
        instance,
        ["2026-11-02"],
        of_app({"s-12"}),
        LAKE,
        unkeyed=["eval_runs"],
        rebuilt={"trajectory_assets/process": "host:1"},
    )
    assert found == {older.run_id: ["rows of eval_runs"]}
