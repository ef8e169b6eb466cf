"""raw_compacted: the raw events of a day rewritten as a few files per app, whole sessions each.

Grain: one row per raw row, invalid and duplicate rows included, with the file and row it came
from; nothing is validated or dropped here, so every operator computes the same tables from
it as from the raw files. Tier A stores one file or more per session, and opening tens of
thousands of small files is what reading a day costs; compacting once lets every session
operator after it read a few large files.
"""

import pyarrow as pa

from trajectory_assets.engine.batch import Batch
from trajectory_assets.engine.operator import OpContext, Operator


class Compact(Operator):
    name = "compact"
    version = "1"
    outputs = ("raw_compacted",)
    inputs = ("raw_events",)
    requires = "session"
    batch_scale = 8  # fewer, larger output files are the point of compaction

    def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.arrow()
