"""A batch's receipt survives the trip through its JSON file (what a roll-forward reads), and
an intent tells a commit being made now from an interrupted one."""

import os
import socket
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from tests.runs import intent_metadata
from trajectory_assets.lake.staging import BatchReceipt, Intent, committing_now, split_partitions
from trajectory_assets.operators import Sessionize


def test_a_receipt_reads_back_as_written_and_older_receipts_still_read() -> None:
    receipt = BatchReceipt(
        operator="sessionize",
        batch_id="b0001",
        day="2026-11-18",
        files=(),
        input_rows=3,
        skipped_files=(("raw_events/a.parquet", "cannot be read"),),
        unknown_columns=(("raw_events/b.parquet", "input_token"),),
        audit=(("n_events", 3),),
        worker="host:1",
    )
    assert BatchReceipt.from_json(receipt.to_json()) == receipt
    older = receipt.to_json().replace(
        ', "unknown_columns": [["raw_events/b.parquet", "input_token"]]', ""
    )
    assert "unknown_columns" not in older
    assert BatchReceipt.from_json(older).unknown_columns == ()


@pytest.mark.slow
def test_a_commit_is_being_made_now_only_by_a_running_other_process_of_its_start() -> None:
    """An intent's writer that ended, or whose process id another process took since, or this
    very process, commits nothing now: its intent is an interrupted one, to complete."""
    host = socket.gethostname()
    other = subprocess.Popen(["sleep", "60"])
    try:
        started = Path(f"/proc/{other.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        metadata = intent_metadata(Sessionize(), "r")
        intent = Intent(
            tables=[], batches=[], metadata=metadata, writer=f"{host}:{other.pid}:{started}"
        )
        assert committing_now(intent) == other.pid
        assert committing_now({**intent, "writer": f"{host}:{other.pid}:1"}) is None  # reused
        assert committing_now({**intent, "writer": f"elsewhere:{other.pid}:{started}"}) is None
        assert committing_now({**intent, "writer": ""}) is None  # an older intent
        mine = f"{host}:{os.getpid()}:{Path('/proc/self/stat').read_text().split()[21]}"
        assert committing_now({**intent, "writer": mine}) is None
    finally:
        other.kill()
        other.wait()
    assert committing_now(intent) is None


def test_rows_split_by_partition_keep_their_order_and_nulls_their_own_partition() -> None:
    """One pass over the rows, not one filter of the whole table per partition: a batch of
    10,000 free-text error types took minutes in the split."""
    apps = ["b", "a", None, "a", "b", "a", None]
    kinds = ["x", "y", "x", "y", "x", "x", "x"]
    table = pa.table({"app_id": apps, "error_type": kinds, "n": list(range(7))})
    parts = split_partitions(table, ["app_id", "error_type"])
    assert [(key, part["n"].to_pylist()) for key, part in parts] == [  # by folder name
        ({"app_id": None, "error_type": "x"}, [2, 6]),  # app_id=__HIVE_DEFAULT_PARTITION__
        ({"app_id": "a", "error_type": "x"}, [5]),
        ({"app_id": "a", "error_type": "y"}, [1, 3]),
        ({"app_id": "b", "error_type": "x"}, [0, 4]),
    ]
    assert split_partitions(table, []) == [({}, table)]
    assert split_partitions(table.slice(0, 0), ["app_id"]) == []
