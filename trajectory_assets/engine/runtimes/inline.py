"""In-process runtime: for tests, small lakes and machines without Ray.

Batches run on a pool of threads, one per core by default: reading Parquet, DuckDB and Arrow
release the GIL, so the in-process runtime keeps every core busy too.
"""

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from trajectory_assets.engine.execute import compute_task, run_task
from trajectory_assets.engine.tasks import BatchTask
from trajectory_assets.lake.staging import BatchReceipt


class InlineRuntime:
    name = "inline"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    def run(self, tasks: Sequence[BatchTask]) -> list[BatchReceipt]:
        if self.workers == 1 or len(tasks) <= 1:
            return [r for task in tasks for r in run_task(task)]
        with ThreadPoolExecutor(max_workers=min(self.workers, len(tasks))) as pool:
            return [r for receipts in pool.map(run_task, tasks) for r in receipts]

    def compute(self, tasks: Sequence[BatchTask]) -> list[dict[str, pa.Table]]:
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(tasks)))) as pool:
            return list(pool.map(compute_task, tasks))

    def stop(self) -> None:
        pass
