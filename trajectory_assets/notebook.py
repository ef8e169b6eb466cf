"""The notebook API: the same tables and operators as Dagster, from Python.

    ctx = trajectory_assets.connect("demo/lake", runtime="inline")
    ctx.read("sessions", dt="2026-11-20", app_id="support-bot", columns=["session_id", "cost_usd"])
    ctx.read_polars("turns", dt_from="2026-11-18", dt_to="2026-11-20")
    ctx.apply(MyOperator(), ["2026-11-20"])      # its outputs, computed, nothing written
    ctx.write(MyOperator(), ["2026-11-20"])      # committed exactly as a Dagster run commits

Reads prune partitions: only the files of the matching days (and apps) are opened.
"""

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.names import RUNTIME_NAMES, RuntimeName
from trajectory_assets.errors import NotMaterializedError, first_few
from trajectory_assets.lake.catalog import (
    Catalog,
    as_day,
    checked_columns,
    checked_days,
    partition_filter,
)
from trajectory_assets.lake.config import CONFIG, not_a_lake
from trajectory_assets.lake.fs import Lake, lake_from_env
from trajectory_assets.lake.layout import RAW_TABLE
from trajectory_assets.operator import Operator
from trajectory_assets.project import for_lake

if TYPE_CHECKING:
    import polars as pl

    from trajectory_assets.engine.results import RunResult
    from trajectory_assets.engine.runtimes.base import Runtime
    from trajectory_assets.engine.runtimes.ray import Dataset

Days = str | date | Sequence[str | date]


