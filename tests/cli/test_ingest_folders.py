"""`trajectory-assets ingest`: folders and `--format auto`, the tables, the exit status, and the
materialize command it ends with (the options' usage errors are in test_ingest.py)."""

import datetime as dt
import shutil
from pathlib import Path

import pyarrow.compute as pc
import pytest

from tests.ingest import real, real_transcripts
from tests.ingest.folders import LOGS, mixed_folder
from tests.ingest.lakes import materialize, raw_events
from trajectory_assets.cli import main
from trajectory_assets.defs.partitions import daily, start_date_of
from trajectory_assets.ingest.run import ingest_files
from trajectory_assets.lake.fs import Lake

EXPECT = {
    "inspect": real.expect_inspect,
    "otel": real.expect_otel,
    "claude-code": real_transcripts.expect_claude_code,
    "codex": real_transcripts.expect_codex,
}


def test_auto_imports_a_mixed_folder_exactly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, logs, sidecars, broken = mixed_folder(tmp_path / "runs")
    lake = tmp_path / "lake"
    assert main(["ingest", str(root), "--lake", str(lake), "--no-progress"]) == 1
    out = capsys.readouterr()
    assert f"FAILED  {broken[0]}" in out.err
    assert "1 file(s) could not be imported" in out.err
    assert "ingest summary" in out.out and "not imported" in out.out
    for path in sidecars:
        assert path.name in out.out
    assert f"imported {len(logs)} of {len(logs) + len(sidecars) + 1} file(s)" in out.out

    raw = raw_events(lake)
    for fmt, paths in LOGS.items():
        expected = EXPECT[fmt](paths)
        mine = raw.filter(pc.equal(raw["app_id"], fmt))
        kinds = mine["event_type"].to_pylist()
        assert len(set(mine["session_id"].to_pylist())) == len(expected.sessions), fmt
        assert kinds.count("llm_call") == expected.llm_calls, fmt
        assert kinds.count("tool_call") == expected.tool_calls, fmt
        assert mine.filter(pc.is_valid(mine["error_type"])).num_rows == expected.errors, fmt
        assert int(pc.sum(mine["input_tokens"]).as_py() or 0) == expected.input_tokens, fmt

    days = sorted(set(raw["dt"].to_pylist()))
    last = out.out.strip().splitlines()[-1]
    assert len(days) > 2  # scattered days: one command materializes the days with raw data
    assert last == f"materialize with: trajectory-assets materialize --lake {lake} --missing"

    assert main(["ingest", *map(str, logs), "--lake", str(lake)]) == 0
    assert "0 new event(s)" in capsys.readouterr().out


def test_a_folder_without_logs_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("nothing here\n")
    assert main(["ingest", str(tmp_path / "notes"), "--lake", str(tmp_path / "lake")]) == 1
    out = capsys.readouterr()
    assert "README.md" in out.out and "not JSON" in out.out
    assert "no log of a known format" in out.err
    missing = tmp_path / "empty-or-missing"
    with pytest.raises(SystemExit) as exit_:  # a usage error, before anything is read
        main(["ingest", str(tmp_path / "notes"), str(missing), "--lake", str(tmp_path)])
    assert exit_.value.code == 2
    assert f"Path '{missing}' does not exist" in capsys.readouterr().err


def test_auto_is_a_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["ingest", str(tmp_path), "--lake", str(tmp_path), "--format", "nope"])
    assert exit_.value.code == 2
    assert "'nope' is not one of auto, claude-code, codex" in capsys.readouterr().err


def test_a_named_format_reports_failures_with_status_1_and_imports_the_rest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    folder = shutil.copytree(real.FIXTURES / "any_agent_otel", tmp_path / "traces")
    command = ["ingest", "--format", "otel", "--lake", str(lake), "--app-id", "a"]
    assert main([*command, str(folder)]) == 1
    out = capsys.readouterr()
    assert "FAILED" in out.err and "malformed_merge_conflict" in out.err
    assert f"imported {len(real.OTEL)} of {len(real.OTEL) + 1} file(s) as app a" in out.out
    assert "could not be imported" in out.err
    assert set(raw_events(lake)["app_id"].to_pylist()) == {"a"}

    assert main([*command, *map(str, real.OTEL)]) == 0
    assert "0 new event(s)" in capsys.readouterr().out


