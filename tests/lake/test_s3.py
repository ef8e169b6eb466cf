"""The lake on S3 (a real S3-compatible server on loopback): raw reads, batch files, Delta
commits with conditional PUTs, idempotent reruns, restore, concurrent writers and the query
command all work, and give the tables computed on local disk."""

import datetime as dt
import json
import shutil
import time
import uuid
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import trajectory_assets as ta
from tests.cli.helpers import in_process, new_dagster_home
from tests.dagster_assets import assets_of
from tests.lake.writers import WriterRacingRuntime, commit_at_once
from tests.lakes import DAY1, DAY2, SMALL_BATCHES, make_lake
from tests.runs import lake_catalog, run_all, run_operator
from tests.servers import ACCESS_KEY, SECRET_KEY, S3Server
from trajectory_assets.definitions import defs
from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.errors import BadRawFilesError, ConcurrentWriterError
from trajectory_assets.ingest.run import ingest_files
from trajectory_assets.lake import delta, delta_commit, snapshots
from trajectory_assets.lake.fs import S3_ENDPOINT_URL_ENV, Lake, lake_from_env
from trajectory_assets.lake.raw import list_days, list_raw_files
from trajectory_assets.lake.raw_read import read_events
from trajectory_assets.operators import TABLES, Sessionize
from trajectory_assets.synth import SynthConfig, generate_lake

pytestmark = pytest.mark.s3


# Sessions a day: every request to the server costs, and a quarter of make_lake's day is still
# several batches of SMALL_BATCHES.
SESSIONS = 30


