"""What the OTLP receiver answered 200 for stays in the lake's write-ahead log until it is
written: spans wait in memory for their trace's root and for the logger's write, and no exporter
sends again what was acknowledged. (A receiver killed with SIGKILL: `tests/cli/test_serve.py`.)"""

import contextlib
import gzip
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.ingest.lakes import raw_events
from tests.ingest.otlp_server import CALL, TRACE, USAGE, WHOLE, c1_span, session_events
from trajectory_assets.ingest.otlp import OtlpReceiver
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.wal import WriteAheadLog

ROOT = c1_span("a1a1a1a1a1a1a1a1", "", "invoke_agent", 0, 100)
LOGGER = {"flush_interval_s": 0.05, "retry_initial_s": 0.01, "retry_max_s": 0.05}


def _entries(lake: Path) -> list[Path]:
    return sorted(lake.glob("_serve/*/*.json.gz"))


@contextlib.contextmanager
def _receiving(lake: Path, **options: Any) -> Iterator[OtlpReceiver]:
    """A receiver of app `a` on the lake, stopped at the end: its write-ahead log goes then."""
    receiver = OtlpReceiver(str(lake), app_id="a", **options)
    try:
        yield receiver
    finally:
        receiver.close()
    assert not (lake / "_serve").exists()


def _until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.02)


def test_an_entry_goes_once_its_events_are_written_and_not_before_its_trace_ends(
    tmp_path: Path,
) -> None:
    lake = tmp_path / "lake"
    with _receiving(lake, logger_options=LOGGER, settle_s=0.01, idle_s=0.01) as receiver:
        receiver.add(None, [CALL])  # no root yet: mapped after idle_s, its end waits for it
        assert len(_entries(lake)) == 1  # on disk before the client hears 200
        _until(lambda: raw_events(lake).num_rows == 2)  # its start and call are written
        time.sleep(0.3)  # several rounds of the receiver's thread
        spans, note = _entries(lake)  # and the session it was written under, noted
        assert json.loads(gzip.decompress(note.read_bytes()))["sessions"] == {"a": {TRACE: "c-1"}}
        assert spans.name == "000000000000.json.gz", "released before the trace's end"
        receiver.add(None, [ROOT])
        _until(lambda: not _entries(lake))
        assert session_events(tmp_path) == WHOLE


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
        _until(lambda: len(_entries(lake)) == 2)
        time.sleep(0.3)
        kept, _note = _entries(lake)
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


def test_events_a_full_logger_dropped_are_written_once_it_has_room(tmp_path: Path) -> None:
    """The logger's buffer full (the lake slow or down): `log()` dropped an event, and the
    entry of its spans was released once the others were written; a trace with its root was
    not mapped again, so the event waited for the next receiver."""
    lake = tmp_path / "lake"
    small = {**LOGGER, "max_buffered_events": 2}
    with _receiving(lake, logger_options=small, settle_s=0.01, idle_s=0.01) as receiver:
        receiver.add(None, [CALL, ROOT])
        _until(lambda: not _entries(lake))  # mapped again once the logger had room
        assert receiver.logger_stats()[0]["dropped"] >= 1
        assert session_events(tmp_path) == WHOLE


def test_a_trace_with_a_value_no_raw_column_holds_is_rejected_whole_and_released(
    tmp_path: Path,
) -> None:
    """Its logger left the event out at its write: counted lost, the entries of every trace
    it had written were kept for ever, and taken in again by each next receiver."""
    lake = tmp_path / "lake"
    huge = c1_span("d4d4d4d4d4d4d4d4", "a1a1a1a1a1a1a1a1", "chat", 1, 2)
    huge["attributes"].append({"key": USAGE, "value": {"intValue": "99999999999999999999"}})
    receiver = OtlpReceiver(str(lake), app_id="a", settle_s=0.01, idle_s=0.01)
    receiver.add(None, [huge, ROOT])
    receiver.close()
    assert receiver.stats["rejected_spans"] == 2
    (kept,) = lake.glob("_rejected/otlp/dt=*/*.jsonl")
    assert "does not fit its column (int64)" in kept.read_text()
    assert not (lake / "_serve").exists()


