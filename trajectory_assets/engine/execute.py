"""Running one batch task: read its inputs once, apply each step's operator, write the outputs.

This is the whole body of a Ray task, and of an in-process loop iteration: both runtimes call
the same function, which is why they cannot drift apart.
"""

import contextlib
import os
import sys
import sysconfig
import traceback
from collections.abc import Callable, Iterator, Sequence

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.engine.outputs import normalise
from trajectory_assets.engine.tasks import BatchTask, Step
from trajectory_assets.errors import BadRawFilesError, LostDataFileError, OperatorError
from trajectory_assets.lake.delta_read import read_files
from trajectory_assets.lake.layout import RAW_TABLE
from trajectory_assets.lake.raw import filter_sessions
from trajectory_assets.lake.raw_read import RawRead, events_schema, read_events
from trajectory_assets.lake.staging import PARTIALS, BatchReceipt, read_partials, stage_batch
from trajectory_assets.operator import OpContext, Operator
from trajectory_assets.schema import TableSpec


class Stopped(Exception):
    """The run this batch belongs to was stopped while the batch computed: it writes nothing."""


def run_task(task: BatchTask, stopped: Callable[[], bool] = lambda: False) -> list[BatchReceipt]:
    """Receipts of the steps this run finished (steps done earlier are computed only when a
    later step of the batch reads their outputs, and not written again). `stopped`: asked
    before each write; true once the run was interrupted, whose process may outlive it by a
    batch that could not be stopped mid-computation (a thread), and must not write meanwhile."""
    receipts = []
    for step, outputs, audit, input_rows, read in _steps(task):
        if step.done:
            continue
        if stopped():
            raise Stopped(f"batch {task.batch_id}: its run was stopped")
        op = step.operator
        specs: dict[str, TableSpec] = {t.name: t for t in op.outputs}
        raw = read if read is not None and RAW_TABLE in op.inputs else None
        receipts.append(
            stage_batch(
                step.attempt,
                task.batch_id,
                outputs,
                specs,
                input_rows=input_rows,
                skipped_files=raw.skipped if raw else (),
                unknown_columns=raw.unknown if raw else (),
                audit=audit,
            )
        )
    pa.default_memory_pool().release_unused()
    return receipts


Outcome = list[BatchReceipt] | BadRawFilesError | OperatorError | LostDataFileError
"""What a runtime brings back from a task: its receipts, or the error it ended with."""


def collect(outcomes: Sequence[Outcome]) -> list[BatchReceipt]:
    """Every task's receipts, or one error naming the unreadable raw files of every task, or
    else the first other error (an operator's, or a lost input file)."""
    bad = [b for o in outcomes if isinstance(o, BadRawFilesError) for b in o.bad]
    if bad:
        raise BadRawFilesError(bad)
    for outcome in outcomes:
        if isinstance(outcome, OperatorError | LostDataFileError):
            raise outcome
    return [r for o in outcomes if isinstance(o, list) for r in o]


def compute_task(task: BatchTask) -> dict[str, pa.Table]:
    """Every step's outputs (or partials) of the batch, kept in memory, nothing written: what
    exploring an operator in a notebook needs."""
    found: dict[str, pa.Table] = {}
    for _, outputs, _, _, _ in _steps(task):
        found.update(outputs)
    return found


Computed = tuple[Step, dict[str, pa.Table], dict[str, int], int, RawRead | None]


def _steps(task: BatchTask) -> Iterator[Computed]:
    """Each step's (outputs, audit, input rows, raw read), the batch's inputs read once."""
    with _named_if_out_of_memory(f"reading batch {task.batch_id} dt={task.day}"):
        read = _read_raw(task)
    events = read.events if read is not None else None
    produced: dict[str, pa.Table] = {}
    needed_later = _needed_later(task.steps)
    for i, step in enumerate(task.steps):
        if step.done and not (set(step.operator.output_names) & needed_later[i]):
            continue
        op = step.operator
        with _named_if_out_of_memory(
            f"reading operator {op.name}'s inputs of batch {task.batch_id}"
        ):
            tables, input_rows = _inputs(task, step, events, produced)
        ctx = OpContext(day=task.day, batch_id=task.batch_id)
        batch = Batch(tables, task.batch_id)
        try:
            merge = task.phase == "merge"
            try:  # the operator's code, and what it returned (OutputError names the mistake)
                returned = op.merge(ctx, batch) if merge else op.transform(ctx, batch)
                outputs = normalise(op, returned, task.day, partial=op.two_phase and not merge)
                audit = op.audit(ctx, batch, outputs)
            except Exception as exc:
                where = f"operator {op.name} dt={task.day} batch {task.batch_id}"
                error = _out_of_memory(exc) or f"{type(exc).__name__}: {exc}{_in_own_code(exc, op)}"
                raise OperatorError(where, error, traceback.format_exc()) from exc
        finally:
            batch.close()
        if not op.two_phase or task.phase == "merge":
            produced.update(outputs)
        yield step, outputs, audit, input_rows, read


