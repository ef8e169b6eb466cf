"""The live event logger: exactly-once delivery, surviving storage failures, capture levels.

Timing is never asserted here (the per-call cost is measured by benchmarks/logger_bench.py);
waits are bounded polls so a slow machine only makes the tests slower, not flaky.
"""

import datetime as dt
import json
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pytest

import trajectory_assets.ingest.logger.flusher as flusher_module
from tests.ingest.conftest import FAST, NewLogger
from tests.ingest.lakes import materialize, raw_events, raw_files
from trajectory_assets.ingest import EventLogger


def _wait(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_events_from_many_threads_arrive_exactly_once(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    logger = new_logger(str(tmp_path), "app", flush_events=500, **FAST)
    threads, per_thread, sessions_per_thread = 6, 1500, 5
    ids: list[list[str | None]] = [[] for _ in range(threads)]

    def work(t: int) -> None:
        handles = [logger.session(f"t{t}-s{k}") for k in range(sessions_per_thread)]
        for i in range(per_thread):
            s = handles[i % sessions_per_thread]
            ids[t].append(s.llm_call("m", input_tokens=1, output_tokens=2, latency_ms=3.0))
            if i % 7 == 0:
                s.tool_call("search", latency_ms=1.0)
        for s in handles:
            s.end()

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    logger.close()

    stats = logger.stats()
    raw = raw_events(tmp_path)
    assert raw.num_rows == stats["logged"] == stats["written_events"]
    assert len(set(raw["event_id"].to_pylist())) == raw.num_rows
    logged = {i for per in ids for i in per}
    assert None not in logged and logged <= set(raw["event_id"].to_pylist())
    assert pc.sum(raw["input_tokens"]).as_py() == threads * per_thread
    assert stats["dropped"] == stats["write_failures"] == stats["lost"] == 0

    sessions = materialize(tmp_path)["sessions"]
    assert sessions.num_rows == threads * sessions_per_thread
    assert set(sessions["status"].to_pylist()) == {"success"}


def test_storage_down_during_flushes_loses_nothing_once_it_is_back(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    """A file where the raw_events folder should be: every write fails until it is removed."""
    lake = tmp_path / "lake"
    lake.mkdir()
    blocker = lake / "raw_events"
    blocker.write_text("not a folder")
    logger = new_logger(str(lake), "app", **FAST)
    with logger.session("s1") as s:
        for i in range(200):
            s.llm_call("m", input_tokens=i)
    assert _wait(lambda: logger.stats()["write_failures"] >= 3)
    stats = logger.stats()
    assert stats["pending"] == 202 and stats["written_events"] == 0
    assert "s1" in (stats["last_error"] or "")

    blocker.unlink()
    assert logger.flush(timeout=20)
    assert logger.stats()["last_error"] is None  # a health check reading it turns green
    logger.close()
    raw = raw_events(lake)
    assert raw.num_rows == 202 == len(set(raw["event_id"].to_pylist()))
    assert logger.stats()["lost"] == 0 and logger.stats()["retried_writes"] >= 1


def test_a_flush_longer_than_the_interval_says_the_logger_falls_behind(
    tmp_path: Path,
    new_logger: NewLogger,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Thousands of sessions a flush, a file each: the writes fell behind the interval, the
    backlog grew and a process killed lost 8 s of events, without a word."""
    real = flusher_module.write_session

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(flusher_module, "write_session", slow)
    logger = new_logger(str(tmp_path / "lake"), "app", flush_interval_s=0.1)
    with caplog.at_level("WARNING", logger="trajectory_assets.ingest.logger"):
        with logger.session("s1") as s:
            s.llm_call("m", input_tokens=1)
        assert _wait(lambda: "longer than flush_interval_s (0.1 s)" in caplog.text)
    logger.close()
    assert "a flush of 1 session file(s) took" in caplog.text
    assert raw_events(tmp_path / "lake").num_rows == 3


def test_events_logged_after_close_are_said_to_be_dropped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Other threads logging while SIGTERM closes the logger: 24,936 events counted in the
    closed logger's stats alone."""
    logger = EventLogger(str(tmp_path / "lake"), "app")
    logger.close()
    with caplog.at_level("WARNING", logger="trajectory_assets.ingest.logger"):
        logger.log("s1", "llm_call", model="m")
        logger.log("s1", "llm_call", model="m")
    assert logger.stats()["dropped"] == 2
    assert caplog.text.count("event logger app is closed: events logged after close()") == 1


def test_what_close_cannot_write_is_counted_lost_even_during_a_long_backoff(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    """A write retried after a backoff longer than close's timeout: close ends at its deadline
    and counts the events lost (`serve` reads that count to fail), not still pending."""
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "raw_events").write_text("not a folder")
    logger = new_logger(str(lake), "app", flush_interval_s=3.0, retry_initial_s=5.0)
    with logger.session("s1") as s:
        s.llm_call("m")
    assert logger.flush(timeout=0.5) is False  # the first write failed: retried in 5 s
    logger.close(timeout=0.5)
    stats = logger.stats()
    assert stats["lost"] == 3 and stats["pending"] == 0 and stats["written_events"] == 0


def test_close_waits_for_a_write_under_way_however_short_its_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The timeout bounds retries of failed writes: close returned while its last write was
    still under way (`serve` then exited: thousands of acknowledged traces never written, and
    counted as none of lost, pending or buffered)."""
    real_write = flusher_module.write_session

    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)  # a last write of a big buffer, or to a slow store
        return real_write(*args, **kwargs)

    monkeypatch.setattr(flusher_module, "write_session", slow)
    logger = EventLogger(
        str(tmp_path), "app", close_timeout_s=0.0, flush_interval_s=60, flush_events=10**7
    )
    for i in range(400):
        logger.log(f"s{i % 4}", "user_message", payload='{"text": "hello"}')
    logger.close()
    assert raw_events(tmp_path).num_rows == logger.stats()["written_events"] == 400


def test_an_event_before_1970_is_left_out_and_named(tmp_path: Path) -> None:
    """Year 1 became the lake's first partition: Dagster's daily keys cannot name it."""
    with EventLogger(str(tmp_path), "app") as logger:
        assert logger.log("s1", "user_message", ts=dt.datetime(1, 1, 1, tzinfo=dt.UTC)) is None
        assert logger.log("s1", "user_message", ts=-5.0) is None
        assert logger.log("s1", "user_message", ts=0.0) is not None
    assert logger.stats()["invalid"] == 2 and raw_events(tmp_path).num_rows == 1


def test_a_session_on_the_last_day_there_is_is_written_with_the_others(tmp_path: Path) -> None:
    """A client's span of 9999-12-31 (a time the raw schema holds): looking for its session's
    folder on the day after failed every flush of the app, and close lost all its events."""
    logger = EventLogger(str(tmp_path / "lake"), "app", drop_existing=True)  # as serve's
    logger.log("late", "llm_call", ts=dt.datetime(9999, 12, 31, 1, tzinfo=dt.UTC))
    logger.log("s1", "llm_call", ts=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    logger.close()
    assert sorted(raw_events(tmp_path / "lake")["session_id"].to_pylist()) == ["late", "s1"]


def test_an_epoch_number_is_read_by_its_size_as_ingest_reads_it(tmp_path: Path) -> None:
    """JavaScript's Date.now() is milliseconds: read as seconds it was the year 58851, a time
    no day's statistics could hold (the day's run failed for every app)."""
    when = dt.datetime(2026, 11, 18, 9, 30, tzinfo=dt.UTC)
    seconds = when.timestamp()
    with EventLogger(str(tmp_path), "app") as logger:
        for ts in (seconds, int(seconds * 1000), int(seconds * 10**6), int(seconds * 10**9)):
            assert logger.log("s1", "user_message", ts=ts) is not None
        assert logger.log("s1", "user_message", ts="2026-11-18T09:30:00Z") is not None
        assert logger.log("s1", "user_message", ts=np.int64(seconds)) is not None  # a column's
        assert logger.log("s1", "user_message", ts=1e30) is None  # past the year 9999
    times = raw_events(tmp_path)["ts"].to_pylist()
    assert times == [when] * 6 and logger.stats()["invalid"] == 1


def test_a_write_that_fails_after_landing_is_retried_without_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_logger: NewLogger
) -> None:
    """The worst case for a retry: the file was written but the caller saw an error (a timeout
    on the PUT's response). The retry targets the same file name and adds nothing."""
    real_write = flusher_module.write_session
    failures = {"left": 3}

    def flaky(*args: Any, **kwargs: Any) -> Any:
        result = real_write(*args, **kwargs)
        if failures["left"] > 0:
            failures["left"] -= 1
            raise OSError("connection reset after upload")
        return result

    monkeypatch.setattr(flusher_module, "write_session", flaky)
    logger = new_logger(str(tmp_path), "app", **FAST)
    s = logger.session("s1")
    for _ in range(50):
        s.tool_call("bash", latency_ms=2.0)
    s.end()
    logger.close()
    raw = raw_events(tmp_path)
    assert raw.num_rows == 52 == len(set(raw["event_id"].to_pylist()))
    assert len(raw_files(tmp_path)) == 1
    stats = logger.stats()
    assert stats["write_failures"] == 3 and stats["existing_files"] == 1


def test_the_caller_never_sees_an_exception(tmp_path: Path, new_logger: NewLogger) -> None:
    logger = new_logger(str(tmp_path), "app", **FAST)
    s = logger.session("s1")
    assert s.llm_call("m", input_tokens="many") is not None  # type: ignore[arg-type]
    assert s.llm_call("m", input_tokens=5, payload={"obj": object()}) is not None
    assert logger.log("s1", "llm_call", ts="not a time") is None
    assert logger.log("s1", "llm_call", input_tokenz=5) is None  # a typo is counted, not raised
    s.end()
    logger.close()
    assert logger.log("s1", "llm_call") is None  # after close: dropped, not raised
    stats = logger.stats()
    assert stats["invalid"] == 3 and stats["dropped"] == 1
    raw = raw_events(tmp_path)
    assert raw.num_rows == 3  # start, the good llm_call, end
    assert pc.sum(raw["input_tokens"]).as_py() == 5


def test_flushes_by_size_and_by_time_without_close(tmp_path: Path, new_logger: NewLogger) -> None:
    by_size = new_logger(str(tmp_path / "a"), "app", flush_events=100, flush_interval_s=3600)
    s = by_size.session("s")
    for _ in range(250):
        s.agent_message("x")

    def written_but_less_than_a_flush() -> bool:
        """Every flush takes what the buffer holds then, so how many are written depends on
        when the thread woke; what holds is that less than `flush_events` stay buffered."""
        stats = by_size.stats()
        return stats["written_events"] + stats["buffered"] == 251 and stats["buffered"] < 100

    assert _wait(written_but_less_than_a_flush)  # session_start and 250 messages
    by_size.close()

    by_time = new_logger(str(tmp_path / "b"), "app", flush_interval_s=0.1)
    by_time.session("s").user_message("hi")
    assert _wait(lambda: by_time.stats()["written_events"] == 2)
    by_time.close()


@pytest.mark.slow
def test_process_exit_flushes_what_is_buffered(tmp_path: Path) -> None:
    script = (
        "from trajectory_assets.ingest import EventLogger\n"
        f"logger = EventLogger({str(tmp_path)!r}, 'app', flush_interval_s=3600)\n"
        "s = logger.session('s1')\n"
        "for i in range(1000):\n"
        "    s.llm_call('m', input_tokens=1)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)
    raw = raw_events(tmp_path)
    assert raw.num_rows == 1001


def test_a_session_keeps_its_first_day_across_flushes_and_midnight(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    logger = new_logger(str(tmp_path), "app", **FAST)
    late = dt.datetime(2026, 5, 1, 23, 59, 59, tzinfo=dt.UTC)
    logger.log("s1", "session_start", ts=late)
    assert logger.flush()
    logger.log("s1", "llm_call", ts=late + dt.timedelta(seconds=2), input_tokens=1)
    logger.log(
        "s1", "session_end", ts=late + dt.timedelta(seconds=3), payload={"status": "success"}
    )
    assert logger.flush()
    reopened = late + dt.timedelta(minutes=10)  # the next day: an ended session goes on
    logger.log("s1", "session_start", ts=reopened)
    logger.log("s1", "session_end", ts=reopened, payload={"status": "success"})
    logger.close()
    raw = raw_events(tmp_path)
    assert raw.num_rows == 5 and set(raw["dt"].to_pylist()) == {"2026-05-01"}
    assert len(raw_files(tmp_path)) == 3


def test_a_restarted_producer_resending_a_session_over_midnight_adds_nothing(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    """With drop_existing, the session's folder is found on the day before too: the re-sent
    events after midnight (those a restart re-sends first) were filed with the session's start,
    and are not written again under their own day."""
    late = dt.datetime(2026, 5, 1, 23, 55, tzinfo=dt.UTC)
    times = [late + dt.timedelta(minutes=m) for m in (0, 4, 8, 10)]  # the last two: next day
    first = new_logger(str(tmp_path), "app", drop_existing=True, **FAST)
    for i, ts in enumerate(times):
        first.log("s1", "llm_call", ts=ts, event_id=f"e{i}", input_tokens=1)
    first.close()
    assert first.stats()["written_events"] == 4
    again = new_logger(str(tmp_path), "app", drop_existing=True, **FAST)
    for i, ts in list(enumerate(times))[2:]:
        again.log("s1", "llm_call", ts=ts, event_id=f"e{i}", input_tokens=1)
    again.log("s1", "llm_call", ts=times[-1], event_id="e4", input_tokens=1)  # one new event
    again.close()
    stats = again.stats()
    assert (stats["written_events"], stats["existing_events"]) == (1, 2)
    raw = raw_events(tmp_path)
    assert sorted(raw["event_id"].to_pylist()) == ["e0", "e1", "e2", "e3", "e4"]
    assert set(raw["dt"].to_pylist()) == {"2026-05-01"}


def test_a_session_resumed_after_its_lookback_keeps_its_day_only_with_a_longer_one(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    """A long-running agent's session resumed ten days after it began (README's recipe:
    `start=False`, `drop_existing=True`) was filed anew under the tenth day, two sessions."""
    began = dt.datetime(2026, 5, 1, 9, tzinfo=dt.UTC)
    for lake, lookback in ((tmp_path / "week", None), (tmp_path / "month", 31)):
        first = new_logger(str(lake), "app", drop_existing=True, **FAST)
        first.log("s1", "session_start", ts=began)
        first.close()
        options = {} if lookback is None else {"lookback_days": lookback}
        later = new_logger(str(lake), "app", drop_existing=True, **options, **FAST)
        later.log("s1", "llm_call", ts=began + dt.timedelta(days=10), input_tokens=1)
        later.close()
        days = set(raw_events(lake)["dt"].to_pylist())
        assert days == ({"2026-05-01", "2026-05-11"} if lookback is None else {"2026-05-01"})


def test_sampled_keeps_errors_first_last_and_a_share_of_the_rest(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    logger = new_logger(str(tmp_path), "app", capture="sampled", sample_rate=0.1, **FAST)
    ended = logger.session("ended")
    for i in range(2000):
        ended.llm_call("m", input_tokens=i)
        if i % 500 == 0:
            ended.tool_call("bash", error_type="exit_code")
    ended.eval_result("bench", "t1", passed=True, score=1.0)
    ended.end()
    open_session = logger.session("open")
    for i in range(50):
        open_session.llm_call("m", input_tokens=1000 + i)
    logger.close()

    raw = raw_events(tmp_path)
    rows = raw.filter(pc.equal(raw["session_id"], "ended")).sort_by("seq").to_pylist()
    kinds = [r["event_type"] for r in rows]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    assert sum(1 for r in rows if r["error_type"]) == 4
    assert kinds.count("eval_result") == 1
    assert 100 < kinds.count("llm_call") < 300  # ~10% of 2000, chosen by id hash
    opened = raw.filter(pc.equal(raw["session_id"], "open")).sort_by("seq").to_pylist()
    assert opened[-1]["input_tokens"] == 1049, "the last event of an unfinished session is kept"
    stats = logger.stats()
    assert stats["sampled_out"] == stats["logged"] - raw.num_rows


def test_metrics_only_drops_payloads_and_artifacts_but_not_metrics(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    logger = new_logger(str(tmp_path), "app", capture="metrics_only", **FAST)
    with logger.session("s1") as s:
        s.user_message("my card number is 4111")
        s.llm_call(
            "m", input_tokens=7, output_tokens=3, latency_ms=9.5, payload={"prompt": "secret"}
        )
        s.tool_call("bash", latency_ms=1.0, artifacts=[{"kind": "stdout", "uri": "s3://b/o"}])
        s.eval_result("bench", "t1", passed=False, score=0.0, model="m")
    logger.close()
    rows = {r["event_type"]: r for r in raw_events(tmp_path).to_pylist()}
    assert rows["user_message"]["payload"] is None
    assert rows["llm_call"]["payload"] is None and rows["llm_call"]["input_tokens"] == 7
    assert rows["llm_call"]["latency_ms"] == 9.5
    assert rows["tool_call"]["artifacts"] is None and rows["tool_call"]["tool_latency_ms"] == 1.0
    assert json.loads(rows["eval_result"]["payload"]) == {
        "benchmark": "bench",
        "task_id": "t1",
        "run_id": None,
        "passed": False,
        "score": 0.0,
    }
    assert json.loads(rows["session_end"]["payload"]) == {"status": "success"}


def test_a_session_context_records_a_failure(tmp_path: Path, new_logger: NewLogger) -> None:
    logger = new_logger(str(tmp_path), "app", **FAST)
    with pytest.raises(RuntimeError), logger.session("s1") as s:
        s.llm_call("m")
        raise RuntimeError("tool exploded")
    logger.close()
    rows = raw_events(tmp_path).sort_by("seq").to_pylist()
    assert [r["event_type"] for r in rows] == ["session_start", "llm_call", "error", "session_end"]
    assert rows[2]["error_type"] == "RuntimeError"
    assert json.loads(rows[3]["payload"]) == {"status": "failure"}


def test_an_event_id_resent_with_other_content_is_named_in_a_warning(
    tmp_path: Path, new_logger: NewLogger, caplog: pytest.LogCaptureFixture
) -> None:
    ts = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    first = new_logger(str(tmp_path), "app", drop_existing=True, **FAST)
    first.log("s1", "llm_call", ts=ts, event_id="e1", input_tokens=5)
    first.close()
    again = new_logger(str(tmp_path), "app", drop_existing=True, **FAST)
    again.log("s1", "llm_call", ts=ts, event_id="e1", input_tokens=6)
    again.close()
    assert "1 event(s) were in the lake already with other content" in caplog.text
    assert "session s1, event e1: input_tokens differ" in caplog.text
    assert raw_events(tmp_path)["input_tokens"].to_pylist() == [5]


def test_a_fractional_count_is_left_out_not_rounded(
    tmp_path: Path, new_logger: NewLogger, caplog: pytest.LogCaptureFixture
) -> None:
    """Arrow keeps 1007 of 1007.6 tokens without a word: the call was written rounded down,
    where README says a value its column cannot hold leaves its event out, counted."""
    logger = new_logger(str(tmp_path), "app", **FAST)
    s = logger.session("s1")
    s.llm_call("gpt-4o", input_tokens=1007.6, output_tokens=5)  # type: ignore[arg-type]
    s.llm_call("gpt-4o", input_tokens=1007.0, output_tokens=5)  # type: ignore[arg-type]
    s.llm_call("gpt-4o", input_tokens=np.float32(1007.6), output_tokens=5)  # type: ignore[arg-type]
    s.llm_call("gpt-4o", input_tokens=Decimal("1007.6"), output_tokens=5)  # type: ignore[arg-type]
    s.end()
    logger.close()
    calls = [r for r in raw_events(tmp_path).to_pylist() if r["event_type"] == "llm_call"]
    assert [c["input_tokens"] for c in calls] == [1007]
    assert logger.stats()["invalid"] == 3
    assert "input_tokens 1007.6 does not fit its column (int64)" in caplog.text


def test_an_event_re_sent_under_a_new_seq_alone_is_no_other_content(
    tmp_path: Path, new_logger: NewLogger, caplog: pytest.LogCaptureFixture
) -> None:
    """A retry that logs an event again numbers it anew: the tables' `re_sent_events_agree`
    leaves `seq` out, and so does the warning (it said "seq differ")."""
    ts = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)
    first = new_logger(str(tmp_path), "app", drop_existing=True, **FAST)
    first.log("s1", "llm_call", ts=ts, event_id="e1", input_tokens=5)
    first.close()
    again = new_logger(str(tmp_path), "app", drop_existing=True, **FAST)
    again.log("s1", "user_message", ts=ts, event_id="e0")
    again.log("s1", "llm_call", ts=ts, event_id="e1", input_tokens=5)  # seq 1, not 0
    again.close()
    assert "other content" not in caplog.text
    assert again.stats()["existing_events"] == 1


def test_an_event_without_a_session_or_type_is_left_out_alone(
    tmp_path: Path, new_logger: NewLogger, caplog: pytest.LogCaptureFixture
) -> None:
    """No raw file can hold it: it is counted and named, and the session's other events are
    written (one such event failed its whole batch's write, retried for ever)."""
    logger = new_logger(str(tmp_path), "app", **FAST)
    with caplog.at_level("WARNING", logger="trajectory_assets.ingest.logger"):
        with logger.session("s1") as s:
            s.user_message("hello")
            assert logger.log("s1", None, turn_index=0) is None  # type: ignore[arg-type]
            assert logger.log("", "user_message", turn_index=0) is None
            assert logger.log("x" * 250, "user_message") is None  # no folder name holds it
            # the tables reject a blank id, and no command line names a NUL to forget it
            assert logger.log("  ", "user_message") is None
            assert logger.log("nul\x00byte", "user_message") is None
            s.llm_call("m", input_tokens="812")  # type: ignore[arg-type]  # left out when written
        logger.close()
    stats = logger.stats()
    assert stats["invalid"] == 6 and stats["lost"] == 0 and stats["written_events"] == 3
    assert "no session id or event type ('s1', None)" in caplog.text
    with pytest.raises(ValueError, match="app_id __HIVE_DEFAULT_PARTITION__ is the folder name"):
        new_logger(str(tmp_path), "__HIVE_DEFAULT_PARTITION__", **FAST)
    # which event, and which of its values: a caller finds the bug from the log line alone
    said = "of session s1 left out: input_tokens '812' does not fit its column (int64)"
    assert re.search(rf"llm_call event \S+-\d+ {re.escape(said)}", caplog.text), caplog.text
    assert sorted(raw_events(tmp_path)["event_type"].to_pylist()) == [
        "session_end",
        "session_start",
        "user_message",
    ]


def test_tool_arguments_are_kept_for_the_loop_columns_even_as_metrics_only(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    for capture in ("full", "metrics_only"):
        logger = new_logger(str(tmp_path / capture), "app", capture=capture, **FAST)
        with logger.session("s1") as s:
            for path in ("a.py", "a.py", "secret.py"):
                s.tool_call("read", arguments={"path": path}, latency_ms=1.0)
        logger.close()
        calls = [r for r in raw_events(tmp_path / capture).to_pylist() if r["tool_name"]]
        kept = [json.loads(r["payload"])["arguments"] for r in calls]
        if capture == "full":
            assert kept == [{"path": "a.py"}, {"path": "a.py"}, {"path": "secret.py"}]
        else:  # a digest: equal calls equal, no content
            assert kept[0] == kept[1] != kept[2] and "secret" not in json.dumps(kept)


def _no_constants(name: str) -> Any:
    raise AssertionError(f"payload is not strict JSON: {name}")


def test_payloads_are_strict_json_that_any_reader_parses(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    """Python writes NaN and infinities as bare words no JSON standard has: they become null,
    as JSON.stringify writes them; text stays as it is, not escaped."""
    logger = new_logger(str(tmp_path), "app", **FAST)
    with logger.session("s1") as s:
        s.decision("rank", "doc-1", "scored", score=float("nan"))
        s.tool_call("search", arguments={"q": "café", "bounds": [0.5, float("-inf")]})
    logger.close()
    payloads = [r["payload"] for r in raw_events(tmp_path).to_pylist() if r["payload"]]
    parsed = [json.loads(p, parse_constant=_no_constants) for p in payloads]
    assert next(p for p in parsed if "step" in p)["score"] is None
    assert next(p for p in parsed if "arguments" in p)["arguments"]["bounds"] == [0.5, None]
    assert any('"q":"café"' in p for p in payloads)


def test_a_decision_outside_the_three_outcomes_is_left_out_and_named(
    tmp_path: Path, new_logger: NewLogger, caplog: pytest.LogCaptureFixture
) -> None:
    """`maybe` would count in none of decision_steps' columns: a caller bug, said once."""
    import numpy as np

    logger = new_logger(str(tmp_path), "app", **FAST)
    with logger.session("s1") as s:
        assert s.decision("rank", "doc-1", "maybe") is None
        assert s.decision("rank", "doc-2", "kept") is not None
        assert s.decision("rank", "doc-3", " Eliminated ") is not None
        assert s.decision("rank", "doc-4", np.array(["kept", "x"])) is None  # type: ignore[arg-type]
    logger.close()
    assert logger.stats()["invalid"] == 2  # a whole column too, never a raise in the caller
    assert "decision outcome 'maybe' is not one of ('kept', 'eliminated', 'scored')" in caplog.text
    outcomes = [
        json.loads(r["payload"])["outcome"]
        for r in raw_events(tmp_path).to_pylist()
        if r["event_type"] == "decision"
    ]
    assert sorted(outcomes) == ["eliminated", "kept"]  # written as the tables read it


def test_an_eval_verdict_other_than_true_false_or_none_is_left_out_and_named(
    tmp_path: Path, new_logger: NewLogger, caplog: pytest.LogCaptureFixture
) -> None:
    """ "pass" or 0.5 was stored, read as no verdict and counted as a failed attempt; a
    DataFrame's verdict (numpy's bool, 1.0) was left out as no bool."""
    import numpy as np

    logger = new_logger(str(tmp_path), "app", **FAST)
    with logger.session("s1") as s:
        assert s.eval_result("bench", "t1", "pass") is None  # type: ignore[arg-type]
        assert s.eval_result("bench", "t1", 0.5) is None  # type: ignore[arg-type]
        assert s.eval_result("bench", "t1", None, score=0.8) is not None  # graded: no verdict
        assert s.eval_result("bench", "t1", True) is not None
        assert s.eval_result("bench", "t2", np.bool_(False)) is not None  # type: ignore[arg-type]
        assert s.eval_result("bench", "t3", 1.0) is not None  # type: ignore[arg-type]
        assert s.eval_result("bench", "t4", np.int64(0)) is not None  # type: ignore[arg-type]
        column = np.array([True, False])  # df["passed"] for one row's: raised in the caller
        assert s.eval_result("bench", "t5", column) is None  # type: ignore[arg-type]
        assert s.eval_result("bench", "t6", float("nan")) is not None  # type: ignore[arg-type]
    logger.close()
    assert logger.stats()["invalid"] == 3
    assert "eval_result passed 'pass' is not True, False or None" in caplog.text
    verdicts = [
        (json.loads(r["payload"])["task_id"], json.loads(r["payload"])["passed"])
        for r in raw_events(tmp_path).to_pylist()
        if r["event_type"] == "eval_result"
    ]
    assert sorted(verdicts, key=str) == [
        ("t1", None),
        ("t1", True),
        ("t2", False),
        ("t3", True),
        ("t4", False),
        ("t6", None),  # a DataFrame's missing verdict: no verdict
    ]


def test_numpy_counts_are_written_not_called_no_number(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    """Counts from pandas (`np.int64`, `np.float32`) were refused as no numbers."""
    import numpy as np

    logger = new_logger(str(tmp_path), "app", **FAST)
    with logger.session("s1") as s:
        assert s.llm_call("m", input_tokens=np.int64(1200), latency_ms=np.float32(812.5))  # type: ignore[arg-type]
    logger.close()
    assert logger.stats()["invalid"] == 0
    (call,) = [r for r in raw_events(tmp_path).to_pylist() if r["event_type"] == "llm_call"]
    assert (call["input_tokens"], call["latency_ms"]) == (1200, 812.5)


def test_a_table_folder_given_as_the_lake_is_refused_at_the_start(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    """The logger wrote its raw data inside a table given for its lake (`lake/sessions`), where
    no run reads it and `vacuum --full` deletes it; a new or empty folder is a lake to be."""
    (tmp_path / "sessions" / "_delta_log").mkdir(parents=True)
    with pytest.raises(ValueError, match=r"sessions is a Delta table \(it holds _delta_log/\)"):
        new_logger(str(tmp_path / "sessions"), "app", **FAST)
    assert not (tmp_path / "sessions" / "raw_events").exists()
    new_logger(str(tmp_path / "new"), "app", **FAST).close()
