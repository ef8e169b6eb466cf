"""`sync`'s report: a line per table, in columns."""

from trajectory_assets.cli.sync import recorded_lines


def test_the_columns_hold_a_long_name_of_one_s_own() -> None:
    lines = recorded_lines(
        {"sessions": 2, "my_rolling_app_cost_by_model": 10},
        {"sessions": 0, "my_rolling_app_cost_by_model": 1},
    )
    assert lines == [
        "my_rolling_app_cost_by_model    10 day(s) recorded now,     1 already known",
        "sessions                         2 day(s) recorded now,     0 already known",
    ]
    assert recorded_lines({"sessions": 1}, {"sessions": 0}) == [
        "sessions               1 day(s) recorded now,     0 already known"  # as before
    ]
