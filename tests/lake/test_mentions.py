"""The rules `forget` finds an app's sessions by, in the lake and in the Dagster instance."""

import json

from trajectory_assets.lake.mentions import Sessions, markdown_text, sessions_named


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


def test_json_is_searched_in_its_values_and_html_in_its_tables() -> None:
    sessions = Sessions("app", frozenset({"sé-9", "o'brien"}))
    doc = {"stats": json.dumps({"minValues": {"session_id": "sé-9"}}), "n": "sé-9 and more"}
    assert sessions.in_values(doc) == {"sé-9"}
    assert sessions.in_values({"n": "sé-9 and more"}) == set()  # a value, not a word of one
    page = "<table><tr><th>app</th><th>session</th></tr><tr><td>app</td><td>o&#x27;brien</td></tr>"
    assert sessions.in_html(page + "</table>") == {"o'brien"}


def test_an_id_of_another_app_or_one_that_counts_hold_is_not_taken_for_the_session() -> None:
    """The same id in two apps, and an id such as `1`: matched as a word anywhere, forget
    deleted other apps' runs and could never verify (a report's counts, a log's schema)."""
    one = Sessions("num-app", frozenset({"1"}))
    preview = (
        "| app_id | session_id | n_events |\n|---|---|---|\n| num-app | 2 | 1 |\n| other | 1 | 1 |"
    )
    assert one.in_markdown(preview) == set()
    assert one.in_markdown(preview + "\n| num-app | 1 | 7 |") == {"1"}
    assert one.in_markdown("materialized 1 day(s)") == set()
    assert one.in_markdown("num-app: session 1 failed") == {"1"}  # a word beside the app's
    assert one.in_paths("raw_events/dt=D/app_id=other/session_id=1/0.parquet") == set()
    assert one.in_paths("raw_events/dt=D/app_id=num-app/session_id=1/0.parquet") == {"1"}
    page = "<table><tr><th>app</th><th>session</th><th>tool calls</th></tr>"
    page += (
        "<tr><td>num-app</td><td>2</td><td>1</td></tr><tr><td>other</td><td>1</td><td>1</td></tr>"
    )
    assert one.in_html(page + "</table>") == set()
    stats = json.dumps(
        {"minValues": {"app_id": "other", "session_id": "1"}, "maxValues": {"app_id": "other"}}
    )
    assert one.in_file_action({"path": "x.parquet", "stats": stats}) == set()
    ours = {"partitionValues": {"app_id": "num-app"}, "stats": stats, "path": "a/x.parquet"}
    assert one.in_file_action(ours) == {"1"}
    assert one.in_file_action({**ours, "stats": json.dumps({"minValues": {"n": "11"}})}) == set()


def test_a_long_id_is_found_in_the_stats_delta_cuts_short() -> None:
    long = "session-" + "x" * 80
    cut = {"minValues": {"session_id": long[:64]}, "maxValues": {"session_id": long[:63] + "y"}}
    action = {"partitionValues": [("app_id", "a")], "stats_parsed": cut}  # as a checkpoint has it
    assert Sessions("a", frozenset({long})).in_file_action(action) == {long}


def test_an_id_is_named_as_the_uis_previews_show_it() -> None:
    """`forget` deletes the runs whose events name a session: their previews escape an id's
    markdown (`run\\_1`), which must still name it."""
    preview = f"| {markdown_text('run_1')} | {markdown_text('a|b')} |"
    assert sessions_named(preview, ["run_1", "a|b", "run"]) == ["a|b", "run_1"]


def test_cells_are_matched_whole_with_their_own_spaces_and_numbers_are_no_ids() -> None:
    """A cell stripped of every space missed an id with a control character (shown as a space)
    and took `s1 ` for `s1`; long ids sharing a prefix matched a file's stats of the others;
    OTLP's integers (`{"intValue": "1"}`) in another session's rejected span matched `1`."""
    ctl = Sessions("app", frozenset({"ctl\x01", "s1"}))
    rows = [f"| app | {markdown_text(sid)} |" for sid in ("ctl\x01", "s1 ")]
    table = "\n".join(["| app_id | session_id |", "|---|---|", *rows])
    assert ctl.in_markdown(table) == {"ctl\x01"}
    long = Sessions("app", frozenset({"support-agent-2026-07-10-session-01"}))
    stats = {"minValues": {"session_id": "support-agent-2026-07-10-session-02"}}
    stats["maxValues"] = {"session_id": "support-agent-2026-07-10-session-09"}
    assert long.in_file_action({"partitionValues": {"app_id": "app"}, "stats": stats}) == set()
    span = {"attributes": [{"key": "retries", "value": {"intValue": "1"}}]}
    assert Sessions("app", frozenset({"1"})).in_values(span) == set()
    assert Sessions("app", frozenset({"1"})).in_values({"session_id": "1"}) == {"1"}


def test_the_lakes_own_documents_are_searched_by_their_data_files_and_raw_paths() -> None:
    one = Sessions("num-app", frozenset({"1"}))
    receipt = {
        "day": "2026-11-18",
        "input_rows": 1,
        "files": [
            {"path": "x.parquet", "partition": [["dt", "d"], ["app_id", "other"]], "stats": "{}"}
        ],
        "skipped_files": [["raw_events/dt=d/app_id=num-app/session_id=1/0.parquet", "bad"]],
    }
    assert one.in_document(receipt) == {"1"}  # the skipped path, not the other app's file
    commit = {"commitInfo": {"operationParameters": {"rows": "1"}}, "metaData": {"name": "1"}}
    assert one.in_document(commit) == set()
