"""Materialization metadata as the UI shows it."""

import pyarrow as pa

from trajectory_assets.defs.metadata import preview


def test_the_preview_cuts_long_values_but_never_an_id() -> None:
    session = "claude-code-" + "7f3a" * 10  # 52 characters, as transcript ids are
    table = pa.table({"session_id": [session], "error_message": ["x|y\n" + "z" * 60]})
    header, rule, row = preview(table).splitlines()
    assert header == "| session_id | error_message |" and rule == "|---|---|"
    assert row == f"| {session} | x\\|y {'z' * 32}... |"
    assert preview(table.slice(0, 0)) == "_no rows_"
