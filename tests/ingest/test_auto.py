"""`--format auto` over folders: each file's format from its content, sidecar files skipped with
the reason, broken logs reported, and the same events as importing each format by name."""

import io
from pathlib import Path

import pyarrow.compute as pc
import pytest
from rich.console import Console

from tests.ingest import real, real_transcripts
from tests.ingest.folders import LOGS, mixed_folder
from tests.ingest.lakes import raw_events
from trajectory_assets.ingest.console import ProgressBar, problems_table, summary_table
from trajectory_assets.ingest.detect import sniff
from trajectory_assets.ingest.run import FileResult, ingest_files

BY_FOLDER = {
    "any_agent_otel/traces": "otel",
    "inspect_ai/logs": "inspect",
    "inspect_ai/edge_cases": "inspect",
    "openhands": "openhands",
    "swe_agent": "swe-agent",
    "tau_bench": "tau-bench",
    "claude_code": "claude-code",
    "codex_cli": "codex",
}


def test_every_fixture_log_is_detected_as_its_format() -> None:
    for folder, fmt in BY_FOLDER.items():
        paths = [
            p
            for p in (real.FIXTURES / folder).rglob("*")
            if p.is_file() and p.suffix in (".json", ".jsonl", ".eval", ".traj", ".gz")
        ]
        assert paths, folder
        for path in paths:
            assert sniff(path).format == fmt, (path, sniff(path))


def test_licences_manifests_and_broken_logs_are_not_logs() -> None:
    assert sniff(real.FIXTURES / "README.md").format is None
    assert sniff(real.FIXTURES / "claude_code" / "LICENSE").format is None
    assert sniff(real.FIXTURES / "inspect_ai" / "MANIFEST.tsv").reason == "not JSON"
    (broken,) = real.OTEL_BROKEN
    found = sniff(broken)
    assert (found.format, found.broken) == ("otel", True)


@pytest.fixture()
def mixed(tmp_path: Path) -> tuple[Path, list[Path], list[Path], list[Path]]:
    return mixed_folder(tmp_path / "runs")


def test_a_mixed_folder_imports_its_logs_and_reports_the_rest(
    tmp_path: Path, mixed: tuple[Path, list[Path], list[Path], list[Path]]
) -> None:
    root, logs, sidecars, broken = mixed
    planned: list[list[str]] = []
    seen: list[FileResult] = []
    report = ingest_files(
        str(tmp_path / "lake"), "auto", [root], planned=planned.append, progress=seen.append
    )
    assert sorted(map(str, logs)) == sorted(f.path for f in report.ok)
    not_logs = [f for f in report.files if f.status == "skipped"]
    assert sorted(map(str, sidecars)) == sorted(f.path for f in not_logs)
    assert [f.path for f in report.failed] == list(map(str, broken))
    assert "merge-conflict" in report.failed[0].reason
    reasons = {Path(f.path).name: f.reason for f in not_logs}
    assert "logs.json" in reasons["logs.json"] and "eval-set" in reasons["eval-set.json"]
    assert reasons[".eval-set-id"] == reasons["README.md"] == "not JSON"
    assert ".git" not in str(planned)  # hidden folders are not searched
    assert len(planned) == 1 and len(planned[0]) == len(seen) == len(report.files)
    assert report.app_id is None and report.apps == sorted(LOGS)

    raw = raw_events(tmp_path / "lake")
    for fmt, paths in LOGS.items():
        expected = {
            "inspect": real.expect_inspect,
            "otel": real.expect_otel,
            "claude-code": real_transcripts.expect_claude_code,
            "codex": real_transcripts.expect_codex,
        }[fmt](paths)
        mine = raw.filter(pc.equal(raw["app_id"], fmt))
        kinds = mine["event_type"].to_pylist()
        assert kinds.count("llm_call") == expected.llm_calls, fmt
        assert kinds.count("tool_call") == expected.tool_calls, fmt
        assert int(pc.sum(mine["input_tokens"]).as_py() or 0) == expected.input_tokens, fmt


def test_auto_writes_the_same_events_as_each_format_by_name(
    tmp_path: Path, mixed: tuple[Path, list[Path], list[Path], list[Path]]
) -> None:
    root, _logs, _sidecars, _broken = mixed
    ingest_files(str(tmp_path / "auto"), "auto", [root], app_id="runs")
    for fmt, paths in LOGS.items():
        ingest_files(str(tmp_path / "named"), fmt, paths, app_id="runs")
    key = [("event_id", "ascending")]
    auto, named = raw_events(tmp_path / "auto"), raw_events(tmp_path / "named")
    assert auto.num_rows == named.num_rows > 0
    assert auto.sort_by(key).drop_columns(["dt"]).equals(named.sort_by(key).drop_columns(["dt"]))
    again = ingest_files(str(tmp_path / "auto"), "auto", [root], app_id="runs")
    assert again.events_written == 0 and len(again.ok) == len(_logs)


def test_a_named_file_that_is_missing_is_a_failure(tmp_path: Path) -> None:
    report = ingest_files(str(tmp_path / "lake"), "auto", [tmp_path / "nope.json"])
    assert [(f.status, f.reason) for f in report.files] == [("failed", "no such file")]


def test_the_progress_bar_and_the_summary_tables_render(
    tmp_path: Path, mixed: tuple[Path, list[Path], list[Path], list[Path]]
) -> None:
    root, logs, sidecars, broken = mixed
    console = Console(file=io.StringIO(), width=200, force_terminal=False)
    with ProgressBar(console, transient=False) as bar:
        report = ingest_files(
            str(tmp_path / "lake"), "auto", [root], planned=bar.planned, progress=bar.progress
        )
    shown = console.file.getvalue()  # type: ignore[attr-defined]
    assert f"FAILED  {broken[0]}" in shown
    assert f"{len(report.files)}/{len(report.files)} files" in shown

    record = Console(record=True, width=400, file=io.StringIO())  # no path folded
    record.print(summary_table(report))
    table = record.export_text()
    for fmt in LOGS:
        assert fmt in table
    total = next(line for line in table.splitlines() if line.strip("│ ").startswith("total"))
    assert f"{len(logs)}" in total and f"{report.events_written:,}" in total
    problems = problems_table(report)
    assert problems is not None
    record.print(problems)
    text = record.export_text()
    assert all(p.name in text for p in [*sidecars, *broken])


def test_the_materialize_command_covers_the_imported_days(tmp_path: Path) -> None:
    report = ingest_files(
        str(tmp_path / "lake"), "auto", [*real_transcripts.CODEX, *real_transcripts.CLAUDE_CODE]
    )
    assert len(report.days) > 1  # scattered days: the days with raw data still to materialize
    assert report.materialize_command("L") == "trajectory-assets materialize --lake L --missing"
    one = ingest_files(str(tmp_path / "lake2"), "codex", real_transcripts.CODEX)
    assert one.materialize_command("L") == (
        f"trajectory-assets materialize --lake L --partition {one.days[0]}"
    )
    untimed = ingest_files(str(tmp_path / "lake3"), "tau-bench", real.TAU_BENCH)
    assert untimed.days == ["1970-01-01"] and untimed.materialize_command("L") is None
