"""`forget`: sessions leave the raw data, every table and every kept version, and the Dagster
runs that showed them, and the lake proves it; the check that proves it finds what is left when
something is."""

import datetime as dt
import json
import os
import posixpath
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from tests.cli.helpers import CLI, generate, materialize, on_lake
from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog
from trajectory_assets.cli.pool import this_process
from trajectory_assets.defs.assets import POOL
from trajectory_assets.defs.forget import runs_mentioning
from trajectory_assets.lake import erase, erase_purge, erase_raw
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.mentions import Sessions
from trajectory_assets.lake.raw import list_raw_files
from trajectory_assets.lake.wal import WriteAheadLog
from trajectory_assets.schema import RAW_EVENTS


def forget(lake: Path, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`forget --yes`, whatever its exit status."""
    return on_lake("forget", lake, home, *args, "--yes")


def slot_of_a_killed_command(home: Path) -> str:
    """The pool's slot held by a command whose process is gone, as a killed one leaves it."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    killed = f"command {socket.gethostname()}:{gone.pid}"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(POOL)
        assert storage.claim_concurrency_slot(POOL, killed, "a command").is_claimed
    return killed


def pool_holders(home: Path) -> list[str]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        info = instance.event_log_storage.get_concurrency_info(POOL)
        return [slot.run_id for slot in info.claimed_slots]


def sessions_of(lake: Lake, app: str) -> dict[str, list[str]]:
    rows = lake_catalog(lake).read("sessions", app_id=app)
    days: dict[str, list[str]] = {}
    for day, sid in zip(rows["dt"].to_pylist(), rows["session_id"].to_pylist(), strict=True):
        days.setdefault(day, []).append(sid)
    return days


@pytest.mark.slow
def test_forget_sessions_then_everything_before_a_day(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    shown = lake_catalog(lake).head("sessions", DAY2, 1)  # the first row of the UI's preview
    app, victim = shown["app_id"][0].as_py(), shown["session_id"][0].as_py()
    before = sessions_of(lake, app)
    total = lake_catalog(lake).read("sessions").num_rows
    old_files = {str(p) for p in Path(root, "sessions").rglob("*.parquet")}
    # an older record of DAY1
    ran = materialize(root, home, "--partition", DAY1, "--assets", "sessions", "--force")
    assert ran.returncode == 0, ran.stderr[-3000:]
    ran = materialize(root, home, "--from", DAY1, "--to", DAY2)  # one run, previews of DAY2
    assert ran.returncode == 0, ran.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (showing,) = runs_mentioning(
            instance, [DAY2], Sessions(app, frozenset({victim})), str(root)
        )

    done = forget(  # --num-cpus: the runtime's help named it, and forget refused it
        root,
        home,
        "--app-id",
        app,
        "--session-id",
        victim,
        "--runtime",
        "inline",
        "--num-cpus",
        "1",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "nothing in the lake or the Dagster instance holds them" in done.stdout
    assert "deleted 1 Dagster run(s) whose events named them or showed rows made" in done.stdout
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(showing) is None
        assert not runs_mentioning(
            instance, [DAY1, DAY2], Sessions(app, frozenset({victim})), str(root)
        )
        for table in ("sessions", "turns", "daily_report"):  # DAY1 recorded again by sync
            assert {DAY1, DAY2} <= instance.get_materialized_partitions(dg.AssetKey(table))
        latest = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=dg.AssetKey("sessions"), asset_partitions=[DAY1]),
            limit=1,
        ).records[0]
        meta = latest.asset_materialization.metadata  # type: ignore[union-attr]
        assert str(meta["recorded_by"].value).startswith("sync")  # not the older run's record
        for day in (DAY1, DAY2):  # DAY2's page drawn by the rebuild, its tables recorded after

            def newest(key: str, day: str = day) -> dg.EventLogRecord:
                (record,) = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=dg.AssetKey(key), asset_partitions=[day]),
                    limit=1,
                ).records
                return record

            page, tables = newest("daily_report"), newest("sessions")
            assert page.timestamp > tables.timestamp  # the page of them: not stale in the UI
            if day == DAY2:  # rebuilt by a run, on the one thread --num-cpus asked for
                made = tables.asset_materialization.metadata  # type: ignore[union-attr]
                assert made["parallelism"].value == 1 and made["runtime"].value == "inline"
            shown = page.asset_materialization.metadata  # type: ignore[union-attr]
            day_sessions = lake_catalog(lake).read("sessions", dt=day).num_rows
            assert shown["sessions"].value == day_sessions  # sync recorded a bare link
            assert str(shown["chart"].value).startswith(f"![daily report {day}]")
    after = sessions_of(lake, app)
    assert victim not in after[DAY2] and after[DAY1] == before[DAY1]
    assert lake_catalog(lake).read("sessions").num_rows == total - 1
    assert not list(
        Path(root, "raw_events", f"dt={DAY2}", f"app_id={app}").glob(f"session_id={victim}")
    )
    assert not erase.leftovers(lake, lake_catalog(lake), erase.Request(app, (victim,)))
    assert not [p for p in old_files if Path(p).exists() and DAY2 in p]  # no kept version of DAY2
    (record,) = [json.loads(p.read_text()) for p in Path(root, "_forgotten").glob("*.json")]
    assert record["session_ids"] == [victim] and record["verified"] is True
    assert record["dagster_runs_deleted"] == [showing]
    assert record["days"] == [DAY2] and app not in json.dumps(record["leftovers"])
    again = forget(root, home, "--app-id", app, "--session-id", victim, "--runtime", "inline")
    assert again.returncode == 0 and "already forgotten, and verified then" in again.stdout

    # a row of a null session, as Spark files it: a rejected row of the app, of no session
    first = next(f for f in list_raw_files(lake, dt=DAY1) if f.app_id == app)
    spark = Path(lake.path(first.path)).parent.with_name("session_id=__HIVE_DEFAULT_PARTITION__")
    spark.mkdir()
    rows = pq.read_table(lake.path(first.path)).drop_columns(["app_id", "session_id"])
    pq.write_table(rows, spark / "part-00000.parquet")

    def spark_rows() -> list[dict[str, Any]]:
        rejected = lake_catalog(lake).read("rejected_events", dt=DAY1).to_pylist()
        return [r for r in rejected if "__HIVE_DEFAULT_PARTITION__" in r["source_file"]]

    done = forget(root, home, "--app-id", app, "--before", DAY2, "--runtime", "inline")
    assert done.returncode == 0, done.stdout[-3000:]
    assert DAY1 not in sessions_of(lake, app) and sessions_of(lake, app)[DAY2] == after[DAY2]
    assert lake_catalog(lake).read("sessions", dt=DAY1).num_rows > 0  # the other apps stay
    assert (spark / "part-00000.parquet").exists()  # of no session started before DAY2
    assert len(spark_rows()) == rows.num_rows and {r["app_id"] for r in spark_rows()} == {app}

    others = lake_catalog(lake).read("sessions").num_rows - len(after[DAY2])
    done = forget(root, home, "--app-id", app, "--all-sessions", "--runtime", "inline")  # a
    assert done.returncode == 0, done.stderr[-3000:]  # tenant that leaves
    assert sessions_of(lake, app) == {} and not list(
        Path(root, "raw_events").rglob(f"app_id={app}/*/*")
    )
    assert lake_catalog(lake).read("sessions").num_rows == others
    assert not spark.exists() and spark_rows() == []  # the app's rejected rows went with it
    # the same sessions asked again, in another order and across two forgets: done, not "none"
    other = next(s for s in before[DAY2] if s != victim)
    again = forget(root, home, "--app-id", app, "--session-id", other, "--session-id", victim)
    assert again.returncode == 0 and "already forgotten, and verified then" in again.stdout
    unknown = forget(root, home, "--app-id", app, "--session-id", victim, "--session-id", "nope")
    assert unknown.returncode == 1 and "nothing to forget" in unknown.stderr


