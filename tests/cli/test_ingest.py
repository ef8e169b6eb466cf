"""`ingest` on the command line (the importers have their own tests under tests/ingest)."""

import io
from pathlib import Path

import pytest

from trajectory_assets.cli import main


def test_an_unknown_format_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["ingest", "--format", "nope", str(tmp_path), "--lake", str(tmp_path / "lake")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "'nope' is not one of" in err and "otel" in err and "tau-bench" in err


def test_paths_are_required(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["ingest", "--format", "otel", "--lake", str(tmp_path / "lake")])
    assert "Missing argument 'PATH...'" in capsys.readouterr().err


def test_a_folder_without_files_of_the_format_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["ingest", "--format", "otel", str(empty), "--lake", str(tmp_path / "lake")]) == 1
    assert f"error: no otel files found in {empty}" in capsys.readouterr().err


def test_an_empty_app_id_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """It would fall back to each file's format without a word (`serve`: to service.name)."""
    lake = str(tmp_path / "lake")
    for argv in (["ingest", str(tmp_path), "--lake", lake], ["serve", "--lake", lake]):
        assert main([*argv, "--app-id", " "]) == 1
        assert capsys.readouterr().err == (
            "error: --app-id is empty: give an app id, or leave the option out\n"
        )
    assert not (tmp_path / "lake").exists()


def test_invalid_lines_are_a_warning_naming_where_they_are_kept(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "events.jsonl"
    good = '{"event_id": "e1", "session_id": "s1", "ts": "2026-01-02T03:04:05Z", "event_type": "x"}'
    source.write_text(f"{good}\n{{not json\n")
    lake = tmp_path / "lake"
    assert main(["ingest", str(source), "--lake", str(lake)]) == 0
    out, err = capsys.readouterr()
    assert "1 new event(s)" in out and "warning" not in out  # a script's stdout: no notes
    assert (
        f"warning: 1 invalid line(s) or event(s) in 1 file(s) were not imported; they are kept "
        f"with the reason under {lake}/_rejected/ingest/ (first: {source}: line 2: invalid JSON"
    ) in err.replace("\n", " ")


def test_ids_that_would_drive_the_terminal_are_shown_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An app id of `ESC ] 0 ; pwned BEL ESC [31m` retitled the window and recoloured what
    followed, printed by ingest and query alike. Ingest now refuses it (no command line names
    it to forget it); a producer writing Parquet may still write it, and query shows it."""
    import json

    app = "\x1b]0;pwned\x07\x1b[31mANSI"
    line = {"event_id": "e1", "app_id": app, "session_id": "s1", "ts": "2026-01-02T03:04:05Z"}
    source = tmp_path / "events.jsonl"
    source.write_text(json.dumps({**line, "event_type": "x"}) + "\n")
    lake = str(tmp_path / "lake")
    assert main(["ingest", str(source), "--lake", lake]) == 1
    printed = capsys.readouterr()
    assert "\x1b" not in printed.out + printed.err and "\x07" not in printed.out + printed.err
    assert "line 1: app_id with a control character" in printed.err
    import duckdb

    from trajectory_assets.cli.query_output import write_table

    table = io.StringIO()
    relation = duckdb.sql("SELECT $app AS app_id", params={"app": app})
    assert relation is not None
    write_table(relation, table)
    assert "\x1b" not in table.getvalue() and "\\x1b]0;pwned" in table.getvalue()
