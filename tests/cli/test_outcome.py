"""What a finished run prints: the per-day summary and the failed checks, one screen wide."""

import sys

import dagster as dg
import pytest
from dagster._utils.error import serializable_error_info_from_exc_info

from tests.lakes import DAY1, DAY2
from trajectory_assets.cli.outcome import check_failures, error_text, summary_lines


class SystemException(Exception):
    """Ray Data's marker (ray.data.exceptions): a worker's death is raised `from` one."""


def test_a_failure_is_said_by_the_innermost_error_that_says_anything() -> None:
    try:
        try:
            raise ConnectionError("the actor died unexpectedly: its node is gone") from (
                SystemException()
            )
        except ConnectionError as exc:
            raise dg.Failure(description="step failed") from exc
    except dg.Failure:
        error = serializable_error_info_from_exc_info(sys.exc_info())
    assert error_text(error) == "the actor died unexpectedly: its node is gone"
    try:
        raise SystemExit(15)
    except SystemExit:
        assert error_text(serializable_error_info_from_exc_info(sys.exc_info())) == "15"
    try:  # pyarrow's error for a file deleted under a run: its path alone
        raise FileNotFoundError("/lake/_staging/x.parquet")
    except FileNotFoundError:
        assert error_text(serializable_error_info_from_exc_info(sys.exc_info())) == (
            "a file the run needed is gone (deleted during the run?): /lake/_staging/x.parquet"
        )


def test_a_store_that_failed_a_commit_is_said_in_one_line_with_what_to_do() -> None:
    """A hung S3 store: seven lines of Delta Lake's error chain, its terminal colours printed
    as `\\x1b[31m`, naming neither the store nor what to do."""
    chain = (
        "Generic S3 error\n          \x1b[31m↳\x1b[0m Error performing list request on "
        "lake/sessions/_delta_log in 90.27s, after 2 retries\n          \x1b[31m↳\x1b[0m "
        "operation timed out"
    )
    try:
        raise OSError(chain)
    except OSError:
        said = error_text(serializable_error_info_from_exc_info(sys.exc_info()))
    assert said == (
        "the lake's store failed or does not answer: Generic S3 error: Error performing list "
        "request on lake/sessions/_delta_log in 90.27s, after 2 retries: operation timed out (is "
        "the store up, and is TRAJECTORY_ASSETS_S3_ENDPOINT_URL its address? Once it works, run "
        "the same command again: it finishes what this run left)"
    )


@pytest.mark.parametrize(
    ("status", "code", "advice"),
    [
        ("404 Not Found", "NoSuchBucket", "the lake's bucket does not exist"),
        ("403 Forbidden", "InvalidAccessKeyId", "the lake's store refused this access"),
        (
            "400 Bad Request",
            "InvalidArgument",
            "the lake's store cannot be used with these settings",
        ),
        ("503 Service Unavailable", "SlowDown", "the lake's store failed or does not answer"),
    ],
)
def test_a_store_refusing_a_run_is_not_said_to_pass(status: str, code: str, advice: str) -> None:
    """A missing bucket and a refused key were said to be an outage: run again once it works."""
    message = (
        "Kernel error -> Generic S3 error: Error performing list request: Error performing GET "
        "http://127.0.0.1:9/bucket?list-type=2 in 426µs - Server returned non-2xx status code: "
        f'{status}: <?xml version="1.0"?><Error><Code>{code}</Code></Error>'
    )
    try:
        raise OSError(message)
    except OSError:
        said = error_text(serializable_error_info_from_exc_info(sys.exc_info()))
    assert said.startswith(f"{advice}: {message} (")


def test_a_message_over_lines_keeps_them() -> None:
    """Only a Rust chain is joined into one line: a schema difference kept its lines."""
    try:
        raise ValueError("Schemas are different:\na: int64\nvs\na: string")
    except ValueError:
        said = error_text(serializable_error_info_from_exc_info(sys.exc_info()))
    assert said == "Schemas are different:\na: int64\nvs\na: string"


def test_a_run_without_ray_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Ray runtime's advice was the cause of a ModuleNotFoundError, whose message (the
    innermost) was all a failed run said: "No module named 'ray'"."""
    from trajectory_assets.engine.runtimes.ray import _require_ray

    monkeypatch.setitem(sys.modules, "ray.data", None)  # as if it were not installed
    with pytest.raises(ImportError) as raised:
        _require_ray()
    error = serializable_error_info_from_exc_info((raised.type, raised.value, raised.tb))
    assert error_text(error).startswith("the Ray runtime needs Ray Data: pip install 'ray[data]")


def test_a_check_failing_on_many_days_is_one_line_naming_the_first_few() -> None:
    def outcome(day: str, passed: bool, check: str = "unique_keys") -> dg.AssetCheckEvaluation:
        return dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("turns"),
            check_name=check,
            passed=passed,
            metadata={"detail": f"{day[-2:]} duplicate keys"},
            partition=day,
        )

    days = [f"2026-11-{d:02}" for d in range(1, 10)]
    lines = check_failures(
        [outcome(d, d == days[3]) for d in reversed(days)] + [outcome(days[0], True, "other")]
    )
    assert lines == [
        "check failed (ERROR): turns unique_keys on 2026-11-01, 2026-11-02, 2026-11-03, "
        "2026-11-05, 2026-11-06 and 3 more: 01 duplicate keys"
    ]


def test_a_check_of_one_s_own_without_a_detail_says_what_it_has() -> None:
    """A failed check of one's own with other metadata ended its line in an empty `: `."""

    def failed(metadata: dict[str, float] | None = None, description: str | None = None) -> str:
        evaluation = dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("mine"),
            check_name="low",
            passed=False,
            partition=DAY1,
            metadata=metadata,
            description=description,
        )
        return check_failures([evaluation])[0]

    assert failed({"failure_rate": 0.4}) == (
        f"check failed (ERROR): mine low on {DAY1}: failure_rate 0.4"
    )
    assert failed(description="too many failures") == (
        f"check failed (ERROR): mine low on {DAY1}: too many failures"
    )
    assert failed() == f"check failed (ERROR): mine low on {DAY1}"


def test_the_summary_has_a_column_per_day_while_it_fits() -> None:
    counts: dict[str, list[int | None]] = {"sessions": [20, None], "turns": [63, 59]}
    lines = summary_lines([DAY1, DAY2], counts, width=80)
    assert lines[0].split() == ["table", DAY1, DAY2]
    assert lines[1].split() == ["sessions", "20", "-"]
    assert lines[2].split() == ["turns", "63", "59"]


def test_a_long_range_is_summarized_one_screen_wide() -> None:
    days = [f"2026-10-{d:02}" for d in range(1, 31)]
    counts: dict[str, list[int | None]] = {
        "sessions": [*[1000] * 29, None],
        "rejected_events": [3] * 30,
    }
    lines = summary_lines(days, counts, width=80)
    assert lines[0] == "30 days, 2026-10-01 .. 2026-10-30"
    assert lines[1].split() == ["table", "days", "rows"]
    assert lines[2].split() == ["sessions", "29", "29,000"]
    assert lines[3].split() == ["rejected_events", "30", "90"]
    assert max(len(line) for line in lines) <= 80
