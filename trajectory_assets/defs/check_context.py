"""What the asset checks of one materialization share: the catalog, the thresholds, and the
operators' audits (the counts each batch took of the raw rows it read), from the run or from
the commit that made a day current.
"""

import threading
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import pyarrow as pa

from trajectory_assets.defs.settings import max_elimination_ratio, max_rejected_share
from trajectory_assets.engine.results import RunResult
from trajectory_assets.lake import delta_history
from trajectory_assets.lake.catalog import Catalog


@dataclass(frozen=True)
class Thresholds:
    max_rejected_share: float
    max_elimination_ratio: float


def default_thresholds() -> Thresholds:
    """The checks' limits of a run whose config sets none (the settings, else 5% and 95%), and of
    a rollback's check of its day."""
    return Thresholds(max_rejected_share(), max_elimination_ratio())


@dataclass(frozen=True)
class DayCheck:
    passed: bool
    detail: str
    evaluated: bool = True  # False: nothing to check against (`UNAUDITED`)


@dataclass
class CheckContext:
    """What the checks of one materialization share: the catalog, thresholds, and each
    operator's audit per day (from this run, or from the commit that made the day current)."""

    catalog: Catalog
    limits: Thresholds
    result: RunResult | None = None
    audits: dict[tuple[str, str], dict[str, int] | None] = field(default_factory=dict)
    days: set[str] = field(default_factory=set)  # those the checks will ask of, once known
    _committed: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    _asked: dict[str, set[str]] = field(default_factory=dict)  # days looked up, per table
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _locks: dict[str, threading.Lock] = field(default_factory=dict)

    def audit(self, op: str, table: str, day: str) -> dict[str, int] | None:
        """The operator's counts of the day; None when its commit is no longer in the table's
        log (Delta's log cleanup; a `forget`'s purge keeps them): nothing to check against."""
        if (op, day) not in self.audits:
            found = None
            if self.result is not None and op in self.result.operators:
                ran = self.result.operators[op].days.get(day)
                found = ran.audit if ran is not None and not ran.up_to_date else None
            if found is None:
                found = self._committed_audit(table, day)
            self.audits[(op, day)] = found
        return self.audits[(op, day)]

    def _committed_audit(self, table: str, day: str) -> dict[str, int] | None:
        """From one walk of the table's log for every day the checks ask of (a walk per day
        read the log's commits again for each day)."""
        with self._lock:  # a lock a table: walks of different logs go on at once
            lock = self._locks.setdefault(table, threading.Lock())
        with lock:
            known = self._committed.setdefault(table, {})
            asked = self._asked.setdefault(table, set())
            if day not in asked:
                days = (self.days | {day}) - asked
                known.update(committed_audits(self.catalog, table, days))
                asked |= days
        return self._committed[table].get(day)

    def rows(self, table: str, day: str) -> int:
        """A day's rows as this run committed or found them, else as the Delta log has them
        (reading a table's log costs more than a small day's check)."""
        done = self.result.table_day(table, day) if self.result is not None else None
        if done is not None:
            return done.rows
        state = self.catalog.state(table, day)
        return state.rows if state is not None else 0

    def column(self, table: str, day: str, names: Sequence[str]) -> pa.Table:
        """Columns of a table's day, from the catalog's one snapshot of the table: listing the
        table's files for every check and day would cost more than the reads themselves."""
        return self.catalog.day_rows(table, day, list(names))


def committed_audits(
    catalog: Catalog, table: str, days: Collection[str]
) -> dict[str, dict[str, int]]:
    """The audit kept with the commit that last changed each of a table's days (empty: a day
    without batches counted nothing), for the days whose commit is still in the log. A restore
    (rollback) made the state of an earlier version current again: the counts are then those of
    the commit that made the day what it was at that version."""
    commits = delta_history.operator_commits(catalog.lake, table, days)
    return {day: audit for day, c in commits.items() if (audit := c.audit) is not None}


def limit_text(limit: float) -> str:
    """A threshold as given, however many digits (99.9% is no 100%)."""
    return f"{limit * 100:g}%"


UNAUDITED = DayCheck(
    True,
    "not checked: the counts its commit recorded are no longer in the table's log",
    evaluated=False,
)
"""A day whose evidence is gone: no evaluation is recorded (a "passed" recorded over an earlier
failure, on unchanged data, after Delta's log cleanup, hid it)."""
