"""What a materialization reports: per run, per operator, per day and per table.

Plain records, filled in by the run (`engine/materialize.py`) and the commit of each day
(`engine/commit.py`), read by the assets' metadata and checks, the command line and notebooks.
"""

from dataclasses import dataclass, field

from trajectory_assets.operator import Operator


@dataclass(frozen=True)
class TableDay:
    """One table's day after the run."""

    rows: int
    bytes: int
    files: int
    version: int | None  # the table version this run committed; None when already current


@dataclass(frozen=True)
class DayResult:
    """What a day of one operator's materialization produced, for metadata and checks."""

    day: str
    tables: dict[str, TableDay]
    batches: int
    reused_batches: int
    input_rows: int
    input_files: int
    skipped_files: tuple[tuple[str, str], ...]
    source: str  # what its batches read: raw_events, raw_compacted <attempt>, or a table
    workers: tuple[str, ...]  # host:pid of every process that ran one of its batches
    nodes: tuple[str, ...]  # Ray node ids that ran them (empty inline)
    audit: dict[str, int] = field(default_factory=dict)  # the operator's counts for its checks
    unknown_columns: tuple[tuple[str, str], ...] = ()  # (raw file, column) read as absent
    up_to_date: bool = False  # already computed from these inputs: nothing ran

    def rows(self, table: str) -> int:
        return self.tables[table].rows


@dataclass
class OperatorResult:
    """One operator's days."""

    operator: str
    runtime: str
    days: dict[str, DayResult] = field(default_factory=dict)
    seconds: float = 0.0
    described: dict[str, str] = field(default_factory=dict)  # Operator.describe() of the run

    def rows(self, table: str) -> int:
        return sum(d.rows(table) for d in self.days.values())

    @property
    def input_rows(self) -> int:
        return sum(d.input_rows for d in self.days.values())


@dataclass
class RunResult:
    runtime: str
    operators: dict[str, OperatorResult] = field(default_factory=dict)
    parallelism: int = 0  # batches at once (`Runtime.parallelism`); 0: none ran
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase of the run
    raw_versions: dict[str, str] = field(default_factory=dict)  # day → its raw files' version,
    # of the listing the run read (`lake.raw.raw_version`)

    def of(self, op: Operator) -> OperatorResult:
        return self.operators[op.name]

    def table_day(self, table: str, day: str) -> TableDay | None:
        """A table's day as this run committed or found it; None when the run did not touch it."""
        for ran in self.operators.values():
            done = ran.days.get(day)
            if done is not None and table in done.tables:
                return done.tables[table]
        return None

    def add_phase(self, name: str, seconds: float) -> None:
        self.phases[name] = self.phases.get(name, 0.0) + seconds
