"""What a runtime is: something that runs batch tasks and hands back their receipts."""

from collections.abc import Sequence
from typing import Protocol

import pyarrow as pa

from trajectory_assets.engine.tasks import BatchTask
from trajectory_assets.lake.staging import BatchReceipt


class Runtime(Protocol):
    @property
    def name(self) -> str:
        """What runs the batches, as the metadata and `explain` report it."""
        ...

    @property
    def parallelism(self) -> int:
        """How many batches the last run could run at once (0 before one): a run's metadata says
        it, since `--num-cpus`, a cluster's size or the machine's cores decide it."""
        ...

    def run(self, tasks: Sequence[BatchTask]) -> list[BatchReceipt]:
        """Run every task (in any order); the receipts of every step they finished."""
        ...

    def compute(self, tasks: Sequence[BatchTask]) -> list[dict[str, pa.Table]]:
        """Every task's outputs in memory, nothing written (for exploring an operator)."""
        ...

    def stop(self) -> None:
        """Release what the runtime started (nothing, for most)."""
        ...
