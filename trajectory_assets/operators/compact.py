"""raw_compacted: the raw events of a day rewritten as a few files per app, whole sessions each.

Grain: one row per raw row, invalid and duplicate rows included, with the file and row it came
from; nothing is validated or dropped here, so every operator computes the same tables from
it as from the raw files. Tier A stores one file or more per session, and opening tens of
thousands of small files is what reading a day costs; compacting once lets every session
operator after it read a few large files.
"""

from collections.abc import Mapping

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.operator import OpContext, Operator
from trajectory_assets.schema import EVENTS, TableSpec

RAW_COMPACTED_TABLE = TableSpec(
    "raw_compacted",
    EVENTS,
    partition_by=(),
    keys=("app_id", "session_id", "ts", "source_file", "source_row"),
    description="Every raw row, invalid ones included, a few files per day and app, whole "
    "sessions sorted by time; the session assets read it instead of the raw files while fresh.",
)
"""Partitioned by day only: `app_id` stays a column exactly as the producer wrote it (a
partition value could not keep an empty app id apart from a null one). Each file holds whole
sessions of one app, which its statistics state, so readers pick a range of sessions by file."""


class Compact(Operator):
    name = "compact"
    version = "2"  # 2: the `unreadable` column
    outputs = (RAW_COMPACTED_TABLE,)
    inputs = ("raw_events",)

    def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
        return batch.arrow()

    def audit(
        self, ctx: OpContext, batch: Batch, outputs: Mapping[str, pa.Table]
    ) -> dict[str, int]:
        """The raw rows read, which the committed day must hold exactly."""
        return {"raw_rows": batch.arrow().num_rows}
