from trajectory_assets.errors import first_few


def test_first_few_names_five_and_counts_the_rest() -> None:
    assert first_few([]) == ""
    assert first_few(["a"]) == "a"
    assert first_few([1, 2, 3, 4, 5]) == "1, 2, 3, 4, 5"
    assert first_few(list("abcdefgh"), "more day(s)") == "a, b, c, d, e and 3 more day(s)"
    assert first_few(list("abc"), shown=2) == "a, b and 1 more"
