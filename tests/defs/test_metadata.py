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
