"""The event logger in services of several processes: workers forked from a parent that made the
logger (gunicorn `--preload`, multiprocessing), workers ended by multiprocessing's `os._exit`,
and a worker stopped with SIGTERM. Each of these lost every event it logged, without a word."""

import concurrent.futures
import logging
import multiprocessing
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pyarrow.compute as pc
import pytest

from tests.ingest.conftest import FAST, NewLogger
from tests.ingest.lakes import raw_events, raw_files
from trajectory_assets.ingest import EventLogger

FORK = multiprocessing.get_context("fork")
EVENTS = 40


def python(script: str, lake: Path, timeout: float = 60) -> "subprocess.CompletedProcess[str]":
    """`script` run by a Python process of its own, the lake as its argument."""
    return subprocess.run(
        [sys.executable, "-c", script, str(lake)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        timeout=timeout,
    )


def log_session(logger: EventLogger, session_id: str) -> None:
    with logger.session(session_id) as s:
        for i in range(EVENTS - 2):
            s.llm_call("m", input_tokens=i)


def test_a_logger_made_before_the_fork_writes_in_each_worker(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    """Workers return without closing it: multiprocessing ends them with os._exit."""
    logger = new_logger(str(tmp_path), "app", **FAST)
    log_session(logger, "parent")
    workers = [FORK.Process(target=log_session, args=(logger, f"w{n}")) for n in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0]
    logger.close()
    raw = raw_events(tmp_path)
    assert sorted(set(raw["session_id"].to_pylist())) == ["parent", "w0", "w1", "w2"]
    assert raw.num_rows == 4 * EVENTS == len(set(raw["event_id"].to_pylist()))  # ids their own


def pool_task(lake: str, session_id: str) -> int:
    """A task that makes its own logger and never closes it."""
    log_session(EventLogger(lake, "app", **FAST), session_id)  # type: ignore[arg-type]
    return os.getpid()


def test_a_logger_made_in_a_pool_worker_is_written_when_the_pool_ends(tmp_path: Path) -> None:
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=FORK) as pool:
        list(pool.map(pool_task, [str(tmp_path)] * 4, [f"t{n}" for n in range(4)]))
    assert raw_events(tmp_path).num_rows == 4 * EVENTS


def test_a_lock_held_by_another_thread_at_the_fork_does_not_hang_the_worker(
    tmp_path: Path, new_logger: NewLogger
) -> None:
    logger = new_logger(str(tmp_path), "app", **FAST)
    held, release = threading.Event(), threading.Event()

    def hold() -> None:  # a thread inside log() when the fork happens
        with logger._buffer.lock:
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    worker = FORK.Process(target=log_session, args=(logger, "w"))
    worker.start()
    worker.join(60)
    release.set()
    holder.join()
    assert worker.exitcode == 0  # was: its first log() waited for ever on the copied lock
    assert raw_events(tmp_path).num_rows == EVENTS


WORKER = """
import sys, time
from trajectory_assets.ingest import EventLogger
logger = EventLogger(sys.argv[1], "app", flush_interval_s=600)
with logger.session("s") as s:
    for i in range(98):
        s.llm_call("m", input_tokens=i)
print("ready", flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_sigterm_writes_the_buffer_and_still_ends_the_process_by_the_signal(
    tmp_path: Path,
) -> None:
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    assert worker.stdout is not None and worker.stdout.readline() == "ready\n"
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == -signal.SIGTERM  # as a process without the logger ends
    assert raw_events(tmp_path).num_rows == 100


def test_sigterm_during_a_close_of_its_own_thread_ends_the_process_once_it_is_done(
    tmp_path: Path,
) -> None:
    """A pool's `terminate()` sends SIGTERM while a worker's exit hook closes its logger: the
    handler waited for that close from inside it, on locks the interrupted close held (an
    event's, a thread's join), for over two minutes, and one worker wrote nothing."""
    script = textwrap.dedent(
        """
        import os, signal, sys
        from trajectory_assets.ingest import EventLogger
        from trajectory_assets.ingest.logger.flusher import Flusher
        stop = Flusher.stop
        def interrupted(self, *args):
            os.kill(os.getpid(), signal.SIGTERM)  # handled before the stop's first line
            stop(self, *args)
        Flusher.stop = interrupted
        logger = EventLogger(sys.argv[1], "app", flush_interval_s=60)
        with logger.session("s1") as s:
            s.user_message("hello")
        logger.close()
        print("went on after SIGTERM")
        """
    )
    done = python(script, tmp_path, timeout=40)
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert done.stdout == ""  # ended by the signal, once the close was done
    assert raw_events(tmp_path).num_rows == 3  # start, message, end


def test_a_programs_own_sigterm_handler_is_left_alone_and_said_to_be(tmp_path: Path) -> None:
    """Said once: uvicorn's handler, set before a FastAPI lifespan makes the logger, ends the
    process by SIGTERM again after its shutdown, and the buffer was lost without a word."""
    script = textwrap.dedent(
        """
        import logging, signal, sys
        from trajectory_assets.ingest import EventLogger
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        def own(*_): sys.exit(3)
        signal.signal(signal.SIGTERM, own)
        EventLogger(sys.argv[1], "app").close()
        EventLogger(sys.argv[1], "other").close()
        print(signal.getsignal(signal.SIGTERM) is own)
        """
    )
    done = python(script, tmp_path)
    assert done.stdout == "True\n", done.stderr
    assert done.stderr.count("SIGTERM has a handler already (own)") == 1, done.stderr
    assert "after its yield" in done.stderr


def test_a_logger_made_first_outside_the_main_thread_says_sigterm_would_lose_it(
    tmp_path: Path,
) -> None:
    """A threaded server that makes its logger on the first request: no handler can be
    installed from there, and SIGTERM lost the buffer without a word."""
    script = textwrap.dedent(
        """
        import logging, sys, threading
        from trajectory_assets.ingest import EventLogger
        logging.basicConfig(level=logging.WARNING, format="%(message)s")
        made = threading.Thread(target=lambda: EventLogger(sys.argv[1], "app").close())
        made.start()
        made.join()
        """
    )
    done = python(script, tmp_path)
    assert done.stderr.startswith("event logger made outside the main thread: SIGTERM"), done.stderr


def test_a_full_buffer_says_it_drops_and_keeps_to_its_cap(
    tmp_path: Path, new_logger: NewLogger, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "raw_events").write_text("not a folder")  # storage down
    logger = new_logger(str(tmp_path), "app", max_buffered_events=50, **FAST)
    with caplog.at_level(logging.WARNING, logger="trajectory_assets.ingest.logger"):
        for i in range(30):
            logger.log("s", "llm_call", input_tokens=i)
        time.sleep(0.3)  # a flush takes them, and fails
        for i in range(100):
            logger.log("s", "llm_call", input_tokens=i)
    stats = logger.stats()
    assert stats["buffered"] + stats["pending"] == 50 and stats["dropped"] == 80
    (told,) = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert "max_buffered_events" in told and "80 dropped so far" not in told  # the first drop
    (tmp_path / "raw_events").unlink()
    assert logger.flush(timeout=20)
    assert len(raw_files(tmp_path)) >= 1 and raw_events(tmp_path).num_rows == 50


FORK_DURING_FIRST_FLUSH = """
import multiprocessing, sys, threading, time
from trajectory_assets.ingest import EventLogger
logger = EventLogger(sys.argv[1], "app", flush_interval_s=0.05)
def work(name):
    with logger.session(name) as s:
        for i in range(38):
            s.llm_call("m", input_tokens=i)
stop = threading.Event()
def parent_logs():
    with logger.session("parent") as s:
        while not stop.is_set():
            s.llm_call("m")
            time.sleep(0.001)
parent = threading.Thread(target=parent_logs)
parent.start()
while "pandas" not in sys.modules:  # the first flush imports it, under pyarrow's lock
    time.sleep(0.001)
worker = multiprocessing.get_context("fork").Process(target=work, args=("child",))
worker.start()
worker.join(60)
stop.set()
parent.join()
print(worker.exitcode, flush=True)
logger.close()
"""


def test_a_fork_during_the_first_flush_does_not_hang_the_worker(tmp_path: Path) -> None:
    """pyarrow imports pandas on its first array, holding a lock of its own: a fork then left
    the lock held in the worker, whose flush thread waited on it for ever (and so did its
    exit, and the parent's join)."""
    done = python(FORK_DURING_FIRST_FLUSH, tmp_path, timeout=240)
    assert done.stdout == "0\n", done.stderr[-2000:]
    raw = raw_events(tmp_path)
    assert raw.filter(pc.equal(raw["session_id"], "child")).num_rows == EVENTS


FORK_DURING_A_WRITE = """
import os, sys, threading, time
import trajectory_assets.ingest.logger.flusher as flusher
from trajectory_assets.ingest import EventLogger
held = threading.Lock()  # stands for any lock a write takes (an import's, a library's)
real = flusher.write_session
def write_session(*args, **kwargs):
    with held:
        time.sleep(0.3)
        return real(*args, **kwargs)
flusher.write_session = write_session
logger = EventLogger(sys.argv[1], "app", flush_interval_s=0.05, close_timeout_s=2)
with logger.session("parent") as s:
    s.llm_call("m")
while not held.locked():
    time.sleep(0.001)
pid = os.fork()  # while the flush thread writes
if pid == 0:
    with logger.session("child") as s:
        s.llm_call("m")
    logger.close()
    os._exit(0)
os.waitpid(pid, 0)
logger.close()
print("done", flush=True)
"""


@pytest.mark.slow
def test_a_fork_waits_for_a_write_under_way(tmp_path: Path) -> None:
    """A lock a write held at the fork (an import's, pyarrow's, the store client's) stays held
    for ever in the child, whose flush thread then waited on it: its events were lost once
    close gave up, two minutes later (a test's fork during the first flush hung so under load)."""
    started = time.monotonic()
    done = python(FORK_DURING_A_WRITE, tmp_path, timeout=240)
    assert done.stdout == "done\n", done.stderr[-2000:]
    assert time.monotonic() - started < 60
    raw = raw_events(tmp_path)
    assert sorted(set(raw["session_id"].to_pylist())) == ["child", "parent"]


SIGTERM_DURING_CLOSE = """
import os, signal, sys, threading, time
import trajectory_assets.ingest.logger.flusher as flusher
from trajectory_assets.ingest import EventLogger
real = flusher.write_session
def write_session(*args, **kwargs):
    time.sleep(1.0)  # a slow store
    return real(*args, **kwargs)
flusher.write_session = write_session
logger = EventLogger(sys.argv[1], "app", flush_interval_s=60)
with logger.session("s") as s:
    for i in range(38):
        s.llm_call("m", input_tokens=i)
threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGTERM)).start()
logger.close()  # as a multiprocessing worker's exit does, when its pool terminates it
"""


@pytest.mark.slow
def test_sigterm_during_a_close_waits_for_its_flush(tmp_path: Path) -> None:
    """A pool's `terminate()` (the end of `with Pool() as p:`) sends SIGTERM to workers already
    closing their loggers at exit: the handler's close returned at once, seeing one under way,
    and the process died mid-write with every event of every worker lost, without a word."""
    done = python(SIGTERM_DURING_CLOSE, tmp_path, timeout=120)
    assert done.returncode == -signal.SIGTERM, done.stderr[-2000:]
    assert raw_events(tmp_path).num_rows == EVENTS


SIGTERM_DURING_A_LONG_CLOSE = """
import os, signal, sys, threading
import trajectory_assets.ingest.logger.flusher as flusher
from trajectory_assets.ingest import EventLogger
def write_session(*args, **kwargs):
    raise OSError("the store is down")
flusher.write_session = write_session
logger = EventLogger(sys.argv[1], "app", close_timeout_s=1, retry_initial_s=0.1)
with logger.session("s") as s:
    s.llm_call("m", input_tokens=1)
threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
logger.close(timeout=300)  # the program's own, longer than close_timeout_s
"""


@pytest.mark.slow
def test_sigterm_during_a_long_close_ends_the_process_within_close_timeout_s(
    tmp_path: Path,
) -> None:
    """A close given five minutes to retry a store that is down held a SIGTERM off for as
    long: a container's stop (its grace period) escalated to SIGKILL meanwhile."""
    started = time.monotonic()
    done = python(SIGTERM_DURING_A_LONG_CLOSE, tmp_path, timeout=90)
    assert done.returncode == -signal.SIGTERM, done.stderr[-2000:]
    assert time.monotonic() - started < 30, done.stderr[-2000:]
    assert "could not be written before close" in done.stderr


def test_a_flush_that_times_out_during_a_write_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`flush(timeout)` returned True while a write held its events (counted in neither the
    buffer nor the unwritten ones until the write ends): nothing was in the lake yet."""
    import trajectory_assets.ingest.logger.flusher as flusher

    real, started = flusher.write_session, threading.Event()

    def slow(*args: object, **kwargs: object) -> object:
        started.set()
        time.sleep(2.0)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(flusher, "write_session", slow)
    logger = EventLogger(str(tmp_path), "app", flush_interval_s=0.05)
    log_session(logger, "s")
    assert started.wait(10)
    assert logger.flush(timeout=0.5) is False
    logger.close()
    assert raw_events(tmp_path).num_rows == EVENTS


def test_a_close_begun_after_a_deferred_sigterm_retries_for_close_timeout_s_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A SIGTERM that came as a close began (before its stop) left the close the whole
    timeout it was given: minutes of retries of a store that is down, past a container's grace
    period. (In a thread of its own: a close in the main thread would end this process.)"""
    import trajectory_assets.ingest.logger.flusher as flusher
    from trajectory_assets.ingest.logger import process

    def down(*args: object, **kwargs: object) -> None:
        raise OSError("the store is down")

    monkeypatch.setattr(flusher, "write_session", down)
    logger = EventLogger(str(tmp_path), "app", close_timeout_s=1, retry_initial_s=0.1)
    logger.log("s", "llm_call", model="m")
    monkeypatch.setattr(process, "_deferred", [signal.SIGTERM])  # deferred, as in `closing`
    closing = threading.Thread(target=logger.close, kwargs={"timeout": 300})
    closing.start()
    closing.join(30)
    assert not closing.is_alive()