def test_an_unreadable_entry_is_set_aside_and_the_rest_taken_in(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    stopped = WriteAheadLog(Lake(str(lake)))
    stopped.append({"a": [CALL]})
    stopped.append({"a": [ROOT]})
    bad = Path(stopped.folder, "000000000000.json.gz")
    bad.write_bytes(b"\x1f\x8b cut short")
    stopped.close(written=False)
    receiver = OtlpReceiver(str(lake), app_id="a", settle_s=0.01, idle_s=0.01)
    receiver.close()
    assert receiver.stats["taken_in"] == 1
    (aside,) = lake.glob("_rejected/serve/*")
    assert aside.read_bytes() == b"\x1f\x8b cut short"
    assert not (lake / "_serve").exists()


KILLED = """
import os, sys, time
from tests.ingest.otlp_server import c1_span
from trajectory_assets.ingest.otlp import OtlpReceiver

child = c1_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat", 1, 2, conversation=False)
receiver = OtlpReceiver(sys.argv[1], app_id="a", settle_s=0.01, idle_s=0.01,
                        logger_options={"flush_interval_s": 0.05})
receiver.add(None, [child])
while not receiver.logger_stats() or receiver.logger_stats()[-1]["written_events"] < 2:
    time.sleep(0.02)
time.sleep(0.2)
os._exit(0)  # as if killed: nothing closed
"""


def test_a_trace_written_before_its_root_keeps_its_session_after_a_kill(tmp_path: Path) -> None:
    """Its conversation id on the root alone: its call was written under the trace's id, then
    the receiver was killed, and the next one, taking its spans in with the root, wrote the
    whole trace again under the conversation: its start and call in two sessions."""
    lake = tmp_path / "lake"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    subprocess.run([sys.executable, "-c", KILLED, str(lake)], check=True, env=env, timeout=120)
    assert session_events(tmp_path) == {(TRACE, "session_start"): 1, (TRACE, "llm_call"): 1}
    receiver = OtlpReceiver(str(lake), app_id="a", settle_s=0.01, idle_s=0.01)
    receiver.add(None, [ROOT])
    receiver.close()
    assert receiver.stats["taken_in"] == 1
    assert session_events(tmp_path) == {
        (TRACE, "session_start"): 1,
        (TRACE, "llm_call"): 1,
        (TRACE, "session_end"): 1,
    }
    assert not (lake / "_serve").exists()


SHARED = """
import os, sys, time
from pathlib import Path
from tests.ingest.otlp_server import c1_span
from trajectory_assets.ingest.otlp import OtlpReceiver

def child(trace):
    span = c1_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat", 1, 2, conversation=False)
    return {**span, "traceId": trace}

receiver = OtlpReceiver(sys.argv[1], app_id="a", settle_s=0.01, idle_s=600,
                        logger_options={"flush_interval_s": 0.05})
receiver.add(None, [child("1" * 32), child("2" * 32)])  # one request, two agent runs
root = c1_span("a1a1a1a1a1a1a1a1", "", "invoke_agent", 0, 100)
receiver.add(None, [{**root, "traceId": "1" * 32}])
while "1" * 32 not in "".join(p.read_text() for p in Path(sys.argv[1]).glob("_serve/*/_rel*")):
    time.sleep(0.02)
os._exit(0)  # as if killed: the second run still waits for its root
"""


def test_a_written_trace_of_an_entry_kept_for_another_is_not_taken_in_again(
    tmp_path: Path,
) -> None:
    """A batch of two agent runs: the first written whole once its root came, the entry kept
    for the second; the next receiver took the first one's call in without its root, and wrote
    it again, under the trace's id (the conversation id was on the root alone)."""
    lake = tmp_path / "lake"
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    subprocess.run([sys.executable, "-c", SHARED, str(lake)], check=True, env=env, timeout=120)
    receiver = OtlpReceiver(str(lake), app_id="a", settle_s=0.01, idle_s=0.01)
    receiver.close()
    assert receiver.stats["taken_in"] == 1
    assert session_events(tmp_path) == {  # the second's end waits for its root, in the log
        **WHOLE,
        ("2" * 32, "session_start"): 1,
        ("2" * 32, "llm_call"): 1,
    }
    assert (lake / "_serve").exists()


def test_an_entry_that_cannot_be_read_now_waits_for_the_next_round(tmp_path: Path) -> None:
    """A passing read error (a store's 503, EIO) set a good entry aside for good."""
    lake = tmp_path / "lake"
    stopped = WriteAheadLog(Lake(str(lake)))
    stopped.append({"a": [CALL, ROOT]})
    stopped.close(written=False)
    entry = Path(stopped.folder, "000000000000.json.gz")
    data = entry.read_bytes()
    entry.unlink()
    entry.mkdir()  # reading it fails now
    receiver = OtlpReceiver(str(lake), app_id="a", settle_s=0.01, idle_s=0.01)
    receiver.close()
    assert receiver.stats["taken_in"] == 0 and not (lake / "_rejected").exists()
    entry.rmdir()
    entry.write_bytes(data)
    receiver = OtlpReceiver(str(lake), app_id="a", settle_s=0.01, idle_s=0.01)
    receiver.close()
    assert receiver.stats["taken_in"] == 2
    assert session_events(tmp_path) == WHOLE


def test_a_span_come_after_its_trace_was_let_go_of_notes_the_trace_s_session(
    tmp_path: Path,
) -> None:
    """A trace back after it was let go of holds its session from before: a receiver taking
    its late span in, not told, wrote it under the trace's id as a session of its own."""
    lake = tmp_path / "lake"
    receiver = OtlpReceiver(
        str(lake), app_id="a", logger_options=LOGGER, settle_s=0.01, idle_s=0.01, linger_s=0
    )
    try:
        first = c1_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat", 1, 2, conversation=False)
        late = c1_span("c3c3c3c3c3c3c3c3", "a1a1a1a1a1a1a1a1", "chat", 3, 4, conversation=False)
        receiver.add(None, [first])
        _until(lambda: raw_events(lake).num_rows == 3)  # its end written when let go of
        receiver.linger_s = 600  # the late span's trace waits for its root now
        receiver.add(None, [late])
        _until(lambda: raw_events(lake).num_rows == 4)
        notes = [json.loads(gzip.decompress(p.read_bytes())) for p in _entries(lake)]
        assert {"a": {TRACE: TRACE}} in [note.get("sessions") for note in notes]
    finally:
        receiver.close()


def test_entries_whose_deletion_failed_are_deleted_at_the_next_round(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = tmp_path / "lake"
    failing = [True]
    release = WriteAheadLog.release

    def once(self: WriteAheadLog, numbers: Sequence[int]) -> None:
        if numbers and failing:
            failing.clear()
            raise OSError("the store did not answer")
        release(self, numbers)

    monkeypatch.setattr(WriteAheadLog, "release", once)
    with _receiving(lake, logger_options=LOGGER, settle_s=0.01, idle_s=0.01) as receiver:
        receiver.add(None, [CALL, ROOT])
        _until(lambda: not failing)  # the first deletion failed
        _until(lambda: not _entries(lake))


def test_a_request_of_many_services_is_one_entry(tmp_path: Path) -> None:
    """A collector's request holds a resource per service: an entry each made a write each
    (100 services: 8x the request's time on a local disk, a PUT each on S3). Two resources of
    one service: the second's spans replaced the first's in the entry."""
    lake = tmp_path / "lake"
    receiver = OtlpReceiver(str(lake), settle_s=60, idle_s=60)
    try:
        resources = [(f"svc-{i}", [{**CALL, "traceId": f"{i:032x}"}], 100) for i in range(1, 51)]
        resources.append(("svc-1", [{**CALL, "traceId": f"{99:032x}"}], 100))
        assert receiver.add_request(resources) == (0, "")
        (entry,) = _entries(lake)
        records = json.loads(gzip.decompress(entry.read_bytes()))["records"]
        assert sorted(records) == sorted(f"svc-{i}" for i in range(1, 51))
        assert [r["traceId"] for r in records["svc-1"]] == [f"{1:032x}", f"{99:032x}"]
    finally:
        receiver.close()
    assert len({p.parts[-2] for p in (lake / "raw_events").glob("dt=*/app_id=*/*")}) == 50


def test_an_end_dropped_when_its_trace_was_let_go_of_is_written_once_there_is_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A trace without its root, let go of while its logger's buffer was full: its end was
    dropped, the trace forgotten and its entries kept for the process's life; meanwhile, a full
    logger's traces waiting to be mapped again weighed on nothing that answers 503."""
    from trajectory_assets.ingest.logger import EventLogger

    full = [2]  # the logger's buffer is full for the first ends logged
    log = EventLogger.log

    def dropping(self: EventLogger, session_id: str, event_type: str, **fields: Any) -> Any:
        if event_type == "session_end" and full[0]:
            full[0] -= 1
            return None
        return log(self, session_id, event_type, **fields)

    monkeypatch.setattr(EventLogger, "log", dropping)
    lake = tmp_path / "lake"
    with _receiving(
        lake, logger_options=LOGGER, settle_s=0.01, idle_s=0.01, linger_s=0
    ) as receiver:
        receiver.max_pending_spans = 1
        receiver.add(None, [CALL])
        _until(lambda: full[0] < 2)
        assert receiver.overloaded()  # the trace waits to be mapped again: it counts
        _until(lambda: not _entries(lake))
        assert session_events(tmp_path) == WHOLE


def test_a_late_span_s_entry_names_the_session_its_trace_was_written_under(
    tmp_path: Path,
) -> None:
    """A span come after its trace was written with its root (an exporter's retry, a late
    one), then a kill: the next receiver took it in without the root and wrote the trace's
    events again under the trace's id."""
    lake = tmp_path / "lake"
    receiver = OtlpReceiver(
        str(lake), app_id="a", logger_options=LOGGER, settle_s=0.01, idle_s=0.01
    )
    try:
        child = c1_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat", 1, 2, conversation=False)
        receiver.add(None, [child, ROOT])
        _until(lambda: not _entries(lake) and raw_events(lake).num_rows == 3)
        receiver.settle_s = 60  # the late span waits now
        late = c1_span("c3c3c3c3c3c3c3c3", "a1a1a1a1a1a1a1a1", "chat", 3, 4, conversation=False)
        receiver.add(None, [late])
        (entry,) = _entries(lake)
        assert json.loads(gzip.decompress(entry.read_bytes()))["sessions"] == {"a": {TRACE: "c-1"}}
    finally:
        receiver.close()


def test_a_trace_written_while_a_late_span_s_entry_is_written_is_noted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry's sessions are looked up before it is written (an fsync, a PUT), and its
    spans join their traces after: a trace written in between went unnamed."""
    lake = tmp_path / "lake"
    receiver = OtlpReceiver(str(lake), app_id="a", settle_s=60, idle_s=60)
    append = WriteAheadLog.append

    def mapping_meanwhile(
        self: WriteAheadLog, records: Any, sessions: Any = None, received_at: Any = None
    ) -> int:
        if records and sessions == {}:  # the late span's entry: its trace is written now
            receiver.settle_s = 0
            receiver.map_ready()
        return append(self, records, sessions, received_at)

    try:
        child = c1_span("b2b2b2b2b2b2b2b2", "a1a1a1a1a1a1a1a1", "chat", 1, 2, conversation=False)
        receiver.add(None, [child, ROOT])
        monkeypatch.setattr(WriteAheadLog, "append", mapping_meanwhile)
        late = c1_span("c3c3c3c3c3c3c3c3", "a1a1a1a1a1a1a1a1", "chat", 3, 4, conversation=False)
        receiver.add(None, [late])
        notes = [
            json.loads(gzip.decompress(p.read_bytes())).get("sessions") for p in _entries(lake)
        ]
        assert {"a": {TRACE: "c-1"}} in notes
    finally:
        monkeypatch.undo()
        receiver.close()


def test_an_entry_holds_a_trace_id_as_the_receiver_reads_it(tmp_path: Path) -> None:
    """`forget` compares the trace ids of `_released.json` with the entry's: a `0x` id (taken
    as the 32 hex digits it stands for) kept a written session named, and refused."""
    lake = tmp_path / "lake"
    receiver = OtlpReceiver(str(lake), app_id="a", settle_s=60, idle_s=60)
    try:
        receiver.add(None, [{**CALL, "traceId": "0x" + "1" * 30}])
        (entry,) = _entries(lake)
        (record,) = json.loads(gzip.decompress(entry.read_bytes()))["records"]["a"]
        assert record["traceId"] == "00" + "1" * 30
    finally:
        receiver.close()


def test_a_trace_taken_in_keeps_its_age(tmp_path: Path) -> None:
    """Short runs of `serve`, each stopped before its traces without a root were let go of:
    each took them in as new, so they were carried from one to the next, their sessions
    without an end (and `forget` refused them) for as long as no run lasted 10 minutes."""
    import datetime as dt

    lake = tmp_path / "lake"
    stopped = WriteAheadLog(Lake(str(lake)))
    an_hour_ago = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    stopped.append({"a": [CALL]}, received_at=an_hour_ago)  # its root never came
    stopped.close(written=False)
    receiver = OtlpReceiver(str(lake), app_id="a", logger_options=LOGGER)  # 5 and 10 minutes
    receiver.map_ready()  # its first round: mapped, and let go of (linger_s passed long ago)
    receiver.close()
    assert session_events(tmp_path) == WHOLE
    assert not (lake / "_serve").exists()
