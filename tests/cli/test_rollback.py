"""`rollback`: the previous version of a day, for every table committed with it."""

import os
import re
import shutil
import subprocess
from pathlib import Path

import dagster as dg
import pytest

from tests.cli.helpers import CLI, generate, materialize, on_lake
from tests.lakes import DAY1
from tests.runs import lake_catalog
from trajectory_assets.defs.assets import POOL
from trajectory_assets.lake import delta, delta_commit
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.staging import Attempt, empty_file


@pytest.mark.slow
def test_rollback_restores_the_previous_version_of_every_sibling(
    tmp_path: Path, home: Path
) -> None:
    lake = tmp_path / "lake"
    generate(lake, home)
    sessions = ("--partition", DAY1, "--assets", "sessions")
    assert materialize(lake, home, *sessions).returncode == 0
    first = attempts(lake)
    drift = delta.open_table(Lake(str(lake)), "sessions")  # a commit of sessions alone (vacuum)
    drift.alter.set_table_properties({"delta.logRetentionDuration": "interval 30 days"})  # type: ignore[union-attr]
    session = next(Path(lake, "raw_events", f"dt={DAY1}").glob("app_id=*/session_id=*"))
    shutil.rmtree(session)  # a late correction of the raw data: the next run commits anew
    assert materialize(lake, home, *sessions).returncode == 0
    second = attempts(lake)
    assert second != first

    rolled = on_lake("rollback", lake, home, "turns", "--partition", DAY1)
    assert rolled.returncode == 0, rolled.stderr
    for table in ("sessions", "turns", "errors", "rejected_events"):
        assert f"{table} dt={DAY1}: restored the day as it was at {table} version" in rolled.stdout
    assert attempts(lake) == first
    assert "recorded in the Dagster instance: sessions, turns" in rolled.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the UI shows the restored day
        latest = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("turns"), asset_partitions=[DAY1]),
            limit=1,
        ).records[0]
        meta = latest.asset_materialization.metadata  # type: ignore[union-attr]
        assert meta["recorded_by"].value == "rollback to its previous version"
        assert meta["attempt"].value == first["turns"]

    for table, day in (("eval_runs", DAY1), ("turns", "2026-11-19")):  # it said "no previous
        # version in the table's log (the first write of the day, or history cleaned up ...)"
        never = on_lake("rollback", lake, home, table, "--partition", day)
        assert never.returncode == 1
        assert never.stderr == (
            f"error: {table} dt={day} was never materialized: there is nothing to roll back\n"
        )
    new_home = tmp_path / "new_home"  # not made yet: made, as materialize makes it
    gone = on_lake("rollback", lake, new_home, "turns", "--partition", DAY1, "--as-of", "999")
    assert gone.returncode == 1 and "Traceback" not in gone.stderr
    assert "turns has no version 999 to restore" in gone.stderr
    assert (new_home / "dagster.yaml").is_file()

    # (version 0 creates a table) turns version 2 is the second run's state, sessions version 2
    # the drift, still the first state: the siblings go to their versions of the same state
    back = on_lake("rollback", lake, home, "turns", "--partition", DAY1, "--as-of", "2")
    assert back.returncode == 0, back.stderr
    assert f"turns dt={DAY1}: restored the day as it was at turns version 2 (" in back.stdout
    assert (
        f"sessions dt={DAY1}: restored the day as it was at sessions version 3, the state of "
        "turns version 2 (" in back.stdout
    )
    assert attempts(lake) == second

    # the first run's files are needed by versions only minutes old: Delta's whole hours
    young = on_lake("vacuum", lake, home, "--retention-hours", "0.5", "--table", "turns")
    assert young.returncode == 0, young.stderr
    assert "the horizon 0.5 h is rounded up to 1 h" in young.stdout
    assert "turns: deleted 0 file(s), 0 bytes, that only versions older than 1 h" in young.stdout
    old = on_lake("vacuum", lake, home, "--retention-hours", "0", "--table", "turns")
    assert re.search(r"turns: deleted [1-9]\d* file\(s\), [\d.]+ kB, that only ver", old.stdout)


