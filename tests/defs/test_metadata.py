"""Materialization metadata as the UI shows it."""

import pyarrow as pa

from trajectory_assets.defs.metadata import preview


def test_the_preview_cuts_long_values_but_never_an_id() -> None:
    session = "claude-code-" + "7f3a" * 10  # 52 characters, as transcript ids are
    table = pa.table({"session_id": [session], "error_message": ["x|y\n" + "z" * 60]})
    header, rule, row = preview(table).splitlines()
    assert header == "| session_id | error_message |" and rule == "|---|---|"
    assert row == f"| {session} | x\\|y {'z' * 33}... |"  # cut, then escaped
    assert preview(table.slice(0, 0)) == "_no rows_"


def test_the_preview_shows_floats_without_binary_noise() -> None:
    table = pa.table({"latency_ms": [313.66200000000003], "cost_usd": [8.000175050000003e-05]})
    assert preview(table).splitlines()[-1] == "| 313.662 | 8.00017505e-05 |"


def test_what_tenants_log_shows_as_itself_in_the_preview() -> None:
    """A session id of `s\\r\\r# ...\\r\\r[Re-run here](url)` broke out of the table into a heading
    and a link in the UI; `<img>` and images went through as they were."""
    hostile = "s\r\r# All checks passed\r\r[Re-run here](https://evil.example/login)"
    table = pa.table({"session_id": [hostile], "payload": ["![x](https://evil.example/b.png)"]})
    *_, row = preview(table).splitlines()
    assert row == (
        "| s  # All checks passed  \\[Re-run here\\]\\(https://evil.example/login\\) | "
        "\\!\\[x\\]\\(https://evil.example/b.png\\) |"
    )


def test_a_column_other_producers_name_otherwise_is_named_as_raw_events_calls_it() -> None:
    """OpenAI's `prompt_tokens` was taken for a misspelling of `output_tokens`."""
    from trajectory_assets.defs.metadata import _maybe_meant

    assert _maybe_meant("prompt_tokens") == "prompt_tokens (raw_events calls it input_tokens)"
    assert _maybe_meant("timestamp") == "timestamp (raw_events calls it ts)"
    assert "the payload's cache_write_tokens" in _maybe_meant("cache_write_tokens")
    assert _maybe_meant("input_token") == "input_token (a misspelling of input_tokens?)"


def test_raw_file_names_and_columns_show_as_themselves() -> None:
    """A producer writing Parquet names its files and columns: a file named with a backtick
    closed the code span it was shown in, and its `[Re-run here](url)` became a link; a column
    named `<img ...>` or with a line break and `# HEADING` went through as it was."""
    from trajectory_assets.defs.metadata import listed
    from trajectory_assets.lake.mentions import Sessions

    path = (
        "raw_events/dt=2026-11-30/app_id=a/session_id=s1/"
        "x`[Re-run here](https:evil.example)`.parquet"
    )
    shown = listed([f"{path}: unreadable", "y.parquet: <img src=x onerror=alert(1)>, \n# HEADING"])
    assert shown.value == (
        "- raw\\_events/dt=2026-11-30/app\\_id=a/session\\_id=s1/x\\`\\[Re-run here\\]"
        "\\(https:evil.example\\)\\`.parquet: unreadable\n"
        "- y.parquet: \\<img src=x onerror=alert\\(1\\)\\>,  # HEADING"
    )
    assert Sessions("a", frozenset({"s1"})).in_paths(shown.value) == {"s1"}  # forget finds it
