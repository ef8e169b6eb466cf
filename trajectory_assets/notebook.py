"""The notebook API: the same tables and operators as Dagster, from Python.

    ctx = trajectory_assets.connect("demo/lake", runtime="inline")
    ctx.read("sessions", dt="2026-11-20", app_id="support-bot", columns=["session_id", "cost_usd"])
    ctx.read_polars("turns", dt_from="2026-11-18", dt_to="2026-11-20")
    ctx.apply(MyOperator(), ["2026-11-20"])      # its outputs, computed, nothing written
    ctx.write(MyOperator(), ["2026-11-20"])      # committed exactly as a Dagster run commits

Reads prune partitions: only the files of the matching days (and apps) are opened.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Literal

import pyarrow as pa

from trajectory_assets.engine.registry import Registry
from trajectory_assets.lake.catalog import (
    Catalog,
    checked_columns,
    checked_days,
    partition_filter,
)
from trajectory_assets.lake.config import not_a_lake
from trajectory_assets.lake.fs import Lake, lake_from_env
from trajectory_assets.operator import Operator
from trajectory_assets.project import for_lake

if TYPE_CHECKING:
    import polars as pl

    from trajectory_assets.engine.results import RunResult
    from trajectory_assets.engine.runtimes.base import Runtime
    from trajectory_assets.engine.runtimes.ray import Dataset

RuntimeName = Literal["auto", "ray", "inline"]


@dataclass
class Context:
    lake: Lake
    registry: Registry
    runtime_name: RuntimeName = "auto"

    @property
    def catalog(self) -> Catalog:
        return Catalog(self.lake, self.registry.tables)

    def tables(self) -> list[str]:
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
        as_of: datetime | None = None,
    ) -> pa.Table:
        """The table's rows (at its current version, or `version`, or the version current at
        `as_of`) as Arrow, pruned by day and app (one or a list), in key order; `raw_events`
        gives the raw events as operators see them."""
        return self.catalog.read(
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
        """The same rows as a Ray Dataset, read by Ray tasks from the matching files only."""
        from trajectory_assets.engine.runtimes.ray import dataset_of

        spec = self.catalog.get(table)
        dt, dt_from, dt_to = checked_days(dt, dt_from, dt_to)
        wanted = checked_columns(table, spec.schema, columns)
        where = partition_filter(spec, dt=dt, dt_from=dt_from, dt_to=dt_to, app_id=app_id)
        return dataset_of(self.lake, spec, where, wanted)

    def apply(self, op: Operator, days: Sequence[str]) -> dict[str, pa.Table]:
        """The operator's outputs for `days`, computed on this runtime, nothing written."""
        from trajectory_assets.engine.explore import apply

        runtime = self._runtime()
        try:
            return apply(self._with(op), op, self.lake, days, runtime)
        finally:
            runtime.stop()

    def write(self, op: Operator, days: Sequence[str]) -> "RunResult":
        """Materialize the operator's tables for `days`: the same plan and Delta commits as a
        Dagster run (which this does not record in any Dagster instance)."""
        from trajectory_assets.engine.materialize import run_operators

        runtime = self._runtime()
        try:
            return run_operators([op], self.lake, days, runtime, registry=self._with(op))
        finally:
            runtime.stop()

    def _with(self, op: Operator) -> Registry:
        others = [o for o in self.registry.everyone if o.name != op.name]
        return Registry.build([op], others)

    def _runtime(self) -> "Runtime":
        from trajectory_assets.engine.runtimes.auto import AutoRuntime
        from trajectory_assets.engine.runtimes.inline import InlineRuntime

        def ray() -> "Runtime":
            from trajectory_assets.engine.runtimes.ray import RayRuntime

            return RayRuntime()

        if self.runtime_name == "inline":
            return InlineRuntime()
        if self.runtime_name == "ray":
            return ray()
        return AutoRuntime(ray)


def connect(lake: str, runtime: RuntimeName = "auto", defs: Sequence[str] = ()) -> Context:
    """A lake (a path or s3://bucket/prefix), with the built-in tables and those of `defs`
    modules (each exposing `operators`), of TRAJECTORY_ASSETS_DEFS and of the lake's own
    config, as the command line has them. FileNotFoundError when nothing is there: a mistyped
    path would otherwise read as a lake without data."""
    found = lake_from_env(lake)
    if not found.fs.exists(found.root):
        raise FileNotFoundError(f"no lake at {found.display()}")
    if reason := not_a_lake(found):
        raise FileNotFoundError(reason)
    return Context(found, for_lake(found, defs).registry, runtime)
