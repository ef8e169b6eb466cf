"""Writers for concurrency tests: another materialization racing the one under test."""

import threading
from collections.abc import Sequence

from tests.runs import lake_catalog, run_one
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.engine.settings import RunSettings
from trajectory_assets.engine.tasks import BatchTask
from trajectory_assets.lake import delta_commit
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.staging import Attempt, BatchReceipt, empty_file
from trajectory_assets.operators import OPERATORS, Sessionize


class WriterRacingRuntime(InlineRuntime):
    """Runs its batches, then lets another writer materialize `day` before returning, as a
    second materialization of the same table and day launched at the same time would."""

    def __init__(self, other: Lake, day: str) -> None:
        super().__init__()
        self.other, self.day = other, day

    def run(self, tasks: Sequence[BatchTask]) -> list[BatchReceipt]:
        receipts = super().run(tasks)
        upstream = [op for op in OPERATORS if op.name != "sessionize"]
        the_other = RunSettings(run_id="the-other")
        run_one(
            Sessionize(),
            self.other,
            [self.day],
            InlineRuntime(),
            upstream=upstream,
            settings=the_other,
        )
        return receipts


def commit_at_once(lake: Lake, days: Sequence[str]) -> list[int | Exception | None]:
    """One writer per entry of `days` (repeats allowed) commits that day of `sessions`, all at
    the same moment, each with its own file: what each got back (a version, or its error)."""
    spec = lake_catalog(lake).get("sessions")
    files = [empty_file(Attempt(lake, "t", d, f"{i:016x}"), spec) for i, d in enumerate(days)]
    start = threading.Barrier(len(days))
    outcomes: list[int | Exception | None] = [None] * len(days)

    def commit(i: int) -> None:
        start.wait()
        try:
            outcomes[i] = delta_commit.commit_day(
                lake, spec, days[i], [files[i]], {}, since_version=-1
            )
        except Exception as exc:  # the outcome under test
            outcomes[i] = exc

    threads = [threading.Thread(target=commit, args=(i,)) for i in range(len(days))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes
