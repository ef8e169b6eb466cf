"""The errors the project raises on purpose: each says what is wrong and what to do about it.

They sit below every other module, so any layer may raise or catch them. (The command line's
`CliError` stays in `cli/common.py`: it is a click exception, shown to a terminal.)
"""

import re
import shlex
from collections.abc import Sequence

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def first_few(items: Sequence[object], more: str = "more", shown: int = 5) -> str:
    """`a, b, c, d, e and 3 more`: a list a message names in one line however long it is."""
    named = ", ".join(str(item) for item in items[:shown])
    return named + (f" and {len(items) - shown} {more}" if len(items) > shown else "")


def shown(text: str) -> str:
    """Text for a terminal as written: ids and names are what agents and tenants logged, and a
    control character (ESC starts sequences that retitle the window, recolour what follows or
    write the clipboard; a bidirectional override shows text reversed) is shown as its escape.
    Line breaks and tabs are the messages' own."""
    return CONTROL.sub(lambda found: ascii(found.group())[1:-1], text)


# Defining tables


class SettingError(ValueError):
    """A setting (an environment variable, the lake's trajectory_assets.json) whose value cannot
    work: the message names the setting, its value and what it takes."""


class DefinitionError(ValueError):
    """Operators that cannot be turned into tables: the message names each one and its problem."""


class OutputError(ValueError):
    """An operator returned outputs that do not match what it declared."""


class OperatorError(RuntimeError):
    """An operator's own `transform` or `merge` raised: `where` names the operator, day and
    batch, `error` the exception, and `detail` is its traceback from the process that ran it (a
    Ray worker's too), for the run's logs rather than the one-line message."""

    def __init__(self, where: str, error: str, detail: str = "") -> None:
        super().__init__(f"{where}: {error}")
        self.where = where
        self.error = error
        self.detail = detail

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return (OperatorError, (self.where, self.error, self.detail))


# Reading the raw lake


class BadRawFileError(RuntimeError):
    """A raw file that cannot be read or conformed to the raw schema."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"raw file {path}: {reason}")
        self.path = path
        self.reason = reason


class BadRawFilesError(RuntimeError):
    """Raw files that cannot be read, every one named with its reason, and what to do."""

    def __init__(self, bad: Sequence[tuple[str, str]]) -> None:
        self.bad = sorted(set(bad))
        lines = [f"- {path}: {reason}" for path, reason in self.bad[:50]]
        more = [f"- and {len(self.bad) - 50} more"] if len(self.bad) > 50 else []
        super().__init__(
            f"{len(self.bad)} raw file(s) cannot be read, so nothing was committed:\n"
            + "\n".join([*lines, *more])
            + "\nTo leave unreadable files out and list them in the run's metadata instead, "
            "set on_bad_file to skip: run config `on_bad_file: skip`, `--on-bad-file skip`, or "
            "TRAJECTORY_ASSETS_ON_BAD_FILE=skip."
        )

    def __reduce__(self) -> tuple[type, tuple[list[tuple[str, str]]]]:
        return (BadRawFilesError, (self.bad,))


class RawLayoutError(RuntimeError):
    """Raw data the listing cannot place, which would otherwise be left out without a word: a
    symbolic link to nothing, a link to a folder inside a day (it could list the same sessions
    under two names, or loop), a Parquet file outside an `app_id=/session_id=` folder."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"raw data at {path} {problem}")
        self.path = path
        self.problem = problem

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        return (RawLayoutError, (self.path, self.problem))


# Planning and committing tables


class MissingUpstreamError(RuntimeError):
    """An operator's table input has no committed day, and no operator of the run computes it."""


class UnknownTableError(KeyError, ValueError):
    """A table name no loaded operator writes: its message shown as itself (a KeyError's is
    quoted), and a ValueError as the notebook's other refused reads are."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class NotMaterializedError(LookupError):
    """A read of a table, or of one day of it, that was never materialized: its 0 rows would
    read as a day without events."""


class RunConfigError(ValueError):
    """A run's config holds a value its setting or operator refuses (out of range, say): what
    the launchpad's type checks let through."""


class SchemaChangeError(RuntimeError):
    """An operator now declares other columns or partitioning than its table holds, and the run
    would leave days written with the old schema beside the new one (Delta keeps one per
    table)."""