@pytest.fixture(scope="module")
def s3_raw_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A read-only generated raw lake to upload, smaller than `raw_lake_root`."""
    root = tmp_path_factory.mktemp("s3_raw_lake")
    make_lake(root, sessions_per_day=SESSIONS)
    return root


def upload(local: Path, s3: S3Server) -> Lake:
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.make_bucket(bucket)
    lake = Lake(f"s3://{bucket}/prod", s3.storage_options())
    lake.fs.put(str(local / "raw_events"), lake.path("raw_events"), recursive=True)
    return lake


def test_tables_on_s3_equal_tables_on_local_disk(
    s3_raw_root: Path, tmp_path: Path, s3: S3Server
) -> None:
    local = Lake(str(shutil.copytree(s3_raw_root, tmp_path / "local")))
    remote = upload(s3_raw_root, s3)
    for lake in (local, remote):  # every table in one run, as a materialization runs them
        run_all(lake, [DAY2])
    for table in TABLES:
        expected = lake_catalog(local).read(table, dt=DAY2)
        assert lake_catalog(remote).read(table, dt=DAY2).equals(expected), table


def test_rerun_restore_and_a_second_writer_on_s3(s3_raw_root: Path, s3: S3Server) -> None:
    lake = upload(s3_raw_root, s3)
    op = Sessionize()
    run_operator(op, lake, [DAY1], InlineRuntime())
    catalog = lake_catalog(lake)
    rows = catalog.read("sessions", dt=DAY1)
    files = set(lake.fs.find(lake.path("sessions")))
    assert run_operator(op, lake, [DAY1], InlineRuntime()).days[DAY1].up_to_date
    assert set(lake.fs.find(lake.path("sessions"))) == files  # no new version, no new file

    session = next(
        p for p in lake.fs.ls(lake.path("raw_events", f"dt={DAY1}", "app_id=support-bot"))
    )
    lake.fs.rm(session, recursive=True)
    run_operator(op, lake, [DAY1], InlineRuntime())
    catalog.refresh()
    assert catalog.read("sessions", dt=DAY1).num_rows == rows.num_rows - 1
    restored = delta_commit.restore_day(lake, catalog.get("sessions"), DAY1, {})
    assert restored.as_of == 1
    catalog.refresh()
    assert catalog.read("sessions", dt=DAY1).equals(rows)

    with pytest.raises(ConcurrentWriterError, match=r"\(run the-other"):
        run_operator(op, lake, [DAY2], WriterRacingRuntime(lake, DAY2), batch_bytes=SMALL_BATCHES)
    assert lake_catalog(lake).read("sessions", dt=DAY2).num_rows == SESSIONS


def test_raw_files_fetched_from_s3_read_as_on_disk_and_bad_ones_are_named(
    s3_raw_root: Path, s3: S3Server
) -> None:
    lake = upload(s3_raw_root, s3)
    bad = f"raw_events/dt={DAY1}/app_id=a/session_id=t/bad.parquet"
    lake.fs.pipe(lake.path(bad), b"PAR1 this is not parquet")
    files = list_raw_files(lake, dt=DAY1)
    gone = next(f for f in files if f.path != bad)
    lake.fs.rm(lake.path(gone.path))  # removed between the listing and the read

    with pytest.raises(BadRawFilesError, match=r"session_id=t/bad\.parquet: cannot be read"):
        read_events(lake, files)
    read = read_events(lake, files, on_bad_file="skip", threads=2)
    events, skipped = read.events, read.skipped
    assert sorted(path for path, _ in skipped) == sorted([bad, gone.path])
    readable = [f for f in files if f.path not in (bad, gone.path)]
    on_disk = read_events(Lake(str(s3_raw_root)), readable).events
    assert events.equals(on_disk)


def test_simultaneous_writers_on_s3_use_conditional_puts(s3: S3Server) -> None:
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.make_bucket(bucket)
    lake = Lake(f"s3://{bucket}/prod", s3.storage_options())
    assert lake.delta_options()["conditional_put"] == "etag"
    outcomes = commit_at_once(lake, ["2026-11-01", "2026-11-02", DAY1, DAY1, DAY1])
    assert sorted(o for o in outcomes[:2] if isinstance(o, int)) != []
    assert sum(isinstance(o, int) for o in outcomes[2:]) == 1, outcomes
    assert sum(isinstance(o, ConcurrentWriterError) for o in outcomes[2:]) == 2, outcomes
    catalog = lake_catalog(lake)
    assert catalog.days("sessions") == ["2026-11-01", "2026-11-02", DAY1]
    assert len(catalog.files("sessions", DAY1)) == 1


def test_dagster_materializes_into_an_s3_lake_configured_by_settings(
    s3_raw_root: Path, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = upload(s3_raw_root, s3)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    resource = LakeResource(root=f"s3://{lake.root}", s3_endpoint_url=s3.endpoint_url)
    result = dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.assets(*Sessionize.output_names),
        partition_key=DAY1,
        resources={"lake": resource, "compute": ComputeResource(runtime="inline")},
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    assert lake_catalog(resource.lake()).state("sessions", DAY1).rows == SESSIONS  # type: ignore[union-attr]
    # an asset downstream reads the day through its resource's store, not the environment's
    # (which named none: the notebook API went to AWS for the bucket)
    monkeypatch.delenv(S3_ENDPOINT_URL_ENV, raising=False)
    read = ta.connect(resource.lake(), runtime="inline").read("sessions", dt=DAY1)
    assert read.num_rows == SESSIONS


@pytest.mark.ray
def test_ray_tasks_write_batch_files_on_s3(
    s3_raw_root: Path, s3: S3Server, ray_session: None
) -> None:
    from trajectory_assets.engine.runtimes.ray import RayRuntime

    lake = upload(s3_raw_root, s3)
    result = run_operator(Sessionize(), lake, [DAY1], RayRuntime(), batch_bytes=SMALL_BATCHES)
    assert result.days[DAY1].batches > 1
    assert lake_catalog(lake).read("sessions", dt=DAY1).num_rows == SESSIONS


def test_query_command_reads_an_s3_lake(s3_raw_root: Path, s3: S3Server, tmp_path: Path) -> None:
    lake = upload(s3_raw_root, s3)
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime())
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "TRAJECTORY_ASSETS_S3_ENDPOINT_URL": s3.endpoint_url,
    }
    sql = "SELECT count(*) AS n, count(DISTINCT dt) AS days FROM sessions"
    done = in_process(["query", "--lake", f"s3://{lake.root}", sql], tmp_path, **env)
    assert done.returncode == 0, done.stderr
    assert str(SESSIONS) in done.stdout and "│" in done.stdout


def test_forgetting_the_last_session_of_a_day_on_s3_leaves_an_empty_day(
    s3: S3Server, tmp_path: Path
) -> None:
    """On an object store a folder exists only while an object is under it: the forget keeps
    the day (a hidden marker) so the rebuild commits it as a day without events, instead of
    failing for lack of raw data with the session still in every table."""
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.make_bucket(bucket)
    lake = Lake(f"s3://{bucket}/prod", s3.storage_options())
    one = SynthConfig(dt.date.fromisoformat(DAY1), days=1, sessions_per_day=1, invalid_rate=0.0)
    generate_lake(lake, one)
    (raw,) = {(f.app_id, f.session_id) for f in list_raw_files(lake, dt=DAY1)}
    app, sid = raw
    env = {
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": "us-east-1",
        "TRAJECTORY_ASSETS_S3_ENDPOINT_URL": s3.endpoint_url,
    }
    home, uri = new_dagster_home(tmp_path / "home"), f"s3://{lake.root}"
    done = in_process(
        ["materialize", "--lake", uri, "--partition", DAY1, "--runtime", "inline"], home, **env
    )
    assert done.returncode == 0, done.stderr
    assert lake_catalog(lake).read("sessions", dt=DAY1)["session_id"].to_pylist() == [sid]

    args = ["forget", "--lake", uri, "--app-id", app, "--session-id", sid, "--yes"]
    done = in_process([*args, "--runtime", "inline"], home, **env)
    assert done.returncode == 0, done.stderr
    assert f"(record s3://{lake.root}/_forgotten/" in done.stdout
    assert list_days(lake) == [DAY1] and not list_raw_files(lake, dt=DAY1)
    for table in ("raw_compacted", "sessions", "turns"):
        assert lake_catalog(lake).read(table, dt=DAY1).num_rows == 0


def test_a_table_made_anew_within_the_same_second_on_s3_is_not_taken_for_the_kept_one(
    s3: S3Server,
) -> None:
    """S3 states a file's time to the second: a table deleted and made anew at once, its log
    entry as long as before, was taken for the table kept open, and brought forward over it."""
    from deltalake import write_deltalake

    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.make_bucket(bucket)
    lake = Lake(f"s3://{bucket}/prod", s3.storage_options())

    def write(day: str) -> None:
        rows = pa.table({"dt": [day], "x": [1]})
        write_deltalake(
            lake.display("t"),
            rows,
            mode="overwrite",
            partition_by=["dt"],
            predicate=f"dt = '{day}'",
            storage_options=lake.delta_options(),
        )

    for _ in range(3):  # the server is not always quick enough to stay within the second
        time.sleep(1 - time.time() % 1 + 0.05)  # just after a second begins
        write(DAY1)
        kept = snapshots.current(lake, "t")
        lake.fs.rm(lake.path("t"), recursive=True)
        write(DAY1)
        assert snapshots.current(lake, "t") == delta.snapshot(lake, "t") != kept
        write(DAY2)
        assert snapshots.current(lake, "t") == delta.snapshot(lake, "t")
        lake.fs.rm(lake.path("t"), recursive=True)


def bucket_from_env(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket, reached as a bare s3:// lake through the environment (a deployment's)."""
    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.make_bucket(bucket)
    for name, value in (
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        (S3_ENDPOINT_URL_ENV, s3.endpoint_url),
    ):
        monkeypatch.setenv(name, value)
    return bucket


