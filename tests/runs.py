"""Materializing in tests: the engine's run over a test lake, with the built-in operators as
the tables an operator may read, and the settings tests vary as keywords."""

from collections.abc import Sequence

import pyarrow as pa
import pytest

from trajectory_assets.engine.materialize import DEFAULTS, run_operators
from trajectory_assets.engine.plan import DayPlan, plan_days
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.results import OperatorResult, RunResult
from trajectory_assets.engine.runtimes.base import Runtime
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.engine.settings import RunSettings
from trajectory_assets.lake import delta, delta_read
from trajectory_assets.lake.bad_file_rules import OnBadFile
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta_history import OperatorCommitInfo
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operator import Operator
from trajectory_assets.operators import OPERATORS, TABLES
from trajectory_assets.schema import TableSpec


def settings(
    batch_bytes: int | None = None, on_bad_file: OnBadFile = "fail", force: bool = False
) -> RunSettings:
    if batch_bytes is None:
        return RunSettings(on_bad_file=on_bad_file, force=force)
    return RunSettings(batch_bytes=batch_bytes, on_bad_file=on_bad_file, force=force)


def run_one(
    op: Operator,
    lake: Lake,
    days: Sequence[str],
    runtime: Runtime,
    *,
    upstream: Sequence[Operator] = (),
    settings: RunSettings = DEFAULTS,
) -> OperatorResult:
    """One operator's days; `upstream` are the operators whose tables it reads."""
    registry = Registry.build([op], upstream)
    return run_operators([op], lake, days, runtime, registry=registry, settings=settings).of(op)


def run_operator(
    op: Operator,
    lake: Lake,
    days: Sequence[str],
    runtime: Runtime | None = None,
    *,
    batch_bytes: int | None = None,
    on_bad_file: OnBadFile = "fail",
    force: bool = False,
) -> OperatorResult:
    upstream = [o for o in OPERATORS if o.name != op.name]
    return run_one(
        op,
        lake,
        days,
        runtime or InlineRuntime(),
        upstream=upstream,
        settings=settings(batch_bytes, on_bad_file, force),
    )


def run_all(
    lake: Lake,
    days: Sequence[str],
    runtime: Runtime | None = None,
    *,
    operators: Sequence[Operator] = OPERATORS,
    batch_bytes: int | None = None,
    on_bad_file: OnBadFile = "fail",
) -> RunResult:
    """Every given operator in one run: shared batches, as a Dagster materialization runs them."""
    names = {op.name for op in operators}
    return run_operators(
        operators,
        lake,
        days,
        runtime or InlineRuntime(),
        registry=Registry.build(operators, [o for o in OPERATORS if o.name not in names]),
        settings=settings(batch_bytes, on_bad_file),
    )


def plan(
    op: Operator, lake: Lake, days: Sequence[str], *, batch_bytes: int | None = None
) -> list[DayPlan]:
    registry = Registry.build([op], [o for o in OPERATORS if o.name != op.name])
    catalog = Catalog(lake, registry.tables)
    return [d for d, _ in plan_days(registry, [op], catalog, days, settings(batch_bytes))]


def lake_catalog(lake: Lake) -> Catalog:
    return Catalog(lake, TABLES)


def intent_metadata(op: Operator, run_id: str) -> OperatorCommitInfo:
    """What a run of `op` records with its commits, for an intent a test writes by hand."""
    return {
        "operator": op.name,
        "operator_version": op.version,
        "operator_fingerprint": op.fingerprint,
        "attempt": "by-hand",
        "input_fingerprint": "",
        "operator_params": "{}",
        "operator_described": "{}",
        "source": "raw_events",
        "run_id": run_id,
        "skipped_files": "[]",
        "audit": "{}",
    }


def table_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The tables opened from their Delta log from now on, by name, in order."""
    opened: list[str] = []
    real = delta.open_table

    def counted(lake: Lake, name: str, version: int | None = None) -> object:
        opened.append(name)
        return real(lake, name, version)

    monkeypatch.setattr(delta, "open_table", counted)
    return opened


def files_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The data files read by `delta_read.read_files` from now on, by path, in order."""
    read: list[str] = []
    real = delta_read.read_files

    def counted(
        lake: Lake, spec: TableSpec, files: Sequence[delta.DataFile], columns: list[str]
    ) -> pa.Table:
        read.extend(f.path for f in files)
        return real(lake, spec, files, columns)

    monkeypatch.setattr(delta_read, "read_files", counted)
    return read
