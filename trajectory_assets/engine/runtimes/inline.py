"""In-process runtime: for tests, small lakes and machines without Ray.

Batches run on a pool of threads, one per core by default: reading Parquet, DuckDB and Arrow
release the GIL, so the in-process runtime keeps every core busy too.
"""

import dataclasses
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait

import pyarrow as pa

from trajectory_assets.engine.execute import Outcome, collect, compute_task, run_task
from trajectory_assets.engine.tasks import BatchTask
from trajectory_assets.errors import BadRawFilesError, LostDataFileError, OperatorError
from trajectory_assets.lake.staging import BatchReceipt

SIGNAL_LATENCY_S = 0.2
"""How long the waiting thread blocks at a time. Python runs a signal's handler (Ctrl+C, the
SIGTERM of Dagster's Terminate) in the main thread between bytecodes; a signal the kernel gave
another thread (one of Polars' or DuckDB's) does not wake a blocked wait, so an interrupt took
effect only when the batch under way ended, minutes later for a large one."""


class InlineRuntime:
    name = "inline"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = workers or os.cpu_count() or 1

    @property
    def parallelism(self) -> int:
        return self.workers

    def run(self, tasks: Sequence[BatchTask]) -> list[BatchReceipt]:
        """Every task runs, even after one finds unreadable raw files, so that the error names
        every bad file of the run, not only the first batch's. Interrupted (Ctrl+C, or Dagster
        terminating the run): at once, the batches not started never start, and those under
        way write nothing (a thread cannot be stopped mid-computation, and the process lives on
        until they end, while Dagster already counts the run canceled and its pool slot free)."""
        pool = ThreadPoolExecutor(max_workers=self._pool_size(tasks))
        stop = threading.Event()
        try:
            futures = [pool.submit(_outcome, t, stop.is_set) for t in self._with_cores(tasks)]
            pending = set(futures)
            while pending:  # a wait without a timeout took Ctrl+C only once a batch ended
                done, pending = wait(pending, SIGNAL_LATENCY_S, return_when=FIRST_EXCEPTION)
                for future in done:
                    future.result()  # an unexpected error (a full disk) stops the rest now
            outcomes = [f.result() for f in futures]
        except BaseException:
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
        return collect(outcomes)

    def compute(self, tasks: Sequence[BatchTask]) -> list[dict[str, pa.Table]]:
        with ThreadPoolExecutor(max_workers=self._pool_size(tasks)) as pool:
            return list(pool.map(compute_task, self._with_cores(tasks)))

    def _pool_size(self, tasks: Sequence[BatchTask]) -> int:
        return max(1, min(self.workers, len(tasks)))

    def _with_cores(self, tasks: Sequence[BatchTask]) -> list[BatchTask]:
        """Tasks told how many cores each has to itself: one per core when there are more
        tasks than cores, the spare cores shared out when there are fewer."""
        threads = max(1, self.workers // self._pool_size(tasks))
        return [dataclasses.replace(t, threads=threads) for t in tasks]

    def stop(self) -> None:
        pass


def _outcome(task: BatchTask, stopped: Callable[[], bool]) -> Outcome:
    try:
        return run_task(task, stopped)
    except (BadRawFilesError, OperatorError, LostDataFileError) as exc:
        return exc
