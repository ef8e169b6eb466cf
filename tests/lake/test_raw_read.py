"""Reading real raw Parquet files: the schema every operator sees, provenance, bad files."""

import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from botocore.exceptions import EndpointConnectionError

from tests.lakes import DAY1
from trajectory_assets.errors import BadRawFilesError
from trajectory_assets.lake import raw_read
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import list_raw_files
from trajectory_assets.lake.raw_read import read_events
from trajectory_assets.schema import EVENTS, RAW_EVENTS


def test_read_conforms_schema_and_records_provenance(lake: Lake) -> None:
    files = list_raw_files(lake, dt=DAY1)[:5]
    read = read_events(lake, files)
    events, skipped = read.events, read.skipped
    assert skipped == []
    assert events.schema == EVENTS
    assert set(events["source_file"].to_pylist()) == {f.path for f in files}
    assert set(events["dt"].to_pylist()) == {DAY1}


def _write(lake: Lake, relative: str, table: pa.Table) -> None:
    path = lake.path(relative)
    lake.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    pq.write_table(table, path)


def test_missing_optional_and_extra_columns_are_tolerated(tmp_path: object) -> None:
    lake = Lake(str(tmp_path))
    table = pa.table(
        {
            "event_id": ["e1"],
            "ts": pa.array([0], pa.timestamp("us", tz="UTC")),
            "event_type": ["llm_call"],
            "surprise": [1],
        }
    )
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/x.parquet", table)
    events = read_events(lake, list_raw_files(lake)).events
    row = events.to_pylist()[0]
    assert (row["app_id"], row["session_id"], row["latency_ms"]) == ("a", "s", None)
    assert "surprise" not in events.column_names


def test_values_in_columns_raw_events_lacks_are_named_with_their_file(tmp_path: object) -> None:
    lake = Lake(str(tmp_path))
    full = pa.Table.from_pylist(
        [{"event_id": "e1", "app_id": "a", "session_id": "s", "event_type": "llm_call", "ts": 0}],
        schema=RAW_EVENTS,
    )
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/full.parquet", full)
    misspelt = full.drop_columns(["input_tokens"]).append_column("input_token", pa.array([12]))
    misspelt = misspelt.append_column("unused", pa.nulls(1, pa.int64()))  # no value: not named
    misspelt = misspelt.append_column("__index_level_0__", pa.array([7]))  # pandas' own: not
    path = f"raw_events/dt={DAY1}/app_id=a/session_id=t/misspelt.parquet"
    _write(lake, path, misspelt)
    files = list_raw_files(lake)
    fast = read_events(lake, files)  # the scan, by name across files that differ
    assert fast.unknown == [(path, "input_token")]
    assert fast.events["input_tokens"].to_pylist() == [None, None]
    narrow = read_events(lake, files, columns=["event_type", "input_tokens"])  # what it misspells
    assert narrow.unknown == [(path, "input_token")]
    keyless = misspelt.drop_columns(["app_id", "session_id"])  # keys in the folder: file by file
    _write(lake, path, keyless)
    assert read_events(lake, files).unknown == [(path, "input_token")]
    assert read_events(lake, files[:1]).unknown == []


def test_unreadable_file_fails_with_its_path_or_is_skipped(tmp_path: object) -> None:
    lake = Lake(str(tmp_path))
    good = RAW_EVENTS.empty_table()
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/good.parquet", good)
    bad = lake.path(f"raw_events/dt={DAY1}/app_id=a/session_id=t/bad.parquet")
    lake.fs.makedirs(bad.rsplit("/", 1)[0], exist_ok=True)
    with open(bad, "wb") as handle:
        handle.write(b"PAR1 this is not parquet")
    files = list_raw_files(lake)
    with pytest.raises(BadRawFilesError, match=r"session_id=t/bad\.parquet: cannot be read"):
        read_events(lake, files)
    skipped = read_events(lake, files, on_bad_file="skip").skipped
    assert [path for path, _ in skipped] == [
        f"raw_events/dt={DAY1}/app_id=a/session_id=t/bad.parquet"
    ]


