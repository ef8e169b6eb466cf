"""A day's counts from its batches' receipts (`engine.commit.day_audit`)."""

from trajectory_assets.engine.commit import day_audit


def test_a_count_some_batches_lack_is_no_count_of_the_day() -> None:
    """An attempt resumed after an upgrade reuses receipts written before a count existed:
    summed over the new batches alone, `unknown_type_calls` read 0 and its check passed."""
    old = [("raw_rows", 10), ("valid_events", 9)]
    new = [("raw_rows", 5), ("valid_events", 5), ("unknown_type_calls", 0)]
    assert day_audit([old, new]) == {"raw_rows": 15, "valid_events": 14}
    assert day_audit([new, new]) == {"raw_rows": 10, "valid_events": 10, "unknown_type_calls": 0}
    assert day_audit([]) == {}
