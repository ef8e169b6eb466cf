"""What runtimes run: batch tasks, each one or more operators' steps over the same batch.

Pure data (picklable), so the same task runs in-process or as a Ray task; this module is all
a runtime needs to know of planning.
"""

from dataclasses import dataclass
from typing import Literal

from trajectory_assets.lake.bad_file_rules import OnBadFile
from trajectory_assets.lake.delta import DataFile
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import RawFile, SessionRange
from trajectory_assets.lake.staging import Attempt
from trajectory_assets.operator import Operator
from trajectory_assets.schema import TableSpec

Inputs = tuple[tuple[TableSpec, tuple[DataFile, ...]], ...]
"""(table, committed files) pairs a step reads."""


@dataclass(frozen=True)
class Step:
    """One operator's part of a batch: its attempt (where its receipt goes) and the committed
    tables it reads. Tables an earlier step of the same task produced are read from memory."""

    operator: Operator
    attempt: Attempt
    upstream: Inputs = ()
    done: bool = False  # finished by an earlier run: computed again only if a later step needs it


@dataclass(frozen=True)
class BatchTask:
    """One batch, every step that reads it. A batch is whole sessions of one day and app read
    from raw (or raw_compacted) files, a chunk of a table's files, or a day's partials."""

    lake: Lake
    day: str
    batch_id: str
    steps: tuple[Step, ...]
    phase: Literal["map", "merge"] = "map"
    raw_files: tuple[RawFile, ...] = ()
    compacted: Inputs = ()  # raw_compacted's files, read instead of raw_files
    primary: Inputs = ()  # a table-planned batch: its share of the primary input's files
    partials: tuple[str, ...] = ()  # a merge: the day's partial aggregates (absolute paths)
    sessions: tuple[SessionRange, ...] = ()  # the batch's sessions, to filter other inputs
    raw_columns: tuple[str, ...] | None = None  # None: every raw column
    on_bad_file: OnBadFile = "fail"
    threads: int = 1  # for reading raw files: the cores this task has to itself (see runtimes)

    @property
    def pending(self) -> bool:
        return any(not s.done for s in self.steps)
