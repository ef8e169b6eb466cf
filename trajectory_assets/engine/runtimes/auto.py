"""The default runtime: in-process for small work, Ray for the rest, decided per run.

A small run (a day of ~100k events) spends more on starting Ray and scheduling a Ray Data job
than on its batches, while the in-process runtime uses every core with threads; a large one
gains from Ray's processes (and from a cluster). The choice is made on the first batches a run
submits, from the bytes they read, and kept for the rest of the run; `name` reports it.
"""

from collections.abc import Callable, Sequence

import pyarrow as pa

from trajectory_assets.engine.runtimes.base import Runtime
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.engine.runtimes.names import RuntimeName
from trajectory_assets.engine.tasks import BatchTask
from trajectory_assets.lake.staging import BatchReceipt

DEFAULT_THRESHOLD_BYTES = 256 * 1024 * 1024
"""Raw input below which a run stays in-process (measured: see benchmarks/README.md)."""


def named_runtime(
    name: RuntimeName,
    make_ray: Callable[[], Runtime],
    workers: int | None = None,
    threshold_bytes: int = DEFAULT_THRESHOLD_BYTES,
) -> Runtime:
    """The runtime a user named; Ray is started only through `make_ray`, and only when used."""
    if name == "inline":
        return InlineRuntime(workers)
    if name == "ray":
        return make_ray()
    return AutoRuntime(make_ray, threshold_bytes, workers)


def input_bytes(tasks: Sequence[BatchTask]) -> int:
    raw = sum(f.size for t in tasks for f in t.raw_files)
    tables = sum(f.size for t in tasks for _, files in (*t.compacted, *t.primary) for f in files)
    return raw + tables


class AutoRuntime:
    def __init__(
        self,
        make_ray: Callable[[], Runtime],
        threshold_bytes: int = DEFAULT_THRESHOLD_BYTES,
        workers: int | None = None,
    ) -> None:
        self.make_ray = make_ray
        self.threshold_bytes = threshold_bytes
        self.workers = workers  # of the in-process runtime, when chosen
        self.chosen: Runtime | None = None

    @property
    def name(self) -> str:
        return f"auto: {self.chosen.name}" if self.chosen is not None else "auto"

    @property
    def parallelism(self) -> int:
        return self.chosen.parallelism if self.chosen is not None else 0

    @property
    def start_seconds(self) -> float:
        return float(getattr(self.chosen, "start_seconds", 0.0))

    def run(self, tasks: Sequence[BatchTask]) -> list[BatchReceipt]:
        chosen = self._choose(tasks)
        return chosen.run(tasks) if chosen is not None else []

    def compute(self, tasks: Sequence[BatchTask]) -> list[dict[str, pa.Table]]:
        chosen = self._choose(tasks)
        return chosen.compute(tasks) if chosen is not None else []

    def _choose(self, tasks: Sequence[BatchTask]) -> Runtime | None:
        """The runtime of the whole run, chosen on its first tasks."""
        if self.chosen is None and tasks:
            small = input_bytes(tasks) < self.threshold_bytes
            self.chosen = InlineRuntime(self.workers) if small else self.make_ray()
        return self.chosen

    def stop(self) -> None:
        if self.chosen is not None:
            self.chosen.stop()