@pytest.mark.slow
def test_a_rollback_to_data_that_fails_a_check_says_so(tmp_path: Path, home: Path) -> None:
    """The restored day is checked with the counts of the state it restored, not of the one it
    replaced: the day goes back from clean data to 30% rejected rows."""
    lake, clean = tmp_path / "lake", tmp_path / "clean"
    on_lake("generate", lake, home, "--start", DAY1, "--days", "1", "--invalid-rate", "0.3")
    on_lake("generate", clean, home, "--start", DAY1, "--days", "1", "--invalid-rate", "0")
    sessions = ("--partition", DAY1, "--assets", "sessions")
    assert "rejected_share" in materialize(lake, home, *sessions).stderr  # 30% rejected
    day = Path("raw_events", f"dt={DAY1}")
    shutil.rmtree(lake / day)
    shutil.copytree(clean / day, lake / day)  # the producer's corrected day
    assert materialize(lake, home, *sessions).returncode == 0
    rolled = on_lake("rollback", lake, home, "sessions", "--partition", DAY1)
    assert rolled.returncode == 1 and "Traceback" not in rolled.stderr
    assert "check failed (ERROR): rejected_events rejected_share on " in rolled.stderr
    assert "the restored day fails asset check(s) of ERROR severity" in rolled.stderr


def attempts(lake: Path) -> dict[str, str | None]:
    """The attempt behind each sessionize table's day: what a restore brings back."""
    catalog = lake_catalog(Lake(str(lake)))
    return {t: catalog.state(t, DAY1).attempt for t in ("sessions", "turns")}  # type: ignore[union-attr]


def test_unknown_table_and_missing_lake_are_clear_errors(tmp_path: Path, home: Path) -> None:
    empty = tmp_path / "lake"
    empty.mkdir()
    unknown = on_lake("rollback", empty, home, "nope", "--partition", DAY1)
    assert unknown.returncode == 1
    assert "unknown table 'nope'" in unknown.stderr
    missing = tmp_path / "no_such_lake"
    nothing = on_lake("rollback", missing, home, "turns", "--partition", DAY1)
    assert nothing.returncode == 1
    assert f"error: no lake at {missing}" in nothing.stderr


def test_an_instance_of_another_lake_is_refused_before_anything_is_restored(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    from trajectory_assets.defs.instance import bind

    lake = shutil.copytree(materialized_lake, tmp_path / "lake")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        bind(instance, str(tmp_path / "another"))
    before = attempts(lake)
    refused = on_lake("rollback", lake, home, "turns", "--partition", DAY1)
    assert refused.returncode == 1
    assert "records the lake" in refused.stderr and "nothing was restored" in refused.stderr
    assert attempts(lake) == before
    allowed = on_lake("rollback", lake, home, "turns", "--partition", DAY1, "--allow-other-lake")
    assert "records the lake" not in allowed.stderr
    assert "has no previous version" in allowed.stderr  # materialized once: nothing to restore


def test_a_rollback_waits_for_the_run_holding_the_pool(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """A rollback during a run: the run then lost its commit to it, or overwrote the restored
    day; it waits for the pool's slot, as vacuum and forget do, and restores nothing where the
    run committed the day meanwhile, in any of the operator's tables (it would have discarded
    that commit without a word)."""
    lake = shutil.copytree(materialized_lake, tmp_path / "lake")
    where = Lake(str(lake))

    def commit_by_hand(table: str, key: str) -> None:
        spec = lake_catalog(where).get(table)
        emptied = [empty_file(Attempt(where, "by-hand", DAY1, key * 16), spec)]
        delta_commit.commit_day(where, spec, DAY1, emptied, {}, since_version=None)

    commit_by_hand("sessions", "e")  # to roll back
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(POOL)
        for meanwhile in (False, True):
            assert storage.claim_concurrency_slot(POOL, "a-run", "tier_b").is_claimed
            waiting = subprocess.Popen(
                [*CLI, "rollback", "sessions", "--lake", str(lake), "--partition", DAY1],
                stderr=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env={**os.environ, "DAGSTER_HOME": str(home)},
            )
            assert waiting.stderr is not None
            for line in waiting.stderr:
                if "waiting for the trajectory_assets pool" in line:
                    break
            assert "a-run" in line
            if meanwhile:
                commit_by_hand("errors", "f")  # the run's commit, of a sibling
            storage.free_concurrency_slots_for_run("a-run")
            out, err = waiting.communicate(timeout=120)
            if not meanwhile:
                assert waiting.returncode == 0, err
                assert f"sessions dt={DAY1}: restored the day as it was at sessions version" in out
                restored = lake_catalog(where).read("sessions", dt=DAY1).num_rows
                assert restored > 0
    assert waiting.returncode == 1
    assert f") dt={DAY1} committed again while the rollback waited" in err
    assert err.startswith("error: errors (version ")
    assert "nothing was restored" in err and out == ""
    assert lake_catalog(where).read("errors", dt=DAY1).num_rows == 0  # the run's commit stays