OUT_OF_MEMORY = ("MemoryError", "OutOfMemoryException")  # Python's and Arrow's; DuckDB's


@contextlib.contextmanager
def _named_if_out_of_memory(where: str) -> Iterator[None]:
    """An OperatorError naming `where` for a read that ran out of memory (other errors of a
    read keep their own types: a lost file, a bad one)."""
    try:
        yield
    except Exception as exc:
        said = _out_of_memory(exc)
        if said is None:
            raise
        raise OperatorError(where, said, traceback.format_exc()) from exc


def _out_of_memory(exc: Exception) -> str | None:
    """What to do about a batch that ran out of memory: DuckDB's own advice (`SET threads`,
    `SET memory_limit`) is no setting of a command line."""
    if not any(kind.__name__ in OUT_OF_MEMORY for kind in type(exc).__mro__):
        return None
    said = next((line for line in str(exc).splitlines() if line.strip()), "")
    kind = f"{type(exc).__name__}: {said}" if said else type(exc).__name__
    return (
        f"out of memory ({kind}): give the run more memory, or hold fewer "
        "batches at once (--num-cpus 1) or smaller ones (batch_bytes); a batch holds whole "
        "sessions, so the largest session of the day is the least it needs (README, --num-cpus)"
    )


PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
LIBRARIES = tuple({sysconfig.get_paths()[k] for k in ("stdlib", "purelib", "platlib")})


def _in_own_code(exc: BaseException, op: Operator) -> str:
    """` (at file:line)`: the innermost line of the traceback in a user's own code (not this
    package's, nor an installed library's, but for the operator's own package: a team installs
    its operators as a package too), so the one-line error points at it."""
    own = _package_of(op)
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = os.path.abspath(frame.filename)
        if frame.filename.startswith("<"):
            continue
        if path.startswith(own) or not path.startswith((PACKAGE, *LIBRARIES)):
            return f" (at {frame.filename}:{frame.lineno})"
    return ""


def _package_of(op: Operator) -> tuple[str, ...]:
    """The folders (or file) of the top-level package the operator's class is defined in;
    none for this package's own operators."""
    module = sys.modules.get(type(op).__module__.split(".")[0])
    folders = [os.path.abspath(p) + os.sep for p in getattr(module, "__path__", None) or []]
    file = getattr(module, "__file__", None)
    places = folders or ([os.path.abspath(file)] if file else [])
    return tuple(p for p in places if not p.startswith(PACKAGE))


def _needed_later(steps: tuple[Step, ...]) -> list[set[str]]:
    """For each step, the tables later steps read."""
    later: list[set[str]] = []
    wanted: set[str] = set()
    for step in reversed(steps):
        later.append(set(wanted))
        wanted.update(step.operator.inputs)
    return list(reversed(later))


def _read_raw(task: BatchTask) -> RawRead | None:
    """The batch's raw events, read once for every step: from raw_compacted or the raw files."""
    if task.compacted:
        ((spec, files),) = task.compacted
        names = events_schema(task.raw_columns).names
        return RawRead(read_files(task.lake, spec, files, names), [], [])
    if task.raw_files or any(RAW_TABLE in s.operator.inputs for s in task.steps):
        return read_events(
            task.lake,
            task.raw_files,
            on_bad_file=task.on_bad_file,
            threads=task.threads,
            columns=task.raw_columns,
        )
    return None


def _inputs(
    task: BatchTask, step: Step, events: pa.Table | None, produced: dict[str, pa.Table]
) -> tuple[dict[str, pa.Table], int]:
    """A step's batch tables, and the rows of its primary input."""
    op = step.operator
    tables: dict[str, pa.Table] = {}
    if task.phase == "merge":
        assert op.partial_schema is not None
        tables[PARTIALS] = read_partials(task.lake, task.partials, op.partial_schema)
        return tables, tables[PARTIALS].num_rows
    if RAW_TABLE in op.inputs:
        assert events is not None
        tables["events"] = _project(events, op)
    for spec, files in task.primary:
        tables[spec.name] = read_files(task.lake, spec, files)
    for spec, files in step.upstream:
        table = read_files(task.lake, spec, files)
        tables[spec.name] = filter_sessions(table, task.sessions) if task.sessions else table
    for name in op.inputs:
        if name in produced and name not in tables:
            tables[name] = produced[name]
    primary = "events" if op.inputs[0] == RAW_TABLE else op.inputs[0]
    return tables, tables[primary].num_rows


def _project(events: pa.Table, op: Operator) -> pa.Table:
    """Only the raw columns the operator declared, so it cannot use another by mistake."""
    if op.raw_columns is None:
        return events
    return events.select(events_schema(op.raw_columns).names)
