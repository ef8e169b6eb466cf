"""Definitions modules the command-line tests write beside a lake and load with `--defs`."""

DYING = '''
import os

import pyarrow as pa
import trajectory_assets as ta


class Dying(ta.Operator):
    """Its batch's process exits, as one the kernel killed for memory does."""

    name, version, inputs = "dying", "1", ("raw_events",)
    outputs = (
        ta.TableSpec(
            "dying",
            pa.schema([ta.column("dt", pa.string(), "Day."), ta.column("app_id", pa.string(), "")]),
            partition_by=(),
            keys=("app_id",),
            description="Never written.",
        ),
    )

    def transform(self, ctx, batch):
        os._exit(1)


operators = [Dying()]
'''

DUPLICATE_KEYS = '''
import pyarrow as pa
import trajectory_assets as ta


class PerApp(ta.Operator):
    """Declares one row per app, but each batch (here one raw file, one session) writes its
    own: the rows repeat a key only across batches, which the unique_keys check finds after the
    commit (a repeat within a batch is refused before it)."""

    name, version, inputs = "per_app", "1", ("raw_events",)
    outputs = (
        ta.TableSpec(
            "per_app",
            pa.schema([ta.column("dt", pa.string(), "Day."), ta.column("app_id", pa.string(), "")]),
            partition_by=(),
            keys=("app_id",),
            description="One row per app.",
        ),
    )

    def transform(self, ctx, batch):
        return batch.sql("SELECT DISTINCT dt, app_id FROM events")


operators = [PerApp()]
'''