def test_synthetic_date_places_untimed_sessions_on_a_materializable_day(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lake = tmp_path / "lake"
    plain = tmp_path / "plain"
    tau = [str(p) for p in real.TAU_BENCH]
    assert main(["ingest", "--format", "tau-bench", *tau, "--lake", str(plain)]) == 0
    out, err = capsys.readouterr()
    assert "import again with --synthetic-date" in err
    assert f"forget --lake {plain} --app-id tau-bench --before 1970-01-02" in err  # to redo it
    assert "materialize with" not in out  # 1970-01-01 is no daily partition
    again = ["ingest", "--format", "tau-bench", *tau, "--lake", str(plain)]
    assert main([*again, "--synthetic-date", "2026-11-18"]) == 0  # already there, on 1970
    assert "note: nothing new was written" in capsys.readouterr().err

    command = ["ingest", "--format", "tau-bench", *tau, "--lake", str(lake)]
    assert main([*command, "--synthetic-date", "2026-11-18"]) == 0
    out = capsys.readouterr().out
    assert "days 2026-11-18 .. 2026-11-18" in out and "--synthetic-date" not in out
    assert out.strip().splitlines()[-1].endswith(f"--lake {lake} --partition 2026-11-18")
    moved, before = raw_events(lake), raw_events(plain)
    assert set(moved["dt"].to_pylist()) == {"2026-11-18"}
    shift = dt.datetime(2026, 11, 18, tzinfo=dt.UTC) - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    key = [("event_id", "ascending")]
    assert moved.sort_by(key)["ts"].to_pylist() == [
        t + shift for t in before.sort_by(key)["ts"].to_pylist()
    ]
    assert moved.sort_by(key)["event_id"].equals(before.sort_by(key)["event_id"])
    assert main([*command, "--synthetic-date", "2026-11-18"]) == 0
    out, err = capsys.readouterr()
    assert "0 new event(s)" in out and "note: nothing new was written" in err
    expected = real.expect_tau_bench(real.TAU_BENCH)
    assert materialize(lake)["sessions"].num_rows == len(expected.sessions)
    partitions = daily(start_date_of(Lake(str(lake))))  # the lake's own, as ingest left it
    assert "2026-11-18" in partitions.get_partition_keys()  # so the UI and schedules reach it

    with pytest.raises(SystemExit):
        main([*command, "--synthetic-date", "18/11/2026"])
    assert "not a date (YYYY-MM-DD)" in capsys.readouterr().err


def test_a_named_format_skips_a_folders_files_of_another_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Claude Code and Codex transcripts share `.jsonl`: importing a folder of both as
    `claude-code` takes its Claude Code files and skips the others as what they are, instead of
    failing each; a file named on its own is read as the format asked for."""
    folder = tmp_path / "sessions"
    folder.mkdir()
    claude = shutil.copy(real_transcripts.CLAUDE_CODE[0], folder / "claude.jsonl")
    codex = shutil.copy(real_transcripts.CODEX[0], folder / "codex.jsonl")
    lake = tmp_path / "lake"
    report = ingest_files(str(lake), "claude-code", [folder])
    assert [(f.path, f.status) for f in report.files] == [
        (str(claude), "imported"),
        (str(codex), "skipped"),
    ]
    assert report.files[1].reason == "a codex file, not claude-code"
    (forced,) = ingest_files(str(lake), "claude-code", [codex]).files
    assert forced.status == "failed"
    Path(claude).unlink()  # a folder of Codex transcripts alone: no claude-code file, said so
    assert main(["ingest", "--format", "claude-code", str(folder), "--lake", str(lake)]) == 1
    assert f"error: no claude-code file in {folder} (see above)" in capsys.readouterr().err
