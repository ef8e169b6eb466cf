"""Running one batch task: read its inputs, apply the operator, write its outputs to staging.

This is the whole body of a Ray task, and of an in-process loop iteration: both runtimes call
the same function, which is why they cannot drift apart.
"""

import pyarrow as pa
import pyarrow.parquet as pq

from trajectory_assets.engine.batch import Batch
from trajectory_assets.engine.operator import PARTIALS, OpContext, normalise
from trajectory_assets.engine.plan import BatchTask, output_specs
from trajectory_assets.lake.catalog import RAW_TABLE, Catalog
from trajectory_assets.lake.commit import BatchReceipt, stage_batch
from trajectory_assets.lake.raw import filter_sessions, read_compacted, read_events


def run_task(task: BatchTask) -> BatchReceipt:
    op = task.operator
    catalog = Catalog(task.lake)
    tables: dict[str, pa.Table] = {}
    skipped: list[tuple[str, str]] = []
    input_rows = 0
    if task.compacted:
        tables["events"] = read_compacted(task.lake, task.compacted, op.raw_columns)
    elif task.raw_files:
        tables["events"], skipped = read_events(
            task.lake, task.raw_files, on_bad_file=task.on_bad_file, columns=op.raw_columns
        )
    if "events" in tables:
        input_rows = tables["events"].num_rows
    for name, paths in task.upstream:
        schema = op.partial_schema if name == PARTIALS else catalog.get(name).schema
        table = _read_files(task, paths, schema)
        if task.sessions and name != PARTIALS:
            table = filter_sessions(table, task.sessions)
        tables[name] = table
        if "events" not in tables:
            input_rows += table.num_rows
    if RAW_TABLE in op.inputs and "events" not in tables:
        tables["events"] = read_events(task.lake, ())[0]
    ctx = OpContext(day=task.day, batch_id=task.batch_id)
    batch = Batch(tables, task.batch_id)
    try:
        if task.phase == "merge":
            outputs = normalise(op, op.merge(ctx, batch))
        else:
            result = op.transform(ctx, batch)
            outputs = normalise(op, result, partial=op.two_phase)
    finally:
        batch.close()
    return stage_batch(
        task.attempt,
        task.batch_id,
        outputs,
        output_specs(op, catalog),
        input_rows=input_rows,
        skipped_files=skipped,
    )


def _read_files(task: BatchTask, paths: tuple[str, ...], schema: pa.Schema) -> pa.Table:
    if not paths:
        return schema.empty_table()
    arrow_fs = task.lake.arrow_fs
    return pa.concat_tables([pq.read_table(p, filesystem=arrow_fs).cast(schema) for p in paths])
