"""The one rule `forget` finds sessions by, in the lake and in the Dagster instance."""

import json

from trajectory_assets.lake.mentions import markdown_text, sessions_named, text_of


def test_an_id_is_named_whole_as_written_or_as_a_folder_name() -> None:
    assert sessions_named("raw_events/dt=D/app_id=a/session_id=s-1/0.parquet", ["s-1"]) == ["s-1"]
    assert sessions_named("| s-1 | 3 |", ["s-1", "s-2"]) == ["s-1"]
    assert sessions_named("failed in session s-1. Then s-2: again", ["s-1", "s-2"]) == [
        "s-1",
        "s-2",
    ]
    assert sessions_named("s-12 agent:s-1 s-1.parquet xs-1", ["s-1"]) == []
    path = "session_id=agent%3Arun-1/0.parquet"
    assert sessions_named(path, ["agent:run-1"]) == ["agent:run-1"]
    assert sessions_named("session_id=a%20b/", ["a b"]) == ["a b"]
    assert sessions_named("| a b |", ["a b"]) == ["a b"]
    assert sessions_named("xa b", ["a b"]) == []
    assert sessions_named('"sé-9"', ["sé-9"]) == ["sé-9"]


def test_json_is_searched_in_its_strings_and_html_unescaped() -> None:
    line = json.dumps({"stats": json.dumps({"minValues": {"session_id": "sé-9"}})})
    assert "\\u00e9" in line  # escaped as written
    assert sessions_named(text_of("00001.json", line.encode()), ["sé-9"]) == ["sé-9"]
    page = b"<td>o&#x27;brien</td>"
    assert sessions_named(text_of("report.html", page), ["o'brien"]) == ["o'brien"]


def test_an_id_is_named_as_the_uis_previews_show_it() -> None:
    """`forget` deletes the runs whose events name a session: their previews escape an id's
    markdown (`run\\_1`), which must still name it."""
    preview = f"| {markdown_text('run_1')} | {markdown_text('a|b')} |"
    assert sessions_named(preview, ["run_1", "a|b", "run"]) == ["a|b", "run_1"]
