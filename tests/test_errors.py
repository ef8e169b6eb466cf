from trajectory_assets.errors import first_few


def test_first_few_names_five_and_counts_the_rest() -> None:
    assert first_few([]) == ""
    assert first_few(["a"]) == "a"
    assert first_few([1, 2, 3, 4, 5]) == "1, 2, 3, 4, 5"
    assert first_few(list("abcdefgh"), "more day(s)") == "a, b, c, d, e and 3 more day(s)"
    assert first_few(list("abc"), shown=2) == "a, b and 1 more"


def test_text_for_a_terminal_shows_control_and_direction_characters_escaped() -> None:
    """What agents and tenants logged: ESC drives the terminal, U+202E shows text reversed."""
    from trajectory_assets.errors import shown

    assert shown("a\x1b]0;t\x07b\u202ec\td\ne") == "a\\x1b]0;t\\x07b\\u202ec\td\ne"
