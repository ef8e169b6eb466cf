"""Bad raw input through a whole materialization: rejected with a reason, or a clear error
naming the file; nothing is lost and raw files are never modified."""

import hashlib
import json
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tests.dagster_assets import assets_of, inline_resources
from tests.lakes import DAY1
from tests.operators.builders import event
from tests.runs import lake_catalog, run_operator
from trajectory_assets.definitions import defs
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.errors import BadRawFilesError
from trajectory_assets.lake import delta_history
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS, TABLES, Sessionize
from trajectory_assets.schema import RAW_EVENTS

PRODUCER_SCHEMA = pa.schema([f.with_nullable(True) for f in RAW_EVENTS])
"""What a careless producer writes: the raw columns with nulls allowed anywhere."""


def write_raw(lake: Lake, session: str, rows: list[dict], name: str = "part-0") -> Path:
    folder = Path(lake.root, "raw_events", f"dt={DAY1}", "app_id=app1", f"session_id={session}")
    folder.mkdir(parents=True, exist_ok=True)
    clean = [{c: r.get(c) for c in RAW_EVENTS.names} | {"session_id": session} for r in rows]
    path = folder / f"{name}.parquet"
    pq.write_table(pa.Table.from_pylist(clean, schema=PRODUCER_SCHEMA), path)
    return path


def raw_digest(lake: Lake) -> str:
    digest = hashlib.sha256()
    for path in sorted(Path(lake.root, "raw_events").rglob("*")):
        if path.is_file():
            digest.update(str(path).encode() + path.read_bytes())
    return digest.hexdigest()


def materialize_all(lake: Lake, **kwargs: object) -> None:
    for op in OPERATORS:
        run_operator(op, lake, [DAY1], InlineRuntime(), **kwargs)  # type: ignore[arg-type]