def test_a_file_deleted_after_the_listing_is_said_to_be_gone(tmp_path: object) -> None:
    """It read as "cannot be read as Parquet", as if corrupt; it was deleted meanwhile."""
    lake = Lake(str(tmp_path))
    gone = f"raw_events/dt={DAY1}/app_id=a/session_id=s/gone.parquet"
    _write(lake, gone, RAW_EVENTS.empty_table())
    files = list_raw_files(lake)
    lake.fs.rm(lake.path(gone))
    reason = "is gone: deleted after the run listed it (by forget, or by hand)"
    with pytest.raises(BadRawFilesError, match=re.escape(f"{gone}: {reason}")):
        read_events(lake, files)
    assert read_events(lake, files, on_bad_file="skip").skipped == [(gone, reason)]


@pytest.mark.parametrize(
    ("target", "failure"),
    [
        ("sources", EndpointConnectionError(endpoint_url="http://127.0.0.1:9")),
        ("sources", OSError(5, "SlowDown: please reduce your request rate")),  # s3fs's 503
        ("sources", TimeoutError("read timed out")),
        ("read_source", pa.ArrowMemoryError("malloc of size 4294967296 failed")),
        ("conform", KeyError("source_row")),
    ],
)
def test_what_is_not_the_file_s_fault_fails_the_read_rather_than_skip_the_file(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch, target: str, failure: BaseException
) -> None:
    """`on_bad_file: skip` is for bad files: an object store that does not answer, memory
    running out or a bug read as "cannot be read as Parquet", and skip left good rows out of
    the tables with a warning alone."""
    lake = Lake(str(tmp_path))
    _write(
        lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/good.parquet", RAW_EVENTS.empty_table()
    )
    files = list_raw_files(lake)
    monkeypatch.setattr(raw_read, "_scan_local", lambda *_: None)  # the path of an object store

    def fail(*_: object) -> object:
        raise failure

    if target == "sources":
        monkeypatch.setattr(Lake, "sources", lambda self, paths: [failure])
    else:
        monkeypatch.setattr(raw_read, target, fail)
    with pytest.raises(type(failure)):
        read_events(lake, files, on_bad_file="skip")


def test_column_of_wrong_type_names_file_and_column(tmp_path: object) -> None:
    """A type no value of which a raw column can hold (a struct where a number belongs) is the
    writer's mistake: the file fails, named. A bad value of a type that can be read ("fast"
    as a latency) is its row's problem alone, whatever its neighbours."""
    lake = Lake(str(tmp_path))
    table = pa.table(
        {
            "event_id": ["e1"],
            "ts": pa.array([0], pa.timestamp("us", tz="UTC")),
            "event_type": ["llm_call"],
            "latency_ms": [{"ms": 5.0}],
        }
    )
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/typed.parquet", table)
    with pytest.raises(
        BadRawFilesError, match=r"typed\.parquet: column 'latency_ms' has type struct"
    ):
        read_events(lake, list_raw_files(lake))
    _write(
        lake,
        f"raw_events/dt={DAY1}/app_id=a/session_id=s/typed.parquet",
        table.set_column(3, "latency_ms", pa.array(["fast"])),
    )
    (event,) = read_events(lake, list_raw_files(lake)).events.to_pylist()
    assert event["unreadable"] == "latency_ms 'fast' cannot be read as double"


def test_fast_local_scan_equals_the_file_by_file_read(lake: Lake, monkeypatch: object) -> None:
    import pyarrow.compute as pc

    from trajectory_assets.lake import raw_read

    files = list_raw_files(lake, dt=DAY1)
    fast = read_events(lake, files).events
    assert raw_read._scan_local(lake, files, 4) is not None, "the fast path was not taken"
    monkeypatch.setattr(raw_read, "_scan_local", lambda *args: None)  # type: ignore[attr-defined]
    careful = read_events(lake, files).events
    order = [("source_file", "ascending"), ("source_row", "ascending")]
    assert fast.take(pc.sort_indices(fast, order)).equals(
        careful.take(pc.sort_indices(careful, order))
    )


