"""`query`: every row and column as a table, csv, json or parquet; errors in one line."""

import csv
import datetime as dt
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.cli.helpers import CLI, materialize
from tests.lakes import DAY1, DAY2
from tests.runs import lake_catalog, table_opens
from trajectory_assets.cli import main
from trajectory_assets.lake import delta, delta_history, erase_purge
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import TABLES

WIDE = "SELECT * FROM sessions ORDER BY session_id"


def query(lake: Path, sql: str, *options: str) -> int:
    return main(["query", "--lake", str(lake), sql, *options])


def test_the_table_shows_every_row_and_column(
    materialized_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert query(materialized_lake, WIDE) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "40 rows"
    assert len(out) == 4 + 40 + 1 + 1  # rule, names, types, rule; rows; rule; count
    names = [cell.strip() for cell in out[1].strip("│").split("│")]
    assert names[:3] == ["dt", "app_id", "session_id"] and "eval_score" in names
    assert len(names) == len(TABLES["sessions"].schema)
    assert all(line.startswith("│") for line in out[4:44])
    assert len({len(line) for line in out[:-1]}) == 1  # every line of the box as wide


def test_values_are_cut_in_the_table_but_whole_in_csv(
    materialized_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT repeat('x', 200) AS long, NULL AS nothing, 'a\nb' AS two_lines, 1.5 AS n"
    assert query(materialized_lake, sql) == 0
    table = capsys.readouterr().out
    assert "x" * 59 + "…" in table and "x" * 61 not in table
    assert "NULL" in table and "a\\nb" in table
    assert query(materialized_lake, sql, "--format", "csv") == 0
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["long", "nothing", "two_lines", "n"], ["x" * 200, "", "a\nb", "1.5"]]


def test_csv_and_json_carry_every_row(
    materialized_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT session_id, dt, models, n_turns FROM sessions ORDER BY session_id"
    assert query(materialized_lake, sql, "--format", "csv") == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 40
    assert {r["dt"] for r in rows} == {DAY1, DAY2}
    assert query(materialized_lake, sql, "--format", "json") == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["session_id"] for r in records] == [r["session_id"] for r in rows]
    assert isinstance(records[0]["models"], list) and isinstance(records[0]["n_turns"], int)


def test_json_is_strict_and_dash_is_stdout(
    materialized_lake: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A script's `query -o - --format json | node`: `-` made a file of that name, and a NaN
    or infinite value computed by the query was written bare, which JSON.parse refuses."""
    monkeypatch.chdir(tmp_path)
    sql = "SELECT 'nan'::DOUBLE AS a, '-inf'::FLOAT AS b, 1.5 AS c, count(*) AS n FROM sessions"
    assert query(materialized_lake, sql, "--format", "json", "-o", "-") == 0
    line = capsys.readouterr().out.strip()
    assert json.loads(line, parse_constant=pytest.fail) == {"a": None, "b": None, "c": 1.5, "n": 40}
    assert not (tmp_path / "-").exists()


def test_json_timestamps_are_iso_8601(
    materialized_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = (
        "SELECT session_id, started_at, started_at::TIMESTAMP AS naive, "
        "TIMESTAMPTZ '2026-01-01 12:00:00.5+02' AS fixed FROM sessions ORDER BY session_id"
    )
    assert query(materialized_lake, sql, "--format", "json") == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    started = lake_catalog(Lake(str(materialized_lake))).read("sessions")
    ids, moments = started["session_id"].to_pylist(), started["started_at"].to_pylist()
    expected = dict(zip(ids, moments, strict=True))
    assert len(records) == len(expected) == 40
    for record in records:
        moment = dt.datetime.fromisoformat(record["started_at"])
        assert record["started_at"].endswith("Z") and "T" in record["started_at"]
        assert moment == expected[record["session_id"]]
        assert dt.datetime.fromisoformat(record["naive"]) == moment.replace(tzinfo=None)
    assert records[0]["fixed"] == "2026-01-01T10:00:00.500000Z"


def test_output_files(
    materialized_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sql = "SELECT session_id, n_events FROM sessions"
    for fmt in ("table", "csv", "json", "parquet"):
        target = tmp_path / f"result.{fmt}"
        assert query(materialized_lake, sql, "--format", fmt, "--output", str(target)) == 0
        assert target.stat().st_size > 0
    assert capsys.readouterr().out == ""
    assert pq.read_table(tmp_path / "result.parquet").num_rows == 40
    assert len((tmp_path / "result.json").read_text().splitlines()) == 40
    assert query(materialized_lake, sql, "--format", "parquet") == 1
    assert "give --output FILE" in capsys.readouterr().err


def test_a_sql_error_is_one_message_without_traceback(
    materialized_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert query(materialized_lake, "SELECT * FROM no_such_table") == 1
    err = capsys.readouterr().err
    assert err.startswith("error: Catalog Error: Table with name no_such_table does not exist")
    assert "Traceback" not in err
    assert query(materialized_lake, "SELECT 'a'::INT", "--format", "csv") == 1  # fails at run
    assert capsys.readouterr().err.startswith("error: Conversion Error")
    for empty in ("  ", "\n-- SELECT 1", "/* a */ ;"):  # "$SQL" unset: nothing printed, exit 0
        assert query(materialized_lake, empty) == 1
        assert capsys.readouterr().err.startswith("error: the SQL is empty: give a query")


def test_a_table_of_operators_not_loaded_names_what_to_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "lake" / "raw_events").mkdir(parents=True)
    (tmp_path / "lake" / "team_table" / "_delta_log").mkdir(parents=True)
    assert query(tmp_path / "lake", "SELECT * FROM team_table") == 1
    lake = tmp_path / "lake"
    assert capsys.readouterr().err == (
        f"error: team_table is a table of {lake} that no operator this command loaded writes: "
        "name its operator's module with --defs MODULE (or TRAJECTORY_ASSETS_DEFS, or in the "
        "lake's trajectory_assets.json); a table its operator no longer writes reads with any "
        f"Delta reader, at {lake / 'team_table'}\n"
    )


def test_a_missing_lake_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no_such_lake"
    assert query(missing, "SELECT 1") == 1
    assert capsys.readouterr().err == f"error: no lake at {missing}\n"


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path, fmt: str) -> None:
    """`query … | head`: the rest of the output has nowhere to go, and that is no error."""
    sql = "SELECT range AS n, repeat('x', 50) AS pad FROM range(1000000)"
    lake = tmp_path / "lake"
    lake.mkdir()  # a new, empty lake: DAGSTER_HOME's files are no lake's
    process = subprocess.Popen(
        [*CLI, "query", "--lake", str(lake), sql, "--format", fmt],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path)},
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()
    process.stdout.close()  # as head does after its lines
    err = process.stderr.read().decode()
    assert process.wait(timeout=120) == 1
    assert err == ""


def test_a_version_a_table_does_not_have_is_named(
    materialized_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not DuckDB's "does not exist! Did you mean pg_settings?" for a table that is there."""
    assert query(materialized_lake, "SELECT count(*) FROM sessions", "--as-of", "0") == 0
    assert query(materialized_lake, "SELECT count(*) FROM sessions", "--as-of", "999") == 1
    error = capsys.readouterr().err
    assert error.startswith("error: sessions has no version 999: the versions kept are 0 to ")
    assert "pg_settings" not in error


def test_a_column_added_after_the_version_asked_for_is_named(
    materialized_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not DuckDB's Binder Error and its candidate bindings, for a column that is there now."""
    import deltalake

    lake = shutil.copytree(materialized_lake, tmp_path / "lake")
    path = str(lake / "sessions")
    table = deltalake.DeltaTable(path).to_pyarrow_table()
    before = deltalake.DeltaTable(path).version() + 1
    for written in (table.drop_columns(["cost_usd"]), table):  # a version without the column
        deltalake.write_deltalake(path, written, mode="overwrite", schema_mode="overwrite")
    sql = "SELECT sum(cost_usd) FROM sessions"
    assert query(lake, sql, "--as-of", str(before)) == 1
    error = capsys.readouterr().err
    assert error == (
        f"error: sessions as of {before} has no column cost_usd: it was added to the table later\n"
    )
    assert query(lake, sql, "--as-of", str(before + 1)) == 0


def test_time_travel_names_what_is_no_longer_there(
    materialized_lake: Path, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before the table existed, a version whose files were vacuumed, and versions whose log
    was cleaned up: each is said, never read as other data (Delta's own time travel answers
    a time before the oldest version kept with that version)."""
    lake = shutil.copytree(materialized_lake, tmp_path / "lake")
    count = "SELECT count(*) FROM sessions"
    assert query(lake, count, "--as-of", "2020-01-01") == 1
    assert "error: sessions did not exist yet at 2020-01-01T00:00:00+00:00: it was created " in (
        capsys.readouterr().err
    )
    now = dt.datetime.now(dt.UTC).isoformat()
    assert query(lake, count, "--as-of", now) == 0  # the current version
    old = version(lake)
    forced = materialize(lake, home, "--partition", DAY1, "--assets", "sessions", "--force")
    assert forced.returncode == 0, forced.stderr[-3000:]  # new files for the day
    delta_history.vacuum(Lake(str(lake)), "sessions", retention_hours=0)
    capsys.readouterr()
    assert query(lake, count, "--as-of", str(old)) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: sessions as of {old} cannot be read: its file {lake}/")
    assert "was vacuumed" in error and "--force" not in error
    for fmt in ("csv", "json", "table"):  # csv wrote its header before the error
        assert query(lake, "SELECT * FROM sessions", "--as-of", str(old), "--format", fmt) == 1
        assert capsys.readouterr().out == "", fmt
        earlier = tmp_path / f"yesterday.{fmt}"  # an earlier result the failed read emptied
        earlier.write_text("earlier result\n")
        failed = ("--as-of", str(old), "--format", fmt, "-o", str(earlier))
        assert query(lake, "SELECT * FROM sessions", *failed) == 1
        assert earlier.read_text() == "earlier result\n" and sorted(tmp_path.glob(".*")) == []
    done = query(lake, count, "--format", "csv", "-o", str(tmp_path / "yesterday.csv"))
    assert done == 0 and (tmp_path / "yesterday.csv").read_text().startswith("count_star()")
    capsys.readouterr()
    erase_purge.purge_history(Lake(str(lake)), lake_catalog(Lake(str(lake))), [DAY1])
    assert query(lake, count, "--as-of", "1") == 1
    kept = "(older ones were cleaned up by vacuum or forget)"
    error = capsys.readouterr().err
    assert error.startswith("error: sessions has no version 1: the versions kept are ")
    assert kept in error
    assert query(lake, count, "--as-of", "2020-01-01") == 1
    error = capsys.readouterr().err
    assert "error: sessions has no version as of 2020-01-01T00:00:00+00:00: " in error
    assert kept in error and f"to {version(lake)}" in error
    assert query(lake, count, "--as-of", str(version(lake))) == 0


def version(lake: Path) -> int:
    table = delta.open_table(Lake(str(lake)), "sessions")
    assert table is not None
    return int(table.version())


def test_an_output_that_cannot_be_written_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for fmt in ("csv", "json", "parquet"):
        target = tmp_path / "no_such_folder" / f"out.{fmt}"
        assert (
            main(["query", "--lake", str(tmp_path), "SELECT 1", "--format", fmt, "-o", str(target)])
            == 1
        )
        err = capsys.readouterr().err
        assert err.startswith("error: ") and str(target) in err and "Traceback" not in err


def test_a_lost_file_is_named_as_the_user_would_type_it() -> None:
    """Delta's object store names a file by its key in the bucket (an S3 lake's error named
    `lake/tool_stats/...` without `s3://bucket/`), and a local one without its leading slash."""
    from trajectory_assets.cli.query import _in_lake

    s3 = Lake("s3://trajectory-lake/lake")
    assert _in_lake(s3, "lake/sessions/x.parquet") == "s3://trajectory-lake/lake/sessions/x.parquet"
    assert _in_lake(Lake("/data/lake"), "data/lake/x.parquet") == "/data/lake/x.parquet"
    assert _in_lake(Lake("/data/lake"), "/data/lake/x.parquet") == "/data/lake/x.parquet"


@pytest.fixture()
def abroad(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process in Tokyo: DuckDB takes its default zone from the machine's."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_times_are_utc_whatever_the_machines_zone(
    materialized_lake: Path, abroad: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`dt` is the UTC day of `started_at`: in the machine's zone a query gave other days, hours
    and printed offsets on each laptop."""
    sql = (
        "SELECT count(*) FILTER (WHERE started_at::date::varchar = dt) AS same_day, count(*) AS n,"
        " min(strftime(started_at, '%z')) AS zone FROM sessions"
    )
    assert query(materialized_lake, sql, "--format", "csv") == 0
    same_day, n, zone = capsys.readouterr().out.splitlines()[1].split(",")
    assert same_day == n == "40" and zone == "+00"


def test_a_version_number_reads_one_table(
    materialized_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Version N of two tables is two points in time: a join of them is refused, not mixed."""
    join = "SELECT count(*) FROM sessions JOIN turn_features USING (app_id, session_id)"
    assert query(materialized_lake, join, "--as-of", "1") == 1
    assert capsys.readouterr().err == (
        "error: --as-of 1 is a version of one table, and the query reads sessions and "
        "turn_features, whose version 1 may be other points in time: give --as-of a time "
        "(ISO 8601) to read every table as it was then, or query one table\n"
    )
    one = "WITH s AS (SELECT * FROM sessions) SELECT count(*) FROM s"  # a CTE is no table
    assert query(materialized_lake, one, "--as-of", "1") == 0
    now = dt.datetime.now(dt.UTC).isoformat()
    assert query(materialized_lake, join, "--as-of", now) == 0


def test_a_query_opens_the_tables_it_names_only(
    materialized_lake: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every table was opened (each version's file list read) whatever the SQL named: a count
    of one table of a lake two years old took 5.8 s, 4 of them on the other eleven."""
    opened = table_opens(monkeypatch)
    assert (
        query(materialized_lake, "SELECT count(*) FROM Sessions JOIN turns USING (session_id)") == 0
    )
    assert sorted(opened) == ["sessions", "turns"]
    opened.clear()
    assert query(materialized_lake, "SHOW TABLES") == 0  # no table named: every one
    assert len(opened) == len(TABLES) and "sessions" in capsys.readouterr().out