class BrokenTableError(RuntimeError):
    """A table whose Delta log cannot be opened (edited by hand, written by a newer Delta
    writer, cut short by a copy): it alone is unreadable, not the lake."""


class WorkersFailedError(RuntimeError):
    """Ray's batch workers died (killed for memory, crashed) past their retries: the message
    names the operators and days, which Ray's own error does not."""

    @classmethod
    def of(
        cls, operators: Sequence[str], days: Sequence[str], exc: BaseException
    ) -> "WorkersFailedError":
        """One line: Ray's own error runs over dozens, its first kept."""
        said = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
        said = said if len(said) <= 200 else said[:197] + "..."
        return cls(
            f"Ray's batch workers running {', '.join(operators)} on "
            f"{first_few(days, 'more day(s)')} failed ({type(exc).__name__}: {said}). A worker "
            "killed for memory holds too large a batch: give the workers more memory, or run "
            "fewer batches at once (--num-cpus) or smaller ones (batch_bytes); a batch holds "
            "whole sessions (README, --num-cpus). -v shows Ray's own lines"
        )


class LinkedFolderError(RuntimeError):
    """A symbolic link to a folder inside a table's folder: a full vacuum (`vacuum --full`,
    `forget`'s purge) follows it and deletes what it links to, outside the table."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is a symbolic link to a folder inside a Delta table's folder: a full vacuum "
            "(vacuum --full, forget's purge) would delete every file it links to; move the link "
            "out of the table's folder (or replace it with a copy), then run the command again"
        )
        self.path = path

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (LinkedFolderError, (self.path,))


class ConcurrentWriterError(RuntimeError):
    """Another writer committed the same table and day while this run was computing it."""


class MissingDataFileError(RuntimeError):
    """A file about to be committed is not in the lake: committing it would break the table."""


class LostDataFileError(FileNotFoundError):
    """A file of a table's current version is not in the lake (deleted outside the lake's own
    commands): the day cannot be read until it is computed again. A `FileNotFoundError`, so code
    that catches a missing file catches it too."""

    @classmethod
    def of(cls, lake: str, table: str, day: str | None, detail: str) -> "LostDataFileError":
        """The error for a table's day (None: unknown) of the lake, its message saying what to
        run. The exception itself holds the message alone, so it pickles (a Ray worker raises
        it)."""
        where = f"{table} dt={day}" if day else table
        again = f"--lake {shlex.quote(lake)} --partition {day or 'DAY'} --assets {table}"
        return cls(
            f"{where}: a data file of the current version is gone from the lake ({detail}); "
            f"compute the day again into new files: trajectory-assets materialize {again} "
            "--force (in the UI: run config force: true)"
        )

    @classmethod
    def vacuumed(cls, table: str, as_of: str, detail: str) -> "LostDataFileError":
        """The error for a file of an older version: `vacuum` deleted it, as it should."""
        return cls(
            f"{table} as of {as_of} cannot be read: its file {detail} was vacuumed (the files "
            "of versions older than retention_hours are deleted after each run); "
            "`trajectory-assets tables` shows the current version"
        )


class NoPreviousVersionError(RuntimeError):
    """A day has no earlier state to restore."""


class NoSuchVersionError(LookupError):
    """Time travel to a version, or a time, that a table's log no longer (or never) holds."""


class OtherLakeError(RuntimeError):
    """A run writes a lake other than the one the instance records."""


# Ingesting


class UnparseableFileError(ValueError):
    """A source file an importer cannot read; the message is the reason shown to the user."""


class BadRequestError(ValueError):
    """A body that is not an ExportTraceServiceRequest in the declared encoding."""


EXPECTED = (
    SettingError,
    DefinitionError,
    RawLayoutError,
    BadRawFilesError,
    MissingUpstreamError,
    SchemaChangeError,
    BrokenTableError,
    LinkedFolderError,
    ConcurrentWriterError,
)
"""Errors of settings, definitions, raw data or the lake's state that a user sets right: their
message is the whole story, shown as one line, never with a traceback (the command line's
`error:` line, a Dagster run's failure in the UI, the schedule's or a backfill's run alike)."""
