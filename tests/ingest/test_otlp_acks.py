"""What the OTLP receiver answered 200 for stays in the lake's write-ahead log until it is
written: spans wait in memory for their trace's root and for the logger's write, and no exporter
sends again what was acknowledged. (A receiver killed with SIGKILL: `tests/cli/test_serve.py`.)"""

import logging
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.ingest.lakes import raw_events
from tests.ingest.otlp_server import CALL, WHOLE, c1_span, session_events
from trajectory_assets.ingest.otlp import OtlpReceiver

ROOT = c1_span("a1a1a1a1a1a1a1a1", "", "invoke_agent", 0, 100)
LOGGER = {"flush_interval_s": 0.05, "retry_initial_s": 0.01, "retry_max_s": 0.05}


def _entries(lake: Path) -> list[Path]:
    return sorted(lake.glob("_serve/*/*.json.gz"))


def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.02)


def test_an_entry_goes_once_its_events_are_written_and_not_before_its_trace_ends(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    receiver = OtlpReceiver(
        str(lake), app_id="a", logger_options=LOGGER, settle_s=0.01, idle_s=0.01
    )
    try:
        receiver.add(None, [CALL])  # no root yet: mapped after idle_s, its end waits for it
        assert len(_entries(lake)) == 1  # on disk before the client hears 200
        _until(lambda: raw_events(lake).num_rows == 2)  # its start and call are written
        time.sleep(0.3)  # several rounds of the receiver's thread
        assert len(_entries(lake)) == 1, "released before the trace's end was written"
        receiver.add(None, [ROOT])
        _until(lambda: not _entries(lake))
        assert session_events(tmp_path) == WHOLE
    finally:
        receiver.close()
    assert not (lake / "_serve").exists()


def test_an_entry_of_several_traces_stays_until_each_is_written(tmp_path: Path) -> None:
    """One request holds spans of many traces: each counts until its own events are written,
    a trace still waiting for its root too, whichever mapping round hands them over."""
    lake = tmp_path / "lake"
    receiver = OtlpReceiver(
        str(lake), app_id="a", logger_options=LOGGER, settle_s=0.01, idle_s=0.01
    )
    other = "7" * 32
    try:
        whole = [{**CALL, "traceId": other}, {**ROOT, "traceId": other}]
        receiver.add(None, [*whole, CALL])  # two traces, one entry; the second without root
        receiver.add(None, whole)  # the same spans again: a second entry, of the first alone
        _until(lambda: raw_events(lake).num_rows == 5)  # the first whole, the second begun
        _until(lambda: len(_entries(lake)) == 1)
        time.sleep(0.3)
        (kept,) = _entries(lake)
        assert kept.name == "000000000000.json.gz", "released before the second trace's end"
        receiver.add(None, [ROOT])
        _until(lambda: not _entries(lake))
        both = [{**span, "traceId": trace} for trace in ("8" * 32, "9" * 32) for span in whole]
        receiver.add(None, both)  # two traces handed over in one round, at one mark
        _until(lambda: not _entries(lake))
    finally:
        receiver.close()
    assert not (lake / "_serve").exists()


def test_what_a_stop_could_not_write_is_written_by_the_next_receiver(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The lake's raw folder cannot be written (a file where it belongs): the stop's writes
    fail past their deadline, and the events were counted lost; the next receiver on the lake
    writes them."""
    lake = tmp_path / "lake"
    lake.mkdir()
    (lake / "raw_events").write_text("not a folder")
    options = {**LOGGER, "close_timeout_s": 0.3}
    receiver = OtlpReceiver(
        str(lake), app_id="a", logger_options=options, settle_s=0.01, idle_s=0.01
    )
    receiver.add(None, [CALL, ROOT])
    with caplog.at_level(logging.WARNING):
        receiver.close()
    assert "1 request(s) acknowledged are not all written" in caplog.text
    assert len(_entries(lake)) == 1

    (lake / "raw_events").unlink()
    restarted = OtlpReceiver(
        str(lake), app_id="a", logger_options=LOGGER, settle_s=0.01, idle_s=0.01
    )
    restarted.close()
    assert restarted.stats["taken_in"] == 2
    assert session_events(tmp_path) == WHOLE
    assert not (lake / "_serve").exists()


def test_a_receiver_without_its_log_writes_none(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    receiver = OtlpReceiver(str(lake), app_id="a", write_ahead=False, settle_s=0.01, idle_s=0.01)
    receiver.add(None, [CALL, ROOT])
    assert not (lake / "_serve").exists()
    receiver.close()
    assert session_events(tmp_path) == WHOLE
