"""What `ingest` keeps aside on arrival (the rows the tables would set aside, with the same
reasons), and how the importers read a source's cache counts."""

import numpy as np

from trajectory_assets.ingest.common import (
    clip,
    input_with_cache,
    metric_problems,
    to_int,
    validate_row,
)


def test_metrics_are_refused_for_the_reasons_rejected_events_gives() -> None:
    assert metric_problems({"latency_ms": -5.0, "input_tokens": 2**40}) == [
        "negative latency_ms",
        "input_tokens over 10^12",
    ]
    assert metric_problems({"input_tokens": 50, "cache_tokens": 50, "turn_index": 0}) == []
    assert metric_problems({"input_tokens": True}) == ["input_tokens is not a number"]
    assert metric_problems({"turn_index": -1}) == ["negative turn_index"]
    # a 400-digit count is too large for a float: named, not an OverflowError failing the file
    assert metric_problems({"input_tokens": 10**400}) == ["input_tokens over 10^12"]
    assert metric_problems({"latency_ms": float("inf")}) == ["infinite latency_ms"]


def test_numpy_numbers_are_numbers() -> None:
    """A count from pandas or numpy (`np.int64`, `np.float32`) is a number."""
    assert metric_problems({"input_tokens": np.int64(1200), "latency_ms": np.float32(812.5)}) == []
    assert metric_problems({"turn_index": np.int64(-1), "ttft_ms": np.float32("nan")}) == [
        "NaN ttft_ms",
        "negative turn_index",
    ]


def test_cache_counts_over_the_input_count_are_counted_apart_whatever_the_total() -> None:
    """An instrumentation whose total leaves the cache out (input + output) made 100 cached
    tokens of 10 input tokens inclusive: a cache hit ratio of 10 and a call priced as all
    cached (Tier A's input count includes the cached tokens, which can be no more than it)."""
    assert input_with_cache(10, 100, output_tokens=5, total_tokens=15) == (110, True)
    assert input_with_cache(10, 100, output_tokens=5, total_tokens=115) == (110, True)
    assert input_with_cache(100, 10, output_tokens=5, total_tokens=105) == (100, False)
    assert input_with_cache(100, 10, output_tokens=5, total_tokens=115) == (110, True)
    assert input_with_cache(100, 10) == (100, False)


def test_a_row_gives_every_reason_that_applies() -> None:
    row = {"event_id": "", "app_id": "a", "session_id": "s", "event_type": "llm_call"}
    assert validate_row({**row, "input_tokens": -1, "turn_index": -1}) == [
        "null or empty event_id",
        "null or empty ts",
        "negative input_tokens",
        "negative turn_index",
    ]


def test_a_long_text_keeps_its_start_and_its_end() -> None:
    """A shell's error is at the end of its output: the first 2,000 characters lost it."""
    output = "Reading package lists..." + "." * 5_000 + "E: Unable to locate package llvm-dev"
    kept = clip(output)
    assert kept.startswith("Reading package lists...")
    assert kept.endswith("E: Unable to locate package llvm-dev")
    assert "[… 3,060 characters cut …]" in kept
    assert len(kept) < 2_100
    assert clip("short") == "short" and clip("x" * 2_000) == "x" * 2_000
    assert clip("x" * 2_010) == "x" * 2_010  # the note would make it longer
    assert clip("abcdef", 0) == "abcdef"


def test_whole_counts_are_read_exactly() -> None:
    """Read through a float, 99999999999999999999 tokens became 10**20 (and the row's error
    named a number nobody sent)."""
    assert to_int("99999999999999999999") == 99999999999999999999
    assert to_int(2**63 + 1) == 2**63 + 1
    assert [to_int(v) for v in (" 269 ", "1e3", 12.0, "x", None, True)] == [
        269,
        1000,
        12,
        None,
        None,
        None,
    ]