def test_a_deviant_file_sends_the_scan_down_the_careful_path(tmp_path: object) -> None:
    from trajectory_assets.lake import raw_read

    lake = Lake(str(tmp_path))
    good = pa.table(
        {
            "event_id": ["e1"],
            "app_id": ["a"],
            "session_id": ["s"],
            "ts": pa.array([0], pa.timestamp("us", tz="UTC")),
            "event_type": ["llm_call"],
        }
    )
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/good.parquet", good)
    assert raw_read._scan_local(lake, list_raw_files(lake), 2) is not None
    odd = good.append_column("latency_ms", pa.array(["fast"]))  # text where a number belongs
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=t/odd.parquet", odd)
    assert raw_read._scan_local(lake, list_raw_files(lake), 2) is None
    events = read_events(lake, list_raw_files(lake)).events.sort_by("session_id").to_pylist()
    assert [e["unreadable"] for e in events] == [
        None,
        "latency_ms 'fast' cannot be read as double",
    ]


@pytest.mark.parametrize(
    ("name", "column", "expected"),
    [  # a column of a producer's file with every raw column, beside a file of the raw schema
        ("ts", pa.array([1_770_069_660_123_457], pa.timestamp("us")), None),
        ("ts", pa.array([1_770_069_660_123_457_789], pa.timestamp("ns", tz="UTC")), None),
        ("ts", pa.array(["2026-02-02 22:01:00.123457"]), None),
        ("ts", pa.array(["2026-02-02 22:01:00.123457"], pa.large_string()), None),  # Polars'
        ("ts", pa.array(["2026-02-02T22:01:00.123457789Z"]), None),  # RFC 3339's nano form
        ("artifacts", pa.nulls(1, pa.string()), None),  # a column of nulls: no value to change
        ("app_id", None, None),
        ("input_tokens", pa.array([1007.6]), None),  # its row's problem: `unreadable`
        ("payload", pa.array([{"status": "success", "step": None}]), None),
        ("payload", pa.array([[("status", "success")]], pa.map_(pa.string(), pa.string())), None),
        ("payload", pa.array([{"status": "success", "step": float("nan")}]), None),
        ("ts", pa.array([1_770_069_660_123]), "column 'ts' has type int64, expected timestamp"),
        ("input_tokens", pa.array([True]), "column 'input_tokens' has type bool"),  # not 1
    ],
    ids=[
        "naive",
        "nanoseconds",
        "text-without-zone",
        "large-text",
        "nano-text",
        "null-text-artifacts",
        "no-keys",
        "fractional-tokens",
        "struct",
        "map",
        "struct-with-nan",
        "epoch-milliseconds",
        "bool-tokens",
    ],
)
def test_a_file_is_read_the_same_whatever_its_neighbours(
    tmp_path: object,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    column: pa.Array | None,
    expected: str | None,
) -> None:
    """The scan of a day cast every file to the first file's types: a naive timestamp shifted by
    the machine's zone, nanoseconds rounded where alone they failed the day, 1007.6 tokens read
    as 1008, a file without key columns read with null keys (every row rejected); the same file
    alone was read otherwise. Now each is read as the file-by-file path reads it: times in UTC,
    nanoseconds truncated, keys from the folder, and values a cast would change refused."""
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        lake = Lake(str(tmp_path))
        row = {"event_id": "e0", "app_id": "a", "session_id": "s", "event_type": "llm_call"}
        canonical = pa.Table.from_pylist([{**row, "ts": 1_770_069_660_123_457}], schema=RAW_EVENTS)
        _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/0.parquet", canonical)
        odd = canonical.set_column(1, "app_id", pa.array(["b"])).set_column(
            2, "session_id", pa.array(["t"])
        )
        index = odd.schema.get_field_index(name)
        if column is None:  # keys in the folder names alone, as DuckDB's PARTITION_BY writes
            odd = odd.drop_columns(["app_id", "session_id"])
        else:
            odd = odd.set_column(index, name, column)
        _write(lake, f"raw_events/dt={DAY1}/app_id=b/session_id=t/odd.parquet", odd)
        files = list_raw_files(lake)
        if expected is not None:
            with pytest.raises(BadRawFilesError, match=rf"odd\.parquet: {re.escape(expected)}"):
                read_events(lake, files)
            return
        events = read_events(lake, files).events.sort_by("app_id").to_pylist()
        assert [(e["app_id"], e["session_id"]) for e in events] == [("a", "s"), ("b", "t")]
        assert events[1]["ts"] == events[0]["ts"]  # 2026-02-02 22:01:00.123457 UTC, truncated
        if name == "payload":  # its JSON text, not DuckDB's `{'status': success, ...}`
            text = events[1]["payload"]
            assert {"status": "success"}.items() <= json.loads(text).items()
            assert "NaN" not in text  # JSON has no NaN: null
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_files_of_several_raw_schemas_are_scanned_as_the_careful_path_reads_them(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan per file schema (every column of the raw schema's types, some optional ones
    missing, one column raw_events lacks): the same table and the same unknown columns as the
    file-by-file read; more schemas than a few are read file by file."""
    from trajectory_assets.lake import raw_read

    lake = Lake(str(tmp_path))
    row = {"event_id": "e", "event_type": "llm_call", "ts": 1_770_069_660_123_457}
    full = pa.Table.from_pylist([{**row, "app_id": "a", "session_id": "s"}], schema=RAW_EVENTS)
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/0.parquet", full)
    lean = full.drop_columns(["artifacts", "payload"]).set_column(1, "app_id", pa.array(["b"]))
    _write(lake, f"raw_events/dt={DAY1}/app_id=b/session_id=s/0.parquet", lean)
    extra = full.set_column(1, "app_id", pa.array(["c"])).append_column("surprise", pa.array([1]))
    _write(lake, f"raw_events/dt={DAY1}/app_id=c/session_id=s/0.parquet", extra)
    files = list_raw_files(lake)
    fast = raw_read._scan_local(lake, files, 2)
    assert fast is not None, "the fast path was not taken"
    monkeypatch.setattr(raw_read, "_scan_local", lambda *args: None)
    careful = read_events(lake, files)
    order = [("app_id", "ascending")]
    assert fast.events.sort_by(order).equals(careful.events.sort_by(order))
    assert fast.unknown == careful.unknown == [(files[2].path, "surprise")]
    monkeypatch.undo()
    monkeypatch.setattr(raw_read, "SCHEMAS", 2)
    assert raw_read._scan_local(lake, files, 2) is None  # three schemas: file by file


def test_a_struct_payload_reads_as_each_row_wrote_it(tmp_path: object) -> None:
    """A writer inferring one struct type for a file's payloads gives each row every key any
    row has, as nulls: a tool call's arguments (and their hash, which finds loops) depended on
    which other calls shared its file. A struct's null fields are left out of its JSON."""
    lake = Lake(str(tmp_path))
    payloads = [{"arguments": {"query": "x"}}, {"arguments": {"order_id": "A-17"}}]
    table = pa.table(
        {
            "event_id": ["e1", "e2"],
            "ts": pa.array([0, 1], pa.timestamp("us", tz="UTC")),
            "event_type": ["tool_call", "tool_call"],
            "payload": pa.array(payloads),  # struct<arguments: struct<query, order_id>>
        }
    )
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/inferred.parquet", table)
    events = read_events(lake, list_raw_files(lake)).events
    assert [json.loads(p) for p in events["payload"].to_pylist()] == payloads


def test_a_uuid_id_reads_as_its_usual_text(tmp_path: object) -> None:
    """DuckDB writes a UUID column as Parquet's UUID type: a cast to text refused the file
    ("Invalid UTF8 payload"), or, when its 16 bytes happened to be UTF-8, garbled the id."""
    import uuid

    lake = Lake(str(tmp_path))
    ids = [uuid.UUID(bytes=b"evt-000000000002"), uuid.uuid4()]  # bytes that are UTF-8, and not
    table = pa.table(
        {
            "event_id": pa.array([i.bytes for i in ids], pa.uuid()),
            "ts": pa.array([0, 1], pa.timestamp("us", tz="UTC")),
            "event_type": ["llm_call", "llm_call"],
        }
    )
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/duckdb.parquet", table)
    events = read_events(lake, list_raw_files(lake)).events
    assert events["event_id"].to_pylist() == [str(i) for i in ids]


def test_artifacts_written_as_json_text_read_as_their_list(tmp_path: object) -> None:
    """A writer without nested types writes `artifacts` as JSON text (as a payload written as
    a struct is read as its JSON): it failed the whole file; text that is no such list is its
    row's problem alone."""
    lake = Lake(str(tmp_path))
    stdout = [{"kind": "stdout", "uri": "s3://b/o"}]
    table = pa.table(
        {
            "event_id": ["e1", "e2", "e3"],
            "ts": pa.array([0, 1, 2], pa.timestamp("us", tz="UTC")),
            "event_type": ["tool_call"] * 3,
            "artifacts": [json.dumps(stdout), None, "not json"],
        }
    )
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/text.parquet", table)
    events = read_events(lake, list_raw_files(lake)).events.to_pylist()
    assert [e["artifacts"] for e in events] == [stdout, None, None]
    assert [e["unreadable"] for e in events] == [
        None,
        None,
        "artifacts 'not json' cannot be read as list<item: struct<kind: string, uri: string>>",
    ]


def test_bad_values_are_their_rows_problems_whatever_their_neighbours(tmp_path: object) -> None:
    """A lone bad value (a logger's one-event file) failed its whole file, where the same
    value beside a good one was its row's problem: the kind of cast decides, not the count.
    The values found in halves are exactly the bad ones, in every row group."""
    lake = Lake(str(tmp_path))
    alone = pa.table(
        {
            "event_id": ["e"],
            "ts": pa.array([0], pa.timestamp("us", tz="UTC")),
            "event_type": ["llm_call"],
            "input_tokens": [1007.6],
        }
    )
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/alone.parquet", alone)
    n = 1000
    tokens = [float(i) for i in range(n)]
    for row in (0, 511, 999):
        tokens[row] += 0.5
    many = pa.table(
        {
            "event_id": [f"m{i}" for i in range(n)],
            "ts": pa.array(range(n), pa.timestamp("us", tz="UTC")),
            "event_type": ["llm_call"] * n,
            "input_tokens": tokens,
        }
    )
    path = lake.path(f"raw_events/dt={DAY1}/app_id=a/session_id=t/many.parquet")
    Path(path).parent.mkdir(parents=True)
    pq.write_table(many, path, row_group_size=300)  # chunks the halves cross
    events = read_events(lake, list_raw_files(lake)).events.to_pylist()
    problems = {e["event_id"]: e["unreadable"] for e in events if e["unreadable"]}
    assert problems == {
        "e": "input_tokens 1007.6 cannot be read as int64",
        "m0": "input_tokens 0.5 cannot be read as int64",
        "m511": "input_tokens 511.5 cannot be read as int64",
        "m999": "input_tokens 999.5 cannot be read as int64",
    }
    read = {e["event_id"]: e["input_tokens"] for e in events if e["event_id"].startswith("m")}
    assert read == {f"m{i}": None if i in (0, 511, 999) else i for i in range(n)}


def test_spark_s_int96_times_read_in_microseconds(tmp_path: object) -> None:
    """Read in Arrow's default nanoseconds, an INT96 time outside 1677-2262 overflowed into
    another (2500 read as 1915, the year 58851 as 2175), accepted without a word."""
    import datetime as dt

    lake = Lake(str(tmp_path))
    times = [dt.datetime(2500, 1, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 28, tzinfo=dt.UTC)]
    table = pa.table(
        {
            "event_id": ["late", "now"],
            "ts": pa.array(times, pa.timestamp("us", tz="UTC")),
            "event_type": ["llm_call", "llm_call"],
        }
    )
    path = lake.path(f"raw_events/dt={DAY1}/app_id=a/session_id=s/spark.parquet")
    Path(path).parent.mkdir(parents=True)
    pq.write_table(table, path, use_deprecated_int96_timestamps=True)
    events = read_events(lake, list_raw_files(lake)).events.to_pylist()
    assert [e["ts"] for e in events] == times


def test_text_that_is_not_utf8_inside_artifacts_is_its_row_s_problem(tmp_path: object) -> None:
    """Only text columns were checked: an artifact's `uri` of invalid bytes passed, and failed
    the whole day's run in DuckDB, naming no file."""
    lake = Lake(str(tmp_path))
    kind = pa.list_(pa.struct([("kind", pa.string()), ("uri", pa.string())]))
    uris = pa.array([b"s3://ok", b"s3://bad\xff\xfe"], pa.binary()).view(pa.string())
    artifacts = pa.ListArray.from_arrays(
        pa.array([0, 1, 2], pa.int32()),
        pa.StructArray.from_arrays([pa.array(["stdout", "stdout"]), uris], ["kind", "uri"]),
    ).cast(kind)
    table = pa.table(
        {
            "event_id": ["good", "bad"],
            "ts": pa.array([0, 1], pa.timestamp("us", tz="UTC")),
            "event_type": ["tool_call", "tool_call"],
            "artifacts": artifacts,
        }
    )
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/nested.parquet", table)
    events = read_events(lake, list_raw_files(lake)).events.to_pylist()
    assert events[0]["unreadable"] is None and events[0]["artifacts"][0]["uri"] == "s3://ok"
    assert events[1]["unreadable"].startswith(  # the bytes shown: the reason said no value
        "artifacts [{'kind': b'stdout', 'uri': b's3://bad\\xff\\xfe'}] cannot be read as list<"
    )
    assert events[1]["artifacts"] is None


def test_a_nanosecond_time_text_past_2262_is_read(tmp_path: object) -> None:
    """RFC 3339's nano form was parsed in nanoseconds, whose range ends in 2262: a valid time
    after it was rejected as no time."""
    import datetime as dt

    lake = Lake(str(tmp_path))
    table = pa.table(
        {
            "event_id": ["e"],
            "ts": ["2300-01-01T00:00:00.123456789Z"],
            "event_type": ["llm_call"],
        }
    )
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/nano.parquet", table)
    (event,) = read_events(lake, list_raw_files(lake)).events.to_pylist()
    assert event["ts"] == dt.datetime(2300, 1, 1, 0, 0, 0, 123456, tzinfo=dt.UTC)
    assert event["unreadable"] is None


def test_a_flag_nested_where_text_belongs_fails_its_file(tmp_path: object) -> None:
    """An artifact's `kind` written as true/false was read as the text "true", while the same
    value in JSON text was its row's problem; a payload's flags stay its JSON's."""
    lake = Lake(str(tmp_path))
    kind = pa.list_(pa.struct([("kind", pa.bool_()), ("uri", pa.string())]))
    table = pa.table(
        {
            "event_id": ["e"],
            "ts": pa.array([0], pa.timestamp("us", tz="UTC")),
            "event_type": ["tool_call"],
            "artifacts": pa.array([[{"kind": True, "uri": "s3://b/o"}]], kind),
            "payload": pa.array([{"passed": True}]),
        }
    )
    _write(lake, f"raw_events/dt={DAY1}/app_id=a/session_id=s/flags.parquet", table)
    with pytest.raises(BadRawFilesError, match=r"flags\.parquet: column 'artifacts' has type"):
        read_events(lake, list_raw_files(lake))
    _write(
        lake,
        f"raw_events/dt={DAY1}/app_id=a/session_id=s/flags.parquet",
        table.drop_columns("artifacts"),
    )
    (event,) = read_events(lake, list_raw_files(lake)).events.to_pylist()
    assert json.loads(event["payload"]) == {"passed": True}
