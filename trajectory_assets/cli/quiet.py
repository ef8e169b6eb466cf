"""Quiet by default: a command prints its own lines and its errors, not its libraries' chatter.

Dagster warns about beta APIs and a missing dagster.yaml, Ray about token authentication and
disabled progress bars, and Ray Data logs every dataset it runs; none of it is for the person
running a command, and `-v` shows all of it again. Ray reads its log levels from the
environment when it is imported and again in `ray.init`, so they are set as variables before
any command runs. Everything is restored when the command ends, so a caller that runs `main()`
in its own process (the tests) keeps its own settings.
"""

import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

# Only set where the user has not chosen a value: an explicit RAY_DATA_LOG_LEVEL still wins.
QUIET_ENV = {  # Ray's errors too: a worker's death logged three tracebacks before the command's
    # own `error:` line, which says it (`ray.WorkersFailedError`)
    "RAY_LOGGER_LEVEL": "critical",  # the "ray" logger of the driver, read by ray.init
    "RAY_DATA_LOG_LEVEL": "CRITICAL",  # the "ray.data" logger, read when ray.data is imported
    "RAY_DATA_DISABLE_PROGRESS_BARS": "1",
}
QUIET_LOGGERS = {
    "dagster": logging.ERROR,
    "ray": logging.CRITICAL,
    "ray.data": logging.CRITICAL,
    # a Ctrl+C while Dagster's storage closes a connection logged "Exception closing connection"
    # with a traceback before the command's one `error: interrupted` line
    "sqlalchemy.pool": logging.CRITICAL,
}


@contextmanager
def quiet(verbose: bool) -> Iterator[None]:
    """Silence warnings and library logs below ERROR for the block, unless `verbose`.

    The run's own log (the Dagster console logger of `materialize`) is not a library logger
    and keeps its level: it is the progress of the run.
    """
    if verbose:
        yield
        return
    added = [name for name in QUIET_ENV if name not in os.environ]
    levels = {name: logging.getLogger(name).level for name in QUIET_LOGGERS}
    try:
        for name in added:
            os.environ[name] = QUIET_ENV[name]
        for name, level in QUIET_LOGGERS.items():
            logging.getLogger(name).setLevel(level)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for name in added:
            os.environ.pop(name, None)
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
