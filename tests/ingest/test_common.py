"""What `ingest`, `serve` and the event logger refuse on arrival: the rows the tables would set
aside, with the same reasons."""

from trajectory_assets.ingest.common import metric_problems, validate_row
from trajectory_assets.schema import CACHE_OVER_INPUT


def test_metrics_are_refused_for_the_reasons_rejected_events_gives() -> None:
    assert metric_problems({"latency_ms": -5.0, "input_tokens": 2**40}) == [
        "negative latency_ms",
        "input_tokens over 10^12",
    ]
    assert metric_problems({"input_tokens": 10, "cache_tokens": 50}) == [CACHE_OVER_INPUT]
    assert metric_problems({"input_tokens": 50, "cache_tokens": 50, "turn_index": 0}) == []
    assert metric_problems({"cache_tokens": 50}) == []  # no input count to compare with
    assert metric_problems({"input_tokens": True}) == ["input_tokens is not a number"]
    assert metric_problems({"turn_index": -1}) == ["negative turn_index"]


def test_a_row_gives_every_reason_that_applies() -> None:
    row = {"event_id": "", "app_id": "a", "session_id": "s", "event_type": "llm_call"}
    assert validate_row({**row, "input_tokens": 1, "cache_tokens": 2}) == [
        "null or empty event_id",
        "null or empty ts",
        CACHE_OVER_INPUT,
    ]
