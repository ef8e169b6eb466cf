"""What the loggers of a process do when it forks or is told to stop.

Agent services run as workers forked from a parent (gunicorn `--preload`, Celery prefork,
multiprocessing with `fork`, `ProcessPoolExecutor`) and are stopped with SIGTERM (Kubernetes,
Docker, systemd). Each of these lost every event a worker logged, without a word:

- a forked child has no flush thread (only the forking thread survives `fork`), so a logger made
  before the fork buffered for ever in the child; and a lock another thread held at the fork
  stays held there, so its first `log()` could hang. After a fork, each logger starts again in
  the child: an empty buffer (what the parent buffered is the parent's to write), a new logger
  id (the event ids of siblings would be the same), new locks, a new flush thread. A fork makes
  the import of a first write first (pandas, a second: every worker's first flush was that
  second long), then waits for a flush cycle under way to end (up to `_FORK_WAIT_S` for the
  fork, whatever the number of loggers): a lock its writes held at the fork (an
  import's, pyarrow's, the store client's) stayed held in the child, whose flush thread waited
  on it for ever;
- multiprocessing ends its workers with `os._exit`, which skips `atexit`: a logger closes from
  multiprocessing's own exit hook (`multiprocessing.util.Finalize`), in workers forked with one
  made before too;
- SIGTERM's default action ends a process without `atexit`: while the process has no handler of
  its own for it (Python installs none), the first logger made in the main thread installs one
  that closes every logger (each within its `close_timeout_s`) and then ends the process by
  SIGTERM's default action, as it would have ended (`flush_on_sigterm=False` leaves it alone).
  Only the main thread can install it: a logger made before in another thread says so, once.
  A handler the program installs, before or after, is the program's: it should exit through
  `sys.exit`, which closes the loggers at exit.

SIGKILL, `os._exit` outside multiprocessing, and a crash of the interpreter lose what was not
yet written: up to `flush_interval_s` of events.
"""

import logging
import os
import signal
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import pyarrow as pa

log = logging.getLogger("trajectory_assets.ingest.logger")

_SIGNAL_LOCK_WAIT_S = 1.0  # a flush holds the buffer's lock for microseconds
_FORK_WAIT_S = 10.0  # a flush cycle: its sessions' writes, each request with its own timeout


class Restartable(Protocol):
    """What this module needs of an `EventLogger`."""

    def close(self, timeout: float | None = None) -> None: ...

    def restart_after_fork(self) -> None: ...

    def hold_for_fork(self, wait_s: float) -> bool: ...

    def release_after_fork(self) -> None: ...

    def closable_now(self, wait_s: float) -> bool: ...

    finalizer: Any  # multiprocessing's exit hook, canceled by close()


_live: "weakref.WeakSet[Any]" = weakref.WeakSet()
_forking = threading.local()  # per forking thread: the loggers whose flushes its fork holds
_hooked = False
_sigterm_installed = False
_told_thread = False
_told_handler = False  # of a SIGTERM handler of the program's, once


def watch(logger: Restartable, *, flush_on_sigterm: bool) -> None:
    """Keep `logger` working across forks, and written when the process ends."""
    global _hooked
    _live.add(logger)
    if not _hooked:
        os.register_at_fork(
            before=_before_fork, after_in_parent=_release_held, after_in_child=_after_fork
        )
        _hooked = True
    _close_at_worker_exit(logger)
    if flush_on_sigterm:
        _install_sigterm()


def _close_at_worker_exit(logger: Restartable) -> None:
    """multiprocessing clears its exit hooks in a forked worker, then runs its after-fork
    callbacks: the hook is set again there."""
    import multiprocessing.util as mp_util

    logger.finalizer = mp_util.Finalize(logger, logger.close, exitpriority=10)
    mp_util.register_after_fork(logger, _close_at_worker_exit)


def _before_fork() -> None:
    held: list[Restartable] = []
    _forking.held = held  # two threads forking at once each release their own holds
    if _live:
        _import_what_a_first_write_imports()
    deadline = time.monotonic() + _FORK_WAIT_S  # for the fork, whatever the number of loggers
    for logger in list(_live):
        try:
            if logger.hold_for_fork(max(0.0, deadline - time.monotonic())):
                held.append(logger)
            else:
                log.warning(
                    "event logger: a flush still under way after %.0f s; forking anyway (the "
                    "child's logger may hang)",
                    _FORK_WAIT_S,
                )
        except Exception:  # pragma: no cover - a fork must not fail because of the logger
            log.exception("event logger: preparing for a fork failed")