@pytest.mark.slow
def test_a_forget_whose_rebuild_failed_is_finished_by_running_it_again(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """The raw files go first; when the rebuild then fails (here on another session's damaged
    file), the error says the forget is unfinished, and the same command finishes it: it finds
    the sessions in the tables, though their raw files are gone."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    app = "support-bot"
    victim, bystander = sessions_of(lake, app)[DAY1][:2]
    damaged = next(Path(root, "raw_events", f"dt={DAY1}").rglob(f"session_id={bystander}/*"))
    damaged.write_bytes(damaged.read_bytes()[:100])
    args = ("--app-id", app, "--session-id", victim, "--runtime", "inline")
    # a team's aggregate of the sessions, of a code location not given: no session ids in it
    app_daily = pa.table({"dt": [DAY1, DAY2], "app_id": [app, app], "n_sessions": [5, 4]})
    write_deltalake(str(root / "app_daily"), app_daily, partition_by=["dt"])

    failed = forget(root, home, *args)
    assert failed.returncode == 1
    assert damaged.name in failed.stderr and "the forget is unfinished" in failed.stderr
    assert "run the same forget again to finish it" in failed.stderr
    assert victim in sessions_of(lake, app)[DAY1]  # the tables still hold it

    done = forget(root, home, *args, "--on-bad-file", "skip")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "1 session(s) of support-bot in 0 raw file(s): their raw files are already gone" in (
        done.stdout
    )
    assert "nothing in the lake or the Dagster instance holds them" in done.stdout
    assert victim not in sessions_of(lake, app)[DAY1]
    assert (
        f"note: app_daily was not rebuilt on {DAY1}: no loaded operator writes it, and computed "
        "from these days' tables it may still count the forgotten sessions; materialize it "
        "again with its code (--defs MODULE --missing)"
    ) in done.stderr


def test_the_check_finds_what_a_forget_left(materialized_lake: Path, tmp_path: Path) -> None:
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    app = "support-bot"
    victim = sessions_of(lake, app)[DAY1][0]
    request = erase.Request(app, (victim,))
    found = erase.leftovers(lake, lake_catalog(lake), request)
    assert any(line.startswith("raw file ") for line in found)
    assert f"sessions: 1 row(s) of session {victim} (dt={DAY1})" in found
    rows = lake_catalog(lake).read("turns", dt=DAY1, app_id=app)["session_id"].to_pylist()
    turns = [line for line in found if line.startswith("turns: ")]  # one line for its rows
    assert turns == [f"turns: {rows.count(victim)} row(s) of session {victim} (dt={DAY1})"]
    stray = next(Path(root, "turns").rglob("*.parquet"))
    shutil.copy(stray, stray.with_name("part-0000000000000000-stray.parquet"))
    assert any(
        "is in no current version" in line
        for line in erase.leftovers(lake, lake_catalog(lake), request)
    )
    taken = WriteAheadLog(lake)  # spans of the session `serve` took during the forget
    number = taken.append({app: [{"attributes": {"gen_ai.conversation.id": victim}}]})
    entry = lake.display_path(posixpath.join(taken.folder, f"{number:012d}.json.gz"))
    found = erase.leftovers(lake, lake_catalog(lake), request)
    assert f"{entry} holds spans `serve` took of session {victim}" in found
    taken.close(written=True)
    aside = root / "_rejected" / "serve" / "receiver-000000000000.json.gz"
    aside.parent.mkdir(parents=True)
    aside.write_bytes(b"\x1f\x8b cut short")  # who can tell whose spans it holds?
    found = erase.leftovers(lake, lake_catalog(lake), request)
    assert f"{aside}, an entry `serve` could not read, may hold spans of them" in found


def test_forget_refuses_while_a_table_no_loaded_operator_writes_holds_the_sessions(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """A table of another code location (not given with --defs) cannot be rebuilt: forget says
    so before deleting anything, and its check would find the rows if it went on."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    app = "support-bot"
    victim = sessions_of(lake, app)[DAY1][0]
    rows = pa.table({"dt": [DAY1], "app_id": [app], "session_id": [victim], "n": [1]})
    write_deltalake(str(root / "slow_turns"), rows, partition_by=["dt"])

    refused = forget(root, home, "--app-id", app, "--session-id", victim, "--runtime", "inline")
    assert refused.returncode == 1
    assert f"(slow_turns: {victim})" in refused.stderr and "--defs" in refused.stderr
    assert "nothing was deleted" in refused.stderr
    assert list_raw_files(lake, dt=DAY1, app_id=app, session_ids=[victim])
    found = erase.leftovers(lake, lake_catalog(lake), erase.Request(app, (victim,)))
    assert any(
        line.startswith("slow_turns (no loaded operator writes it): ")
        and line.endswith(f" row(s) of session {victim} (dt={DAY1})")
        for line in found
    )


def test_forget_refuses_a_link_to_a_file_outside_the_lake_that_holds_no_events_of_theirs(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """A link planted in a session's folder made forget delete its target, any file."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    app = "support-bot"
    (victim, *_) = list_raw_files(lake, dt=DAY1, app_id=app)
    precious = tmp_path / "precious.txt"
    precious.write_text("not events")
    link = Path(lake.path(victim.path)).parent / "zz.parquet"
    link.symlink_to(precious)
    refused = forget(root, home, "--app-id", app, "--session-id", victim.session_id)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert f"raw data at {link} links to {precious}, outside the lake" in refused.stderr
    assert precious.exists() and Path(lake.path(victim.path)).exists()


def test_forget_refuses_what_its_rebuild_or_purge_would_before_deleting_anything(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """Raw key folders of another order on the day, or a linked folder inside a table: forget
    deleted the raw files, then stopped in its rebuild or purge."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    app = "support-bot"
    (victim, *_) = list_raw_files(lake, dt=DAY1, app_id=app)
    day = root / "raw_events" / f"dt={DAY1}"
    disordered = day / "session_id=x" / f"app_id={app}" / "part-0.parquet"
    disordered.parent.mkdir(parents=True)
    shutil.copy(lake.path(victim.path), disordered)
    refused = forget(root, home, "--app-id", app, "--session-id", victim.session_id)
    assert (
        refused.returncode == 1
        and "not in the order dt=/app_id=/session_id=, each key once" in refused.stderr
    )
    shutil.rmtree(day / "session_id=x")
    outside = tmp_path / "outside"
    outside.mkdir()
    (root / "sessions" / "dt=1999-01-01").symlink_to(outside)
    linked = forget(root, home, "--app-id", app, "--session-id", victim.session_id)
    assert linked.returncode == 1 and "is a symbolic link to a folder inside" in linked.stderr
    assert Path(lake.path(victim.path)).exists()


@pytest.mark.slow
def test_forget_refuses_sessions_a_receiver_took_and_has_not_written(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """`serve` keeps what it answered 200 for in its write-ahead log until it is written: a
    forget meanwhile deleted the session, and the receiver then wrote it again."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    app = "support-bot"
    (victim, *_) = list_raw_files(lake, dt=DAY1, app_id=app)
    receiving = WriteAheadLog(lake)
    conversation = {"gen_ai.conversation.id": victim.session_id}
    receiving.append({app: [{"traceId": "1" * 32, "attributes": conversation}]})
    receiving.append({app: [{"traceId": "2" * 32, "attributes": {}}]})
    refused = forget(root, home, "--app-id", app, "--session-id", victim.session_id)
    assert refused.returncode == 1, refused.stderr
    assert (
        f"nothing was deleted: 1 request(s) that `serve` took, in {receiving.folder}, hold spans "
        f"of {app}'s session(s) {victim.session_id}, not yet written" in refused.stderr
    )
    whole = forget(root, home, "--app-id", app, "--all-sessions")
    assert whole.returncode == 1 and "2 request(s) that `serve` took" in whole.stderr
    assert Path(lake.path(victim.path)).exists()
    receiving.close(written=True)


def test_all_sessions_of_an_app_with_none_left_still_takes_its_rejected_input(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """A forget before 0.5.0 left an app's rejected spans that named no conversation, and one
    again said "already forgotten"; an app none of whose spans was taken had "nothing to
    forget"."""
    from trajectory_assets.lake.quarantine import keep_rejected, rejected_files

    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    child = {"traceId": "ab" * 16, "spanId": "cd" * 8, "name": "tool"}
    kept = keep_rejected(lake, "otlp", "ghost", [("span id reused", child)])
    gone = forget(root, home, "--app-id", "ghost", "--all-sessions")
    assert gone.returncode == 0, gone.stderr
    assert "deleted 1 rejected line(s) of ghost's input; no session of it is left" in gone.stdout
    assert kept not in rejected_files(lake)
    path = lake.path(erase.FORGOTTEN, "20261201T000000-left.json")
    record = erase.Record("left", [], erase.EVERY_DAY, "t", sessions=["s"], verified=True)
    erase.save(lake, path, record)  # forgotten before, its rejected spans left
    left = keep_rejected(lake, "otlp", "left", [("span id reused", child)])
    again = forget(root, home, "--app-id", "left", "--all-sessions")
    assert again.returncode == 0 and "already forgotten, and verified then" in again.stdout
    assert left not in rejected_files(lake)
    nothing = forget(root, home, "--app-id", "left", "--all-sessions")
    assert nothing.returncode == 0 and "already forgotten" in nothing.stdout

    # an app whose only raw data is rows of no session (Spark's folder of a null key)
    source = next(f for f in list_raw_files(lake, dt=DAY1))
    spark = (
        root
        / "raw_events"
        / f"dt={DAY1}"
        / "app_id=ghost"
        / "session_id=__HIVE_DEFAULT_PARTITION__"
    )
    spark.mkdir(parents=True)
    rows = pq.read_table(lake.path(source.path)).drop_columns(["app_id", "session_id"])
    pq.write_table(rows, spark / "part-00000.parquet")
    ran = materialize(root, home, "--partition", DAY1, "--runtime", "inline")
    assert "rejected_events" in ran.stdout
    ghosts = lake_catalog(lake).read("rejected_events", dt=DAY1, app_id="ghost")
    assert ghosts.num_rows == rows.num_rows
    blank = forget(root, home, "--app-id", "ghost", "--session-id", " ")
    assert blank.returncode == 2 and "a blank --session-id names no session: rows" in blank.stderr
    null = forget(root, home, "--app-id", "ghost", "--session-id", "__HIVE_DEFAULT_PARTITION__")
    assert null.returncode == 2 and "go with --all-sessions of their app" in null.stderr
    app = forget(root, home, "--app-id", "__HIVE_DEFAULT_PARTITION__", "--all-sessions")
    assert app.returncode == 2 and "names no app: a folder of a null app" in app.stderr
    gone = forget(root, home, "--app-id", "ghost", "--all-sessions", "--runtime", "inline")
    assert gone.returncode == 0, gone.stdout[-3000:]
    assert "0 session(s) of ghost in 0 raw file(s), and 1 raw file(s) of its rows" in gone.stdout
    assert not spark.exists()
    assert lake_catalog(lake).read("rejected_events", dt=DAY1, app_id="ghost").num_rows == 0


def test_forget_holds_the_pool_while_it_deletes_and_purges(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run in flight read raw files as forget deleted them (a failed run, or the forgotten
    session committed again), and forget's purge deleted a waiting run's new files (a day
    stuck failing). Forget now takes the pool's slot as a run's step does, and a slot a killed
    command kept is freed."""
    lake = tmp_path / "lake"
    generate(lake, home, days=1, sessions_per_day=3)
    victim = list_raw_files(Lake(str(lake)), dt=DAY1)[0]
    killed = slot_of_a_killed_command(home)
    seen: list[tuple[str, list[str]]] = []
    for module, name in ((erase_raw, "delete_raw"), (erase_purge, "purge_history")):
        real = getattr(module, name)

        def watched(*args: Any, real: Any = real, name: str = name) -> Any:
            seen.append((name, pool_holders(home)))
            return real(*args)

        monkeypatch.setattr(module, name, watched)
    done = forget(lake, home, "--app-id", victim.app_id, "--session-id", victim.session_id)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"freed the {POOL} pool's slot of {killed}, whose process is gone" in done.stderr
    me = [f"command {this_process()}"]
    assert seen == [("delete_raw", me), ("purge_history", me)]
    assert pool_holders(home) == []


def test_forget_needs_sessions_or_a_day(materialized_lake: Path, home: Path) -> None:
    neither = forget(materialized_lake, home, "--app-id", "a")
    assert neither.returncode == 2 and "give --session-id" in neither.stderr  # usage errors
    both = forget(materialized_lake, home, "--app-id", "a", "--all-sessions", "--before", DAY2)
    assert both.returncode == 2 and "or --all-sessions: one of them, not several" in both.stderr
    assert both.stderr.startswith("Usage: trajectory-assets forget")
    none = forget(materialized_lake, home, "--app-id", "nope", "--session-id", "x")
    assert none.returncode == 1 and "nothing to forget" in none.stderr
    assert "and no table holds them" in none.stderr
    not_a_day = forget(materialized_lake, home, "--app-id", "a", "--before", "2026-13-01")
    assert not_a_day.returncode == 2  # click's usage error, as for every day option
    assert "'--before': not a date (YYYY-MM-DD): '2026-13-01'" in not_a_day.stderr


def raw_session(root: Path, day: str, app: str, sid: str, events: list[dict[str, Any]]) -> None:
    folder = root / "raw_events" / f"dt={day}" / f"app_id={app}" / f"session_id={sid}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {**dict.fromkeys(RAW_EVENTS.names), **e, "app_id": app, "session_id": sid} for e in events
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=RAW_EVENTS), folder / f"{day}.parquet")


@pytest.mark.slow
def test_forget_before_a_day_takes_a_session_past_midnight_and_no_other_apps_namesake(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """A session that started before the day keeps its files and rows after midnight: they
    stayed. The same id in another app (here `1`, which counts and dates hold too) made the
    check find the other app's session in the logs and reports, so the forget never verified.
    Partition folders left empty named the forgotten rows' values."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    late = dt.datetime.fromisoformat(f"{DAY1}T23:50:00+00:00")
    start = {"event_type": "session_start", "ts": late}
    failed = {"event_type": "error", "error_type": "Secret4711Error", "turn_index": 0}
    raw_session(
        root,
        DAY1,
        "num-app",
        "1",
        [{**start, "event_id": "a"}, {**failed, "event_id": "b", "ts": late}],
    )
    after_midnight = late + dt.timedelta(minutes=20)
    end = {"event_type": "session_end", "event_id": "c", "ts": after_midnight, "payload": "{}"}
    raw_session(root, DAY2, "num-app", "1", [end])
    for app, sid in (("num-app", "2"), ("other-app", "1")):
        raw_session(root, DAY1, app, sid, [{**start, "event_id": "a"}, {**end, "ts": late}])
    ran = materialize(root, home, "--from", DAY1, "--to", DAY2)
    assert ran.returncode == 0, ran.stderr[-3000:]
    lake = Lake(str(root))
    assert sessions_of(lake, "num-app") == {DAY1: ["1", "2"], DAY2: ["1"]}  # a row a day

    done = forget(root, home, "--app-id", "num-app", "--before", DAY2, "--runtime", "inline")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "2 session(s) of num-app in 3 raw file(s)" in done.stdout
    assert not list(Path(root, "raw_events").glob("dt=*/app_id=num-app/session_id=*"))
    assert sessions_of(lake, "num-app") == {}
    assert sessions_of(lake, "other-app") == {DAY1: ["1"]}
    assert not lake_catalog(lake).read("raw_compacted", app_id="num-app").num_rows
    folders = [p for p in Path(root).rglob("*") if p.is_dir() and "num-app" in p.name]
    assert folders == []  # nor `error_type=Secret4711Error` under them


@pytest.mark.slow
def test_forget_deletes_a_sessions_rows_filed_under_another_session_and_folder_spelled_otherwise(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """A row of the session in another session's file (rejected there) stayed in the raw file,
    `rejected_events` and `raw_compacted`; forget said the raw files were gone and never
    verified. Now that file is written again without the row, and the rest of it stays. The
    session's own folder named otherwise than ours (`%73…` for `s…`) was not found: forget
    exited 1, the session in every table."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    victim, bystander = sessions_of(lake, "support-bot")[DAY1][:2]
    ts = dt.datetime.fromisoformat(f"{DAY1}T12:00:00+00:00")
    event = {"event_type": "user_message", "ts": ts, "turn_index": 0}
    raw_session(root, DAY1, "support-bot", bystander, [{**event, "event_id": "kept"}])
    stray = root / "raw_events" / f"dt={DAY1}" / "app_id=support-bot" / f"session_id={bystander}"
    rows = pq.read_table(stray / f"{DAY1}.parquet").to_pylist()
    rows.append({**rows[0], "event_id": "misfiled", "session_id": victim})
    pq.write_table(pa.Table.from_pylist(rows, schema=RAW_EVENTS), stray / f"{DAY1}.parquet")
    own = stray.parent / f"session_id={victim}"  # named otherwise, read the same: forget
    spelled = own.rename(own.parent / f"session_id=%{ord(victim[0]):02X}{victim[1:]}")  # found none
    ran = materialize(root, home, "--partition", DAY1)
    assert ran.returncode == 0, ran.stderr[-3000:]
    rejected = lake_catalog(lake).read("rejected_events", dt=DAY1)["row"].to_pylist()
    assert any('"misfiled"' in row for row in rejected)

    args = ("--app-id", "support-bot", "--session-id", victim, "--runtime", "inline")
    done = forget(root, home, *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "and rows of them in 1 other session(s)' raw file(s)" in done.stdout
    assert not spelled.exists()
    assert pq.read_table(stray / f"{DAY1}.parquet")["event_id"].to_pylist() == ["kept"]
    rejected = lake_catalog(lake).read("rejected_events", dt=DAY1)["row"].to_pylist()
    assert not any('"misfiled"' in row for row in rejected)
    assert bystander in sessions_of(lake, "support-bot")[DAY1]


@pytest.mark.slow
def test_a_forget_stopped_after_its_rebuild_is_finished_and_failing_checks_do_not_stop_it(
    materialized_lake: Path, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuild whose day already failed an ERROR check stopped the forget as unfinished, and
    so did a stop after the rebuild; then no raw file and no table held the sessions, running it
    again said "nothing to forget", and old versions and runs kept them for good."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    victim, bystander = sessions_of(lake, "support-bot")[DAY1][:2]
    ts = dt.datetime.fromisoformat(f"{DAY1}T12:00:00+00:00")
    bad = [  # negative latencies: rejected, over 5% of the day's raw rows
        {"event_type": "llm_call", "event_id": f"bad-{i}", "ts": ts, "latency_ms": -1.0}
        for i in range(60)
    ]
    raw_session(root, DAY1, "support-bot", bystander, bad)
    assert materialize(root, home, "--partition", DAY1).returncode == 1  # the check fails
    real = erase_purge.purge_history
    monkeypatch.setattr(
        erase_purge, "purge_history", lambda *a: (_ for _ in ()).throw(OSError("gone"))
    )
    args = ("--app-id", "support-bot", "--session-id", victim, "--runtime", "inline")
    with pytest.raises(OSError, match="gone"):  # past the failed check, stopped at the purge
        forget(root, home, *args)
    assert victim not in sessions_of(lake, "support-bot")[DAY1]
    monkeypatch.setattr(erase_purge, "purge_history", real)
    done = forget(root, home, *args)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "nothing in the lake or the Dagster instance holds them" in done.stdout
    assert "the rebuild committed every day; 1 asset check(s) of ERROR severity" in done.stdout
    (record,) = [json.loads(p.read_text()) for p in Path(root, "_forgotten").glob("*.json")]
    assert record["verified"] and record["sessions"] == [victim]
    for log in Path(root).rglob("_delta_log/*.checkpoint.parquet"):
        assert victim not in str(pq.read_table(log).to_pylist())


@pytest.mark.slow
def test_without_a_terminal_forget_asks_for_yes_and_says_what_goes(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """A script's forget without --yes (stdin a pipe that stays open: CI, ssh, a supervisor)
    waited for an answer for ever, its question on stdout; and an auditor found every day's
    history and the runs' metadata gone after forgetting one session, which it never said."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    app = "support-bot"
    victim = sessions_of(Lake(str(root)), app)[DAY1][0]
    argv = [*CLI, "forget", "--lake", str(root), "--app-id", app, "--session-id", victim]
    environment = {**os.environ, "DAGSTER_HOME": str(home)}
    with subprocess.Popen(
        argv,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    ) as asked:  # stdin left open
        out, err = asked.communicate(timeout=120)
    assert asked.returncode == 1 and out == ""
    assert err.strip().endswith(
        f"error: nothing was deleted: pass --yes to forget 1 session(s) of {app} in 1 raw "
        "file(s) on 1 day(s), their tables' history before now (every day's) and the Dagster "
        "runs showing them, without a terminal"
    )
    assert list_raw_files(Lake(str(root)), dt=DAY1, app_id=app, session_ids=[victim])


def test_an_interrupted_forget_says_it_is_unfinished(
    materialized_lake: Path, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM during the rebuild said only that a run stopped: not that the forget must be run
    again (the raw files are gone by then)."""
    from trajectory_assets.cli.common import Interrupted

    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    victim = sessions_of(Lake(str(root)), "support-bot")[DAY1][0]

    def stopped(*args: object, **kwargs: object) -> None:
        raise Interrupted("interrupted: run 1234 stopped")

    monkeypatch.setattr("trajectory_assets.cli.materialize.run_days", stopped)
    cut = forget(root, home, "--app-id", "support-bot", "--session-id", victim)
    assert cut.returncode == 130
    assert "interrupted: run 1234 stopped\nthe forget is unfinished: " in cut.stderr
    assert cut.stderr.rstrip().endswith("run the same forget again to finish it")


def test_vacuum_holds_the_pool_as_forget_does(
    materialized_lake: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Overlapping cron jobs: `vacuum --full` deleted a running materialization's files to
    commit, and the run failed (or committed some tables of a day and not others)."""
    from trajectory_assets.lake import delta_history

    killed = slot_of_a_killed_command(home)
    seen: list[list[str]] = []
    real = delta_history.vacuum

    def watched(*args: Any, **kwargs: Any) -> Any:
        seen.append(pool_holders(home))
        return real(*args, **kwargs)

    monkeypatch.setattr(delta_history, "vacuum", watched)
    done = on_lake("vacuum", materialized_lake, home, "--table", "sessions")
    assert done.returncode == 0, done.stderr
    assert f"freed the {POOL} pool's slot of {killed}, whose process is gone" in done.stderr
    assert seen == [[f"command {this_process()}"]]


def test_ctrl_c_between_the_raw_files_and_the_rebuild_says_the_forget_is_unfinished(
    materialized_lake: Path, tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl+C just after the raw files went, before the rebuild's run began: `error:
    interrupted` alone, the tables holding the sessions, nothing saying to run it again."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    victim = sessions_of(Lake(str(root)), "support-bot")[DAY1][0]

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("trajectory_assets.cli.materialize.run_days", interrupted)
    cut = forget(root, home, "--app-id", "support-bot", "--session-id", victim)
    assert cut.returncode == 130
    assert re.fullmatch(
        r"error: interrupted: the forget is unfinished \(record \S+\): run the same forget "
        r"again to finish it\n",
        cut.stderr,
    )
    monkeypatch.undo()
    assert forget(root, home, "--app-id", "support-bot", "--session-id", victim).returncode == 0


def test_a_forget_killed_on_its_way_is_named_by_the_commands_that_go_on(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """A forget killed (SIGKILL, out of memory) after deleting raw files left nothing saying
    so: `materialize` and `tables` went on, the sessions still in older table versions and in
    the Dagster instance, and the user took them for forgotten."""
    root = shutil.copytree(materialized_lake, tmp_path / "lake")
    lake = Lake(str(root))
    request = erase.Request("support-bot", ("s-1", "s two"))
    path, record = erase.start(lake, request)  # what a killed forget leaves
    command = (
        f"trajectory-assets forget --lake {root} --app-id support-bot --session-id s-1 "
        "--session-id 's two'"
    )
    for said in (
        on_lake("tables", root, home).stderr,
        materialize(root, home, "--partition", DAY1, "--runtime", "inline").stderr,
    ):
        assert f"warning: a forget of app support-bot's sessions is unfinished (record {path})" in (
            " ".join(said.split())
        )
        assert f"run it again to finish it: {command}" in " ".join(said.split())
    record.verified = True  # as the forget run again leaves it
    erase.save(lake, path, record)
    assert "unfinished" not in on_lake("tables", root, home).stderr


def test_a_killed_forget_whose_sessions_later_forgets_took_is_no_longer_named(
    tmp_path: Path,
) -> None:
    """Asked again in parts, the sessions are forgotten: the first forget's mark would have
    been named for good."""
    lake = Lake(str(tmp_path / "lake"))
    erase.start(lake, erase.Request("app", ("a", "b")))  # killed
    for session in ("a", "b"):
        path, record = erase.start(lake, erase.Request("app", (session,)))
        record.sessions, record.verified = [session], True
        erase.save(lake, path, record)
    assert erase.unfinished(lake) == []
    assert not list((tmp_path / "lake" / "_forgotten" / "unfinished").iterdir())
