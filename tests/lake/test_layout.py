"""Folder names of partition values, as this project and other writers spell them."""

from trajectory_assets.lake.layout import parse_hive, spellings


def test_each_writers_spelling_reads_back_as_the_value() -> None:
    """Spark leaves a space or an `é` as it is and escapes `:`; JavaScript's encodeURIComponent
    leaves `'()`; this project escapes all of them: a writer looking a session up by its own
    spelling alone wrote a re-sent event again into a second folder."""
    assert spellings("run-1_a.b~") == ["run-1_a.b~"]  # spelled alike by every writer
    assert spellings("s 1 é:2") == ["s%201%20%C3%A9%3A2", "s 1 é%3A2"]
    assert spellings("x'(y)") == ["x%27%28y%29", "x%27(y)", "x'(y)"]
    for value in ("s 1 é:2", "x'(y)", 'a"#%*/=?[]^{}\\\x01'):
        for spelled in spellings(value):
            assert parse_hive(f"session_id={spelled}") == {"session_id": value}
