"""Running one batch task: read its inputs, apply the operator, write its outputs' data files.

This is the whole body of a Ray task, and of an in-process loop iteration: both runtimes call
the same function, which is why they cannot drift apart.
"""

import pyarrow as pa
import pyarrow.parquet as pq

from trajectory_assets.engine.batch import Batch
from trajectory_assets.engine.operator import PARTIALS, OpContext, normalise
from trajectory_assets.engine.plan import BatchTask, output_specs
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta import read_files
from trajectory_assets.lake.layout import COMPACTED_TABLE, RAW_TABLE
from trajectory_assets.lake.raw import events_schema, filter_sessions, read_events
from trajectory_assets.lake.staging import BatchReceipt, stage_batch


def run_task(task: BatchTask) -> BatchReceipt:
    op = task.operator
    catalog = Catalog(task.lake)
    tables: dict[str, pa.Table] = {}
    skipped: list[tuple[str, str]] = []
    input_rows = 0
    if task.compacted:
        columns = events_schema(op.raw_columns).names
        compacted = read_files(task.lake, catalog.get(COMPACTED_TABLE), task.compacted, columns)
        tables["events"] = compacted
    elif task.raw_files:
        tables["events"], skipped = read_events(
            task.lake, task.raw_files, on_bad_file=task.on_bad_file, columns=op.raw_columns
        )
    if "events" in tables:
        input_rows = tables["events"].num_rows
    for name, files in task.upstream:
        table = read_files(task.lake, catalog.get(name), files)
        if task.sessions:
            table = filter_sessions(table, task.sessions)
        tables[name] = table
        if "events" not in tables:
            input_rows += table.num_rows
    if task.partials:
        assert op.partial_schema is not None
        tables[PARTIALS] = _read_partials(task, op.partial_schema)
    if RAW_TABLE in op.inputs and "events" not in tables:
        tables["events"] = read_events(task.lake, (), columns=op.raw_columns)[0]
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


def _read_partials(task: BatchTask, schema: pa.Schema) -> pa.Table:
    arrow_fs = task.lake.arrow_fs
    return pa.concat_tables(
        [pq.read_table(p, filesystem=arrow_fs).cast(schema) for p in task.partials]
    )
