"""An interrupted in-process run: Dagster's Terminate (or Ctrl+C) marks the run canceled and
frees its pool slot at once, but a batch under way in a thread cannot be stopped: it computes on,
and must write nothing into the staging area the next run of the day uses."""

import os
import signal
import threading
import time
from pathlib import Path

import polars  # noqa: F401 - its threads, present in a run, may be the ones a signal reaches
import pyarrow as pa
import pytest

from tests.lakes import DAY1, SMALL_BATCHES
from tests.runs import run_operator
from trajectory_assets.batch import Batch
from trajectory_assets.engine import execute
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operator import OpContext
from trajectory_assets.operators import Sessionize


def test_batches_under_way_when_the_run_is_interrupted_write_nothing(lake: Lake) -> None:
    started, ended = threading.Event(), threading.Event()

    class Slow(Sessionize):
        def transform(self, ctx: OpContext, batch: Batch) -> dict[str, pa.Table]:
            started.set()
            try:
                time.sleep(3.0)
                return super().transform(ctx, batch)
            finally:
                ended.set()

    def interrupt() -> None:  # Ctrl+C, or Dagster's Terminate of the run worker, mid-batch
        if started.wait(60):
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_operator(Slow(), lake, [DAY1], InlineRuntime(workers=1), batch_bytes=SMALL_BATCHES)
    assert not ended.is_set()  # at once, not once the batch ended (a signal Polars' threads
    # took did not wake the waiting main thread: it wrote that batch, then stopped)
    assert ended.wait(30)
    time.sleep(0.5)  # what the batch would write, it writes now
    assert not list(Path(lake.root, "_staging").rglob("_batches/*.json"))


def test_an_unexpected_error_of_a_batch_stops_the_batches_not_started(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while a batch writes: the run fails at once, not after every batch queued."""
    computed = []

    class Counted(Sessionize):
        def transform(self, ctx: OpContext, batch: Batch) -> dict[str, pa.Table]:
            computed.append(batch)
            return super().transform(ctx, batch)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(execute, "stage_batch", full)
    with pytest.raises(OSError, match="No space left"):
        run_operator(Counted(), lake, [DAY1], InlineRuntime(workers=1), batch_bytes=SMALL_BATCHES)
    assert len(computed) == 1
