"""Running an operator to look at its outputs, without writing anything: a notebook's `apply`."""

from collections.abc import Sequence
from dataclasses import replace

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.engine.lineage import in_lake
from trajectory_assets.engine.outputs import normalise
from trajectory_assets.engine.plan import plan_day
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.base import Runtime
from trajectory_assets.engine.settings import RunSettings
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import RAW_TABLE
from trajectory_assets.lake.raw import list_raw_files
from trajectory_assets.lake.staging import PARTIALS
from trajectory_assets.operator import OpContext, Operator

DEFAULTS = RunSettings()


def apply(
    registry: Registry,
    op: Operator,
    lake: Lake,
    days: Sequence[str],
    runtime: Runtime,
) -> dict[str, pa.Table]:
    """The operator's outputs for these days, computed on the runtime from its inputs as they
    are committed (or raw), whether or not its own tables are up to date."""
    (op,) = in_lake(lake, [op])
    registry = Registry.build([op], [o for o in registry.everyone if o.name != op.name])
    catalog = Catalog(lake, registry.tables)
    found: dict[str, list[pa.Table]] = {t: [] for t in op.output_names}
    for day in days:
        raw = list_raw_files(lake, dt=day) if RAW_TABLE in op.inputs else []
        day_plan, _ = plan_day(registry, [op], catalog, day, raw, replace(DEFAULTS, force=True))
        computed = runtime.compute(day_plan.tasks)
        if op.two_phase:
            computed = [_merge(op, day, [c[PARTIALS] for c in computed])]
        for outputs in computed:
            for table, rows in outputs.items():
                found[table].append(rows)
    return {
        t: pa.concat_tables(parts) if parts else op.spec(t).schema.empty_table()
        for t, parts in found.items()
    }


def _merge(op: Operator, day: str, partials: list[pa.Table]) -> dict[str, pa.Table]:
    assert op.partial_schema is not None
    rows = pa.concat_tables(partials) if partials else op.partial_schema.empty_table()
    batch = Batch({PARTIALS: rows}, "merge")
    try:
        return normalise(op, op.merge(OpContext(day, "merge"), batch), day)
    finally:
        batch.close()