def test_every_kind_of_bad_row_is_rejected_with_its_reason(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    write_raw(
        lake,
        "s1",
        [
            event("session_start", 0, event_id="ok-1"),
            event("llm_call", 1, event_id=""),
            event("llm_call", 2, event_id="neg-lat", latency_ms=-5.0),
            event("llm_call", 3, event_id="neg-tok", output_tokens=-1),
            event("decision", 4, event_id="bad-json", payload='{"step": "x"'),
            event("eval_result", 5, event_id="bad-eval", payload="not json"),
            event("llm_call", 6, event_id=None),
            event("session_end", 7, event_id="ok-2", payload='{"status": "success"}'),
        ],
    )
    before = raw_digest(lake)
    materialize_all(lake)
    catalog = lake_catalog(lake)
    rejected = {r["event_id"]: r["reason"] for r in catalog.read("rejected_events").to_pylist()}
    assert rejected == {
        "": "null or empty event_id",
        "neg-lat": "negative latency_ms",
        "neg-tok": "negative output_tokens",
        "bad-json": "invalid JSON payload for decision",
        "bad-eval": "invalid JSON payload for eval_result",
        None: "null or empty event_id",
    }
    sessions = catalog.read("sessions").to_pylist()
    assert [(s["session_id"], s["n_events"], s["status"]) for s in sessions] == [
        ("s1", 2, "success")
    ]
    assert raw_digest(lake) == before, "the pipeline modified raw data"


def test_rows_of_another_session_than_their_folder_are_rejected_whatever_the_batching(
    tmp_path: Path,
) -> None:
    """Folder s1 holding rows of s2 (and of another app) made s2 one session or two, and s1 lose
    events, depending on whether s1 and s2 shared a batch: rejected, naming the folder's key."""
    for batch_bytes in (1, 0):  # one batch per session, then one for the day
        lake = Lake(str(tmp_path / f"lake{batch_bytes}"))
        write_raw(lake, "s2", [event("llm_call", i, event_id=f"b{i}") for i in range(2)])
        path = write_raw(lake, "s1", [event("llm_call", 0, event_id="a0")])
        rows = [event("llm_call", 5, event_id="b5", session_id="s2", app_id="app1")]
        rows.append(event("llm_call", 6, event_id="x6", session_id="s1", app_id="app2"))
        rows = [{c: r.get(c) for c in RAW_EVENTS.names} for r in rows]
        pq.write_table(
            pa.Table.from_pylist(rows, schema=PRODUCER_SCHEMA), path.with_name("b.parquet")
        )
        run_operator(Sessionize(), lake, [DAY1], InlineRuntime(), batch_bytes=batch_bytes)
        catalog = lake_catalog(lake)
        rejected = {r["event_id"]: r["reason"] for r in catalog.read("rejected_events").to_pylist()}
        assert rejected == {
            "b5": "session_id differs from its folder's",
            "x6": "app_id differs from its folder's",
        }
        sessions = {s["session_id"]: s["n_events"] for s in catalog.read("sessions").to_pylist()}
        assert sessions == {"s1": 1, "s2": 2}


def test_duplicate_event_ids_across_files_count_once(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    rows = [event("llm_call", i, event_id=f"e{i}", input_tokens=10) for i in range(3)]
    write_raw(lake, "s1", rows, "part-0")
    write_raw(lake, "s1", rows[1:], "part-retry-0")  # a producer's retried flush
    run_operator(Sessionize(), lake, [DAY1], InlineRuntime())
    session = lake_catalog(lake).read("sessions").to_pylist()[0]
    assert (session["n_events"], session["n_llm_calls"], session["input_tokens"]) == (3, 3, 30)


def test_wrong_column_type_fails_naming_file_and_column(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    write_raw(lake, "s1", [event("llm_call", 0, event_id="a")])
    bad = Path(lake.root, "raw_events", f"dt={DAY1}", "app_id=app1", "session_id=s2")
    bad.mkdir(parents=True)
    pq.write_table(
        pa.table({"event_id": ["b"], "ts": [1_770_000_000], "event_type": ["llm_call"]}),
        bad / "typed.parquet",
    )
    with pytest.raises(BadRawFilesError, match=r"session_id=s2/typed\.parquet: column 'ts'"):
        run_operator(Sessionize(), lake, [DAY1], InlineRuntime())


def test_a_value_its_column_cannot_hold_rejects_its_row_not_its_file(tmp_path: Path) -> None:
    """Polars writes a missing token count as NaN, a producer's bug writes 1007.6 tokens, a
    time as "not a time", bytes that are no UTF-8 as text, epoch milliseconds as seconds (the
    year 58851): each failed its whole file, and by default the day of every app. Each is now
    its row's reason in rejected_events; the file's other rows count."""
    lake = Lake(str(tmp_path))
    write_raw(lake, "s1", [event("session_start", 0, event_id="ok-0")])
    start = event("session_start", 0, event_id="ok-0")["ts"]
    table = pa.table(
        {
            "event_id": ["ok-1", "frac", "nan", "time", "utf8", "ok-2"],
            "ts": [str(start)] * 3 + ["not a time", str(start), str(start)],
            "event_type": ["llm_call"] * 5 + ["session_end"],
            "input_tokens": [10.0, 1007.6, float("nan"), 1.0, 1.0, None],
            "payload": pa.array(
                [b"{}", b"{}", b"{}", b"{}", b'{"text": "\xff\xfe"}', b'{"status": "ok"}'],
                pa.binary(),
            ).view(pa.string()),  # as a writer that takes bytes for text leaves it
        }
    )
    folder = Path(lake.root, "raw_events", f"dt={DAY1}", "app_id=app1", "session_id=s1")
    pq.write_table(table, folder / "polars.parquet")
    far = [event("llm_call", 1, event_id="far"), event("llm_call", 2, event_id="early")]
    far_table = pq.read_table(write_raw(lake, "s1", far, "far"))
    ts = pa.array(  # epoch ms taken for seconds; a time before the year 1
        [1_795_000_000_000 * 10**6, -63_000_000_000 * 10**6], pa.timestamp("us", tz="UTC")
    )
    pq.write_table(
        far_table.set_column(far_table.schema.get_field_index("ts"), "ts", ts),
        folder / "far.parquet",
    )
    materialize_all(lake)  # raw_compacted keeps every row: no statistic of a time past 9999
    catalog = lake_catalog(lake)
    rejected = {r["event_id"]: r["reason"] for r in catalog.read("rejected_events").to_pylist()}
    assert rejected == {
        "frac": "input_tokens 1007.6 cannot be read as int64",
        "nan": "input_tokens nan cannot be read as int64",
        "time": "ts 'not a time' cannot be read as timestamp[us, tz=UTC]; null or empty ts",
        "utf8": 'payload b\'{"text": "\\xff\\xfe"}\' cannot be read as string',
        "far": "ts outside the years 1 to 9999",
        "early": "ts outside the years 1 to 9999",
    }
    session = catalog.read("sessions").to_pylist()[0]
    assert (session["n_events"], session["input_tokens"], session["status"]) == (3, 10, "ok")
    assert catalog.read("raw_compacted").num_rows == 9


def test_truncated_file_fails_or_is_skipped_and_reported(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    write_raw(lake, "s1", [event("llm_call", 0, event_id="a")])
    good = write_raw(lake, "s2", [event("llm_call", 0, event_id="b")])
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])  # a flush cut short
    with pytest.raises(BadRawFilesError, match=r"session_id=s2/part-0\.parquet: cannot be read"):
        run_operator(Sessionize(), lake, [DAY1], InlineRuntime())
    result = run_operator(Sessionize(), lake, [DAY1], InlineRuntime(), on_bad_file="skip")
    assert [p for p, _ in result.days[DAY1].skipped_files] == [
        f"raw_events/dt={DAY1}/app_id=app1/session_id=s2/part-0.parquet"
    ]
    assert lake_catalog(lake).read("sessions")["session_id"].to_pylist() == ["s1"]
    commit = next(delta_history.commits(lake, "sessions"))
    assert json.loads(commit.metadata["skipped_files"])[0][0].endswith("s2/part-0.parquet")


def test_an_empty_day_commits_empty_partitions(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    Path(lake.root, "raw_events", f"dt={DAY1}").mkdir(parents=True)
    materialize_all(lake)
    catalog = lake_catalog(lake)
    for table in TABLES:
        state = catalog.state(table, DAY1)
        assert state is not None and state.rows == 0, table
        assert catalog.read(table, dt=DAY1).num_rows == 0


def test_rejected_rows_are_counted_in_materialization_metadata(lake: Lake) -> None:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.assets(*Sessionize.output_names),
        partition_key=DAY1,
        resources=inline_resources(lake),
        instance=instance,
    )
    assert result.success
    record = instance.get_latest_materialization_event(dg.AssetKey("sessions"))
    meta = record.asset_materialization.metadata  # type: ignore[union-attr]
    rejected = lake_catalog(lake).read("rejected_events", dt=DAY1).num_rows
    assert rejected > 0
    assert meta["rejected_rows"].value == rejected
    # the rows neither an event nor rejected: re-sent copies, dropped (a replay showed none)
    files = Path(lake.root, "raw_events", f"dt={DAY1}").rglob("*.parquet")
    raw = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
    events = pc.sum(lake_catalog(lake).read("sessions", dt=DAY1)["n_events"]).as_py()
    assert meta["duplicate_rows"].value == raw - rejected - events > 0


def test_values_spelled_like_a_null_folder_commit_their_day(tmp_path: Path) -> None:
    """One event whose error_type, eval benchmark or model is `__HIVE_DEFAULT_PARTITION__` (the
    folder name of a null) failed the whole day, every tenant's, with no file or row named."""
    from trajectory_assets.schema import NULL_PARTITION

    lake = Lake(str(tmp_path))
    scored = json.dumps({"benchmark": NULL_PARTITION, "task_id": "t", "passed": True})
    write_raw(
        lake,
        "s1",
        [
            event("tool_call", 0, event_id="e1", tool_name="t", error_type=NULL_PARTITION),
            event("eval_result", 1, event_id="e2", model=NULL_PARTITION, payload=scored),
        ],
    )
    materialize_all(lake)
    catalog = lake_catalog(lake)
    (error,) = catalog.read("errors").to_pylist()
    (run,) = catalog.read("eval_runs").to_pylist()
    for value in (error["error_type"], run["benchmark"], run["model"]):
        assert value.startswith(f"{NULL_PARTITION}…") and len(value) == len(NULL_PARTITION) + 13


def test_rows_in_folders_of_a_null_key_are_rejected_and_the_day_counts(tmp_path: Path) -> None:
    """Spark's partitionBy files a row whose key is null under `__HIVE_DEFAULT_PARTITION__`
    (and the key columns out of the file): the listing stopped, and every table of the day
    with it; its rows are now rejected rows, and every check of the day passes but the warning
    of their apps' share."""
    from tests.lakes import make_lake
    from trajectory_assets.schema import NULL_PARTITION

    lake = make_lake(tmp_path / "lake", days=1, sessions_per_day=40)
    day = Path(lake.root, "raw_events", f"dt={DAY1}")
    files = sorted(day.glob("app_id=*/session_id=*/*.parquet"))
    source = min((pq.read_table(f) for f in files), key=len)  # a share under the ERROR check's
    app = source["app_id"][0].as_py()
    sessions = {p.name for p in day.glob("app_id=*/session_id=*")}
    spark = source.drop_columns(["app_id", "session_id"])  # the keys are the folders' alone
    placed = {
        f"app_id={app}/session_id={NULL_PARTITION}": spark,
        f"app_id={NULL_PARTITION}/session_id=s9": spark,
        f"app_id={app}/session_id=": source,  # a session id in the file, none in the folder
    }
    for folder, table in placed.items():
        (day / folder).mkdir(parents=True)
        pq.write_table(table, day / folder / "part-00000.parquet")
    result = dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.all() - dg.AssetSelection.assets("raw_events", "daily_report"),
        partition_key=DAY1,
        resources=inline_resources(lake),
        instance=dg.DagsterInstance.ephemeral(),
    )
    assert result.success
    warned = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert {(e.check_name, e.severity) for e in warned} == {
        ("rejected_share_by_app", dg.AssetCheckSeverity.WARN)  # the apps whose rows they are
    }
    catalog = lake_catalog(lake)
    rejected = catalog.read("rejected_events").to_pylist()
    for folder in placed:
        mine = [
            r for r in rejected if r["source_file"].startswith(f"raw_events/dt={DAY1}/{folder}/")
        ]
        assert len(mine) == source.num_rows, folder
        assert {r["app_id"] for r in mine} == (
            {None} if folder.startswith(f"app_id={NULL_PARTITION}") else {app}
        )
        reasons = {r["reason"] for r in mine}
        if folder.endswith("session_id="):
            assert reasons == {"session_id differs from its folder's"}
        else:  # the key a null folder names is null, as an operator's `IS NULL` expects
            assert all("null or empty " in reason for reason in reasons), reasons
            null = "app_id" if folder.startswith(f"app_id={NULL_PARTITION}") else "session_id"
            assert {json.loads(r["row"])[null] for r in mine} == {None}
    listed = {f"session_id={s}" for s in catalog.read("sessions")["session_id"].to_pylist()}
    assert listed == sessions