@dataclass
class Context:
    lake: Lake
    registry: Registry
    runtime_name: RuntimeName = "auto"

    @property
    def catalog(self) -> Catalog:
        """The lake's tables as the engine reads them (snapshots, days, files, versions)."""
        return Catalog(self.lake, self.registry.tables)

    def tables(self) -> list[str]:
        """The names of the tables this context's operators write (materialized or not)."""
        return sorted(self.registry.tables)

    def read(
        self,
        table: str,
        *,
        dt: str | date | None = None,
        dt_from: str | date | None = None,
        dt_to: str | date | None = None,
        app_id: str | Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
        version: int | None = None,
        as_of: datetime | str | None = None,
    ) -> pa.Table:
        """The table's rows (at its current version, or `version`, or the version current at
        `as_of`: a datetime with its zone, or ISO 8601 text, UTC without one) as Arrow, pruned
        by day and app (one or a list), in key order; `raw_events` gives the raw events as
        operators see them. NotMaterializedError for a table, or a
        `dt`, never materialized; a warning names the days of raw data a range leaves out."""
        catalog = self.catalog
        if version is None and as_of is None:
            self._materialized(catalog, table, dt, dt_from, dt_to)
        return catalog.read(
            table,
            dt=dt,
            dt_from=dt_from,
            dt_to=dt_to,
            app_id=app_id,
            columns=columns,
            version=version,
            as_of=as_of,
        )

    def read_polars(self, table: str, **filters: Any) -> "pl.DataFrame":
        """`read` as a Polars DataFrame; `filters` are `read`'s keywords."""
        import polars as pl

        frame = pl.from_arrow(self.read(table, **filters))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def read_ray(
        self,
        table: str,
        *,
        dt: str | date | None = None,
        dt_from: str | date | None = None,
        dt_to: str | date | None = None,
        app_id: str | Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> "Dataset":
        """The same rows as a Ray Dataset, read by Ray tasks from the matching files only
        (`raw_events`, plain Parquet that needs reading as operators read it, by this process)."""
        from trajectory_assets.engine.runtimes.ray import dataset_from_arrow, dataset_of

        if table == RAW_TABLE:
            rows = self.read(
                table, dt=dt, dt_from=dt_from, dt_to=dt_to, app_id=app_id, columns=columns
            )
            return dataset_from_arrow(rows)
        catalog = self.catalog
        spec = catalog.get(table)
        dt, dt_from, dt_to = checked_days(dt, dt_from, dt_to)
        self._materialized(catalog, table, dt, dt_from, dt_to)
        wanted = checked_columns(table, spec.schema, columns)
        where = partition_filter(spec, dt=dt, dt_from=dt_from, dt_to=dt_to, app_id=app_id)
        return dataset_of(self.lake, spec, where, wanted)

    def _materialized(
        self,
        catalog: Catalog,
        table: str,
        dt: str | date | None,
        dt_from: str | date | None,
        dt_to: str | date | None,
    ) -> None:
        """Refuse a read of what was never committed, rather than answer 0 rows."""
        from trajectory_assets.engine.lineage import not_materialized
        from trajectory_assets.lake.raw import list_days

        if table == RAW_TABLE:
            return
        dt, dt_from, dt_to = checked_days(dt, dt_from, dt_to)
        committed = set(catalog.days(table))
        if not committed:
            raise NotMaterializedError(f"{table} has not been materialized yet, for any day")
        if dt is not None:
            if dt not in committed:
                why = not_materialized(self.lake, [table], dt, [])
                raise NotMaterializedError(f"cannot read {why}")
            return
        raw = list_days(self.lake, dt_from or min(committed), dt_to or max(committed))
        if missing := [day for day in raw if day not in committed]:
            warnings.warn(
                f"{table} has not been materialized for {first_few(missing, 'more day(s)')} "
                "of raw data: those days are not in these rows",
                stacklevel=3,
            )

    def apply(self, op: Operator, days: Days) -> dict[str, pa.Table]:
        """The operator's outputs for `days` (one day or a list, as YYYY-MM-DD or `date`s),
        computed on this runtime, nothing written."""
        from trajectory_assets.engine.explore import apply

        registry, wanted = self._with(op), _days(days)
        runtime = self._runtime()
        try:
            return apply(registry, op, self.lake, wanted, runtime)
        finally:
            runtime.stop()

    def write(self, op: Operator, days: Days, *, force: bool = False) -> "RunResult":
        """Materialize the operator's tables for `days`: the same plan and Delta commits as a
        Dagster run (which this does not record in any Dagster instance). Days already computed
        by this operator's name and version from the same inputs are left as they are; `force`
        recomputes them (an operator edited without a new version). Its tables can be read
        from this context afterwards."""
        from trajectory_assets.defs.partitions import start_date_of
        from trajectory_assets.engine.materialize import run_operators
        from trajectory_assets.engine.settings import RunSettings

        registry, wanted = self._with(op), _days(days)
        settings = RunSettings(force=force, first_day=start_date_of(self.lake))
        runtime = self._runtime()
        try:
            result = run_operators(
                [op], self.lake, wanted, runtime, registry=registry, settings=settings
            )
        finally:
            runtime.stop()
        ours = [o for o in self.registry.operators if o.name != op.name]
        self.registry = Registry.build([*ours, op], self.registry.upstream)
        return result

    def _with(self, op: Operator) -> Registry:
        if isinstance(op, type):
            raise TypeError(f"{op.__name__} is not an operator instance: pass {op.__name__}()")
        if not isinstance(op, Operator):
            raise TypeError(f"{op!r} is not an operator: pass an instance of a ta.Operator class")
        others = [o for o in self.registry.everyone if o.name != op.name]
        return Registry.build([op], others)

    def _runtime(self) -> "Runtime":
        from trajectory_assets.engine.runtimes.auto import named_runtime

        def ray() -> "Runtime":
            from trajectory_assets.engine.runtimes.ray import RayRuntime

            return RayRuntime()

        return named_runtime(self.runtime_name, ray)


def _days(days: Days) -> list[str]:
    """The days of an apply or write, each checked: one day alone is not a list of letters."""
    listed = [days] if isinstance(days, str | date) else list(days)
    return list(dict.fromkeys(as_day(day, "days") for day in listed))


def connect(
    lake: str | os.PathLike[str] | Lake,
    runtime: RuntimeName = "auto",
    defs: str | Sequence[str] = (),
) -> Context:
    """A lake (a path, `~` expanded, or s3://bucket/prefix; or the `Lake` of an asset's
    `LakeResource`, `lake.lake()`, with its store's settings), with the built-in tables and
    those of `defs` modules (one or a list, each exposing `operators`), of
    TRAJECTORY_ASSETS_DEFS and of the lake's own config, as the command line has them.
    FileNotFoundError when nothing is there: a mistyped path would otherwise read as a lake
    without data."""
    if runtime not in RUNTIME_NAMES:
        raise ValueError(f"runtime={runtime!r}: choose one of {', '.join(RUNTIME_NAMES)}")
    if isinstance(lake, Lake):  # a resource's: its endpoint and options, not the environment's
        found = lake
    else:
        where = os.fspath(lake)
        found = lake_from_env(where if "://" in where else os.path.expanduser(where))
    if not found.fs.exists(found.root):
        raise FileNotFoundError(f"no lake at {found.display()}")
    if reason := not_a_lake(found):
        raise FileNotFoundError(reason)
    modules = [defs] if isinstance(defs, str) else list(defs)
    project = for_lake(found, modules, reader=True)
    if project.unloaded:
        warnings.warn(
            f"{found.display(CONFIG)} names definitions module(s) not installed here: "
            f"{', '.join(project.unloaded)}; their tables cannot be read through this context "
            "(install them to read those); the others can",
            stacklevel=2,
        )
    from trajectory_assets.defs.lake_params import unknown_sections  # Dagster's, when loaded

    registry = project.registry
    if unknown := unknown_sections(registry.operators, project.params):
        warnings.warn(  # a misspelt section would compute with the code's values unsaid
            f"{project.params_from}: params names no operator loaded here: "
            f"{', '.join(unknown)}; left out (`write` and `apply` compute with each operator's "
            "own values): load its module (defs=) or correct the name",
            stacklevel=2,
        )
    return Context(found, registry, runtime)