def _import_what_a_first_write_imports() -> None:
    """pyarrow imports pandas on its first array from Python objects (about a second): made
    here once, before the first fork, every worker's first flush is quick, where it was a second
    in which a SIGTERM or a kill lost the worker's events."""
    try:
        shim = getattr(pa.lib, "_pandas_api", None)  # pyarrow's; none in another version
        if shim is not None:
            shim.have_pandas  # noqa: B018 - the property imports
    except Exception:  # pragma: no cover - a fork must not fail because of the logger
        log.exception("event logger: preparing for a fork failed")


def _release_held() -> None:
    held: list[Restartable] = getattr(_forking, "held", [])
    while held:
        held.pop().release_after_fork()


def _after_fork() -> None:
    _closes.clear()  # the closes under way were the parent's threads'
    _deferred.clear()
    _release_held()
    for logger in list(_live):
        try:
            logger.restart_after_fork()
        except Exception:  # pragma: no cover - a fork must not fail because of the logger
            log.exception("event logger: restarting after fork failed")


def _install_sigterm() -> None:
    global _sigterm_installed, _told_thread
    if _sigterm_installed:
        return
    if threading.current_thread() is not threading.main_thread():
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL and not _told_thread:
            _told_thread = True  # once: loggers made per request in threads would repeat it
            log.warning(
                "event logger made outside the main thread: SIGTERM, which ends this process at "
                "once, cannot be handled from here, and would lose what is buffered; make the "
                "first logger in the main thread, or install a SIGTERM handler that calls "
                "sys.exit (flush_on_sigterm=False silences this)"
            )
        return
    try:
        handler = signal.getsignal(signal.SIGTERM)
        if handler is not signal.SIG_DFL:
            _tell_handler(handler)  # the program's own (or a server's) handler decides
            return
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # pragma: no cover - not the main interpreter
        return
    _sigterm_installed = True


def _tell_handler(handler: object) -> None:
    """Once: a server's handler (uvicorn's, made before a logger of a FastAPI lifespan) may end
    the process by SIGTERM again once it has shut down, which no `atexit` outlives: 1,850 of
    4,400 events were lost without a word."""
    global _told_handler
    if _told_handler or handler in (signal.SIG_IGN, None):
        return
    _told_handler = True
    name = getattr(handler, "__qualname__", None) or repr(handler)
    log.warning(
        "event logger: SIGTERM has a handler already (%s), which the logger leaves alone: "
        "close the logger as the program stops (in a FastAPI or Starlette lifespan, after its "
        "yield), or end through sys.exit, or events buffered then are lost "
        "(flush_on_sigterm=False silences this)",
        name,
    )


_closes: dict[int, int] = {}  # thread id: closes under way in it
_deferred: list[int] = []  # a SIGTERM that came while the main thread was closing a logger


@contextmanager
def closing() -> Iterator[None]:
    """A logger's close under way in this thread; a SIGTERM that interrupted it ends the
    process once it is done."""
    me = threading.get_ident()
    _closes[me] = _closes.get(me, 0) + 1
    try:
        yield
    finally:
        _closes[me] -= 1
        if not _closes[me]:
            del _closes[me]
            if _deferred and me == threading.main_thread().ident:
                _on_sigterm(_deferred.pop(), None)


def terminating() -> bool:
    """A SIGTERM waits for a close under way in this process (`closing`)."""
    return bool(_deferred)


def _on_sigterm(signum: int, _frame: object) -> None:
    """Close every logger, then die of SIGTERM as the default action would. A close under way
    in the interrupted thread (a multiprocessing worker's exit, which a pool's `terminate()`
    interrupts so) ends first: waited for from here, the handler waited on locks that thread
    held (a thread's join, an event's), for minutes, and one worker wrote nothing. A close in
    another thread is waited for. A logger whose buffer lock the interrupted thread holds (it
    was inside `log()`) cannot be flushed from here without deadlock: named, not waited for."""
    if threading.get_ident() in _closes:
        _deferred[:] = [signum]
        for logger in list(_live):  # a close given a longer timeout ends within the logger's
            logger.hurry()
        return
    for logger in list(_live):
        try:
            if logger.closable_now(_SIGNAL_LOCK_WAIT_S):
                logger.close()
            else:
                log.error("event logger: SIGTERM arrived inside log(); its buffer is lost")
        except Exception:  # pragma: no cover - the process must still end
            log.exception("event logger: close on SIGTERM failed")
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