def test_the_event_logger_reaches_the_endpoint_the_command_line_does(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a bare s3:// lake, the logger went to AWS itself, where the command line and
    `connect` used TRAJECTORY_ASSETS_S3_ENDPOINT_URL: each event failed to be written."""
    from trajectory_assets.ingest import EventLogger

    bucket = bucket_from_env(s3, monkeypatch)
    logger = EventLogger(f"s3://{bucket}/prod", app_id="support-bot")
    with logger.session("s-1") as session:
        session.user_message("hello")
    logger.close()
    assert logger.stats()["written_events"] >= 2
    assert list_raw_files(lake_from_env(f"s3://{bucket}/prod"))


def test_events_sent_again_to_an_s3_lake_add_nothing_and_a_changed_one_is_named(
    s3: S3Server,
) -> None:
    """Each stored file is fetched once to compare (three reads of each cost some twenty
    requests), into a session folder another writer spelled (Spark's raw space)."""
    from trajectory_assets.ingest.common import event
    from trajectory_assets.lake.raw_write import rows_to_table, write_rows

    bucket = f"lake-{uuid.uuid4().hex[:8]}"
    s3.make_bucket(bucket)
    lake = Lake(f"s3://{bucket}/prod", s3.storage_options())
    t0 = dt.datetime(2026, 11, 18, 8, tzinfo=dt.UTC)
    rows = [
        event("llm_call", event_id=f"e{i}", session_id="s 1", app_id="my app", ts=t0, seq=i)
        for i in range(3)
    ]
    spark = lake.path(
        "raw_events", f"dt={DAY1}", "app_id=my app", "session_id=s 1", "part-0.parquet"
    )
    with lake.fs.open(spark, "wb") as f:
        pq.write_table(rows_to_table(rows[:2]).drop_columns(["app_id", "session_id"]), f)
    changed = [dict(r) for r in rows]
    changed[0]["input_tokens"] = 7
    again = write_rows(lake, changed)
    assert again.events_written == 1 and again.events_skipped == 2
    assert again.changed == ["app my app, session s 1, event e0: input_tokens differ"]
    assert [p.rsplit("/", 2)[1] for p in again.files] == ["session_id=s 1"]


def test_a_compacted_file_without_a_stated_range_is_ranged_from_s3(
    s3_raw_root: Path, s3: S3Server, tmp_path: Path
) -> None:
    """The key columns of a compacted file whose log states no session range (a NaN row's)
    are read through the store's filesystem: turn_features alone commits each turn once."""
    from trajectory_assets.lake.layout import COMPACTED_TABLE, RAW_TABLE
    from trajectory_assets.operators import Compact, TurnFeatures

    local = Path(shutil.copytree(s3_raw_root, tmp_path / "local"))
    path = sorted((local / RAW_TABLE / f"dt={DAY1}").glob("app_id=*/session_id=*/*.parquet"))[3]
    table = pq.read_table(path)
    index = table.schema.get_field_index("latency_ms")
    values = table["latency_ms"].to_pylist()
    values[0] = float("nan")
    pq.write_table(table.set_column(index, "latency_ms", pa.array(values, pa.float64())), path)
    lake = upload(local, s3)
    for op in (Compact(), Sessionize()):
        run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES // 4)
    fresh = Lake(lake.uri, s3.storage_options())  # another process: the log's ranges alone
    assert any(f.sessions is None for f in lake_catalog(fresh).files(COMPACTED_TABLE, DAY1))
    run_operator(TurnFeatures(), fresh, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES // 4)
    features = lake_catalog(fresh).read("turn_features", dt=DAY1)
    assert features.num_rows == lake_catalog(fresh).read("turns", dt=DAY1).num_rows > 0


def test_a_receiver_s_write_ahead_log_on_s3_is_taken_in_by_the_next_receiver(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An S3 lake has no folders: the log's are prefixes, listed and deleted as such."""
    from tests.ingest.otlp_server import CALL, c1_span
    from trajectory_assets.ingest.otlp import OtlpReceiver
    from trajectory_assets.lake.wal import WriteAheadLog, entries

    bucket = bucket_from_env(s3, monkeypatch)
    uri = f"s3://{bucket}/prod"
    lake = lake_from_env(uri)
    stopped = WriteAheadLog(lake)  # a receiver stopped before it wrote its spans
    stopped.append({"a": [{"spanId": "gone"}]})
    stopped.append({"a": [CALL, c1_span("a1a1a1a1a1a1a1a1", "", "invoke_agent", 0, 100)]})
    stopped.release([0])
    assert [
        e and e["records"]["a"][0]["spanId"] for _p, e, _s in entries(lake, stopped.folder)
    ] == [CALL["spanId"]]
    stopped.close(written=False)

    receiver = OtlpReceiver(uri, app_id="a", settle_s=0.01, idle_s=0.01)
    receiver.close()
    assert receiver.stats["taken_in"] == 2
    raw = read_events(lake, list_raw_files(lake))
    assert sorted(raw.events["event_type"].to_pylist()) == [
        "llm_call",
        "session_end",
        "session_start",
    ]
    assert not lake.fs.exists(lake.path("_serve"))


def test_a_claim_on_s3_held_by_a_receiver_that_ended_elsewhere_is_taken_once_silent(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An object store has no locks: a claim is an object its taker rewrites while it works.
    One left by a taker that ended on another machine blocked the orphan for good (its watch
    was forgotten at every round)."""
    from trajectory_assets.lake.wal import WriteAheadLog

    lake = lake_from_env(f"s3://{bucket_from_env(s3, monkeypatch)}/prod")
    orphan = WriteAheadLog(lake)
    orphan.append({"a": [{"spanId": "1"}]})
    orphan.close(written=False)
    left = {"owner": "elsewhere:1:1", "machine": "m", "folder": "x", "at": 0}
    lake.fs.pipe_file(f"{orphan.folder}/_claim", json.dumps(left).encode())
    taker, other = WriteAheadLog(lake), WriteAheadLog(lake)
    taker.owners.stale_s = 0.3
    assert taker.orphans() == [orphan.folder]  # this process's, stopped
    assert taker.owners.claim(orphan.folder) is None  # its claim first seen now
    time.sleep(0.4)
    assert taker.orphans() == [orphan.folder]
    claim = taker.owners.claim(orphan.folder)
    assert claim is not None
    assert other.owners.claim(orphan.folder) is None  # the taker's claim, first seen now
    again = taker.owners.claim(orphan.folder)  # its own, left by a take that failed
    assert again is not None
    again.release()
    for log in (taker, other):
        log.close(written=True)


def test_an_ingest_into_a_missing_bucket_names_it(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Each file said "write failed: FileNotFoundError: The specified bucket does not exist",
    naming no bucket."""
    bucket_from_env(s3, monkeypatch)
    source = tmp_path / "one.jsonl"
    row = {"event_id": "e1", "session_id": "s", "event_type": "user_message", "ts": 1767323045}
    source.write_text(json.dumps(row) + "\n")
    report = ingest_files("s3://no-such-bucket-here/lake", "jsonl", [source])
    (failed,) = report.failed
    assert failed.reason.startswith("write failed to s3://no-such-bucket-here/lake: ")
    assert "bucket does not exist" in failed.reason
