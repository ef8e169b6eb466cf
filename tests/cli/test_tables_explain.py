"""`tables` and `explain`: what a lake holds, and what a run would do, without running it."""

import json
import shutil
from pathlib import Path

import pytest

import trajectory_assets as ta
from tests.lakes import DAY1, DAY2
from tests.runs import run_all
from trajectory_assets.cli import main
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.lake.fs import Lake


def test_tables_lists_days_and_rows(
    materialized_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tables", "--lake", str(materialized_lake)]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    assert "raw_events" not in lines
    assert lines["sessions"].split() == [
        "sessions",
        "2",
        "day(s)",
        "40",
        "rows",
        "v2",
        DAY1,
        "..",
        DAY2,
    ]


def test_tables_as_json_lines_for_scripts(
    materialized_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["tables", "--lake", str(materialized_lake), "--format", "json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    by_name = {line["table"]: line for line in lines}
    assert by_name["sessions"] == {
        "table": "sessions",
        "days": 2,
        "rows": 40,
        "version": 2,
        "first_day": DAY1,
        "last_day": DAY2,
    }
    assert "raw_events" not in by_name and "tool_stats" in by_name
    (tmp_path / "new" / "raw_events").mkdir(parents=True)  # a lake with nothing materialized
    assert main(["tables", "--lake", str(tmp_path / "new"), "--format", "json"]) == 0
    never = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert never and all(
        (n["days"], n["rows"], n["version"], n["first_day"]) == (0, 0, None, None) for n in never
    )


def test_a_table_that_cannot_be_opened_is_named_and_the_others_still_read(
    materialized_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One table whose log cannot be opened took `query` of every other table and `tables`
    down with a traceback of delta-rs."""
    lake = shutil.copytree(materialized_lake, tmp_path / "lake")
    last = sorted((lake / "tool_stats" / "_delta_log").glob("*.json"))[-1]
    last.write_text("{not json")
    assert main(["tables", "--lake", str(lake)]) == 1
    out, err = capsys.readouterr()
    assert "sessions" in out and "tool_stats" not in out
    assert err.startswith(f"error: table tool_stats at {lake / 'tool_stats'} cannot be opened: ")
    assert "\x1b" not in err and "Traceback" not in err
    sql = "SELECT count(*) AS n FROM sessions"
    assert main(["query", "--lake", str(lake), "--format", "csv", sql]) == 0
    assert capsys.readouterr().out == "n\n40\n"
    assert main(["query", "--lake", str(lake), "SELECT * FROM tool_stats"]) == 1
    assert capsys.readouterr().err.startswith(
        f"error: tool_stats at {lake / 'tool_stats'} cannot be opened: "
    )


def test_explain_defaults_to_the_days_with_raw_data(
    materialized_lake: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "sessions", "--lake", str(materialized_lake)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("operator sessionize")
    assert f"dt={DAY1}: nothing to read now\n  sessionize: up to date" in out
    assert f"dt={DAY2}: nothing to read now" in out
    assert main(["explain", "turns", "--lake", str(materialized_lake), "--partition", DAY2]) == 0
    out = capsys.readouterr().out
    assert f"dt={DAY2}:" in out and f"dt={DAY1}:" not in out


def test_explain_plans_what_an_asset_needs_first_on_a_new_day(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    """turn_features reads turns: on a day nothing was materialized yet, the plan is the one a
    run of every asset makes (sessionize first), said so, not an error."""
    assert main(["explain", "turn_features", "--lake", lake.root, "--partition", DAY1]) == 0
    out, err = capsys.readouterr()
    assert err.startswith(
        "note: turn_features reads tables not materialized yet for these days: this is the plan "
        "of a run that computes them first (sessionize), as materializing every asset does\n"
    )
    assert "operator sessionize" in out and "operator turn_features" in out
    assert "reads: raw_events, once per batch for sessionize, turn_features" in out


def test_explain_says_when_the_tables_an_asset_reads_are_stale(
    lake: Lake, capsys: pytest.CaptureFixture[str]
) -> None:
    """A late raw file makes sessionize stale; tool_stats, from sessionize's tables as they
    are, is up to date: explain said only that, so a user saw nothing to do where --missing
    had a day to run."""
    run_all(lake, [DAY1], InlineRuntime())
    explain = ["explain", "tool_stats", "--lake", lake.root, "--partition", DAY1]
    assert main(explain) == 0
    assert capsys.readouterr().out.startswith("operator tool_stats")  # nothing stale: no note
    day = Path(lake.root) / "raw_events" / f"dt={DAY1}"
    late = day / "app_id=late" / "session_id=s-late" / "part-0.parquet"
    late.parent.mkdir(parents=True)
    shutil.copy(next(day.rglob("*.parquet")), late)
    assert main(explain) == 0
    out, err = capsys.readouterr()
    assert err.startswith(
        f"note: tool_calls, which tool_stats reads, is stale for {DAY1}: this is the plan of "
        "tool_stats alone, from its inputs as they are; a run of every asset (or --missing) "
        "computes it first\n"
    )
    assert "  tool_stats: up to date" in out


def test_materializing_an_asset_whose_inputs_are_stale_says_so(
    lake: Lake,
    home: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After late raw data, `--assets my_table` computed it from the old sessions without a
    word: a session counted 9 events in one table and 10 raw rows in the other."""
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    window = tmp_path / "window.yaml"
    window.write_text("model_comparisons: {window_days: 2}\n")
    run = ["materialize", "--lake", lake.root, "--runtime", "inline", "--config", str(window)]
    first = [*run, "--partition", DAY1, "--assets", "tool_stats"]
    assert main(first) == 1  # never materialized: the run names it, no note guesses
    assert "note:" not in capsys.readouterr().err
    assert main([*run, "--from", DAY1, "--to", DAY2]) == 0
    capsys.readouterr()
    day = Path(lake.root) / "raw_events" / f"dt={DAY1}"
    late = day / "app_id=late" / "session_id=s-late" / "part-0.parquet"
    late.parent.mkdir(parents=True)
    shutil.copy(next(day.rglob("*.parquet")), late)
    assert main([*run, "--partition", DAY1, "--assets", "tool_stats,eval_runs"]) == 0
    assert capsys.readouterr().err.startswith(
        f"note: sessions, tool_calls, which eval_runs, tool_stats read, are stale for {DAY1}; "
        "the run computes its assets from what is committed now: leave --assets out to "
        "compute them first\n"
    )
    assert main([*run, "--partition", DAY2, "--assets", "model_comparisons", "--dry-run"]) == 0
    assert capsys.readouterr().err.startswith(  # its window's earlier day
        f"note: sessions, which model_comparisons reads, is stale for {DAY1}; "
    )
    assert main([*run, "--partition", DAY1, "--assets", "sessions,tool_calls,tool_stats"]) == 0
    assert "note:" not in capsys.readouterr().err  # none left out
    assert main(["explain", "daily_report", "--lake", lake.root]) == 1
    assert "daily_report is a page drawn from the day's tables" in capsys.readouterr().err


SLOW_FEATURES = """
import pyarrow as pa
import trajectory_assets as ta


class Features(ta.Operator):
    name, version, inputs = "feature_keys", "1", ("turn_features",)
    outputs = (
        ta.TableSpec(
            "feature_keys",
            pa.schema(
                [ta.column(c, pa.string(), "") for c in ("dt", "app_id", "session_id")]
                + [ta.column("turn_index", pa.int64(), "")]
            ),
            partition_by=("app_id",),
            keys=("app_id", "session_id", "turn_index"),
            description="One row per turn.",
        ),
    )

    def transform(self, ctx, batch):
        return batch.sql("SELECT dt, app_id, session_id, turn_index FROM turn_features")


operators = [Features()]
"""


def test_explain_names_only_the_stale_tables_an_asset_reads(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """turn_features stale (the lake's parameters changed), sessionize current: the note called
    both, every operator upstream, stale."""
    (tmp_path / "feature_keys_defs.py").write_text(SLOW_FEATURES)
    monkeypatch.syspath_prepend(str(tmp_path))
    ops = ta.connect(lake.root, runtime="inline", defs=["feature_keys_defs"]).registry.operators
    run_all(lake, [DAY1], InlineRuntime(), operators=ops)
    params = {"turn_features": {"identical_run_threshold": 6}}
    (Path(lake.root) / "trajectory_assets.json").write_text(json.dumps({"params": params}))
    explain = ["explain", "feature_keys", "--lake", lake.root, "--partition", DAY1]
    assert main([*explain, "--defs", "feature_keys_defs"]) == 0
    out, err = capsys.readouterr()
    assert err.startswith(f"note: turn_features, which feature_keys reads, is stale for {DAY1}: ")
    assert "  feature_keys: up to date" in out


def test_explain_plans_with_the_settings_a_run_takes(
    lake: Lake, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The batch size and first partition a materialization would take from the environment."""
    explain = ["explain", "sessions", "--lake", lake.root]
    assert main([*explain, "--partition", DAY1]) == 0
    default = capsys.readouterr().out
    monkeypatch.setenv("TRAJECTORY_ASSETS_BATCH_BYTES", "15000")
    assert main([*explain, "--partition", DAY1]) == 0
    small = capsys.readouterr().out
    batches = [int(o.split(" batches")[0].split()[-1]) for o in (default, small)]
    assert batches[0] < batches[1]
    monkeypatch.setenv("TRAJECTORY_ASSETS_START_DATE", DAY2)
    assert main([*explain, "--partition", DAY1]) == 1
    assert f"{DAY1} is before the lake's first partition, {DAY2}" in capsys.readouterr().err
    assert main(explain) == 0  # every day with raw data: the earlier one left out, said so
    out, err = capsys.readouterr()
    assert err.startswith(f"note: leaving out {DAY1}") and f"dt={DAY1}:" not in out


def test_explain_argument_errors_are_one_line(
    materialized_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake, none = str(materialized_lake), str(tmp_path / "none")
    explain = ["explain", "sessions", "--lake"]
    failures = {
        "unknown asset 'nope'": ["explain", "nope", "--lake", lake],
        f"no lake at {none}": [*explain, none],
        "no raw data in": [*explain, str(tmp_path)],
        "no raw data for 2020-01-01 in": [*explain, lake, "--partition", "2020-01-01"],
    }
    for message, argv in failures.items():
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err, (argv, err)
    usage = {
        f"--to {DAY1} is before --from {DAY2}": [*explain, lake, "--from", DAY2, "--to", DAY1],
        "give --partition DAY, or --from DAY and --to DAY": [*explain, lake, "--to", DAY1],
    }
    for message, argv in usage.items():
        with pytest.raises(SystemExit) as exited:  # click's usage message, status 2
            main(argv)
        assert exited.value.code == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("Usage: ") and f"Error: {message}" in err, (argv, err)


def test_tables_refuses_a_missing_lake(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tables", "--lake", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err == f"error: no lake at {tmp_path / 'none'}\n"


def test_a_folder_of_other_things_is_no_lake_and_an_empty_one_is_a_new_lake(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    (project / "lake" / "raw_events").mkdir(parents=True)
    (project / "notes.txt").write_text("")
    assert main(["tables", "--lake", str(project)]) == 1
    assert capsys.readouterr().err == (
        f"error: {project} holds no lake: neither raw_events/, trajectory_assets.json nor Delta "
        f"tables, but lake, notes.txt; did you mean {project / 'lake'}?\n"
    )
    assert main(["query", "--lake", str(project / "notes.txt"), "SELECT 1"]) == 1
    assert (
        capsys.readouterr().err == f"error: {project / 'notes.txt'} is a file, not a lake folder\n"
    )
    with pytest.raises(FileNotFoundError, match="holds no lake"):
        ta.connect(str(project))
    # commands that write refuse it too: they would turn it into a lake, or fail file by file
    notes = str(project / "notes.txt")
    for writes in (
        ["ingest", notes, "--lake", str(project)],
        ["generate", "--lake", str(project), "--days", "1"],
        ["serve", "--lake", notes, "--port", "0"],
    ):
        assert main(writes) == 1, writes
        assert capsys.readouterr().err.endswith("; a new lake needs a new or empty folder\n")
    assert sorted(p.name for p in project.iterdir()) == ["lake", "notes.txt"]
    table = project / "lake" / "sessions"  # a lake's table, taken for the lake
    (table / "_delta_log").mkdir(parents=True)
    (table / "dt=2026-11-30").mkdir()
    for command in (
        ["tables", "--lake", str(table)],
        ["generate", "--lake", str(table), "--days", "1"],
        ["ingest", notes, "--lake", str(table)],
    ):  # it listed every table as not materialized; raw data went inside the table
        assert main(command) == 1, command
        assert capsys.readouterr().err.startswith(
            f"error: {table} is a Delta table (it holds _delta_log/), not a lake: give the "
            "folder of the lake that holds it"
        ), command
    assert sorted(p.name for p in table.iterdir()) == ["_delta_log", "dt=2026-11-30"]
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / ".DS_Store").write_text("")
    assert main(["tables", "--lake", str(tmp_path / "new")]) == 0
    assert "not materialized" in capsys.readouterr().out


def test_the_code_locations_runtime_settings_are_the_command_lines_defaults(
    materialized_lake: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A shell that sourced a deployment's settings (deploy/local-stack.sh's env) runs where
    the deployment's UI runs; a flag still wins."""
    from trajectory_assets.engine.runtimes.names import RUNTIME

    monkeypatch.setenv(RUNTIME, "inline")
    explain = ["explain", "sessions", "--lake", str(materialized_lake), "--partition", DAY1]
    assert main(explain) == 0
    assert "\nruntime: inline\n" in capsys.readouterr().out
    assert main([*explain, "--runtime", "auto"]) == 0
    assert "\nruntime: auto: " in capsys.readouterr().out


def test_a_long_table_name_keeps_the_columns_in_line() -> None:
    """A team's names past 18 characters pushed their line's columns out of line."""
    from trajectory_assets.cli.tables import TableLine, _readable

    names = ("sessions", "team_tool_session_stats_by_app")
    lines = [
        _readable(TableLine(table=n, days=2, rows=5, version=1, first_day=DAY1, last_day=DAY2), 30)
        for n in names
    ]
    assert len({line.index("day(s)") for line in lines}) == 1
