"""What a runtime is: something that runs batch tasks and hands back their receipts."""

from collections.abc import Sequence
from typing import Protocol

from trajectory_assets.engine.plan import BatchTask
from trajectory_assets.lake.staging import BatchReceipt


class Runtime(Protocol):
    name: str

    def run(self, tasks: Sequence[BatchTask]) -> list[BatchReceipt]:
        """Run every task (in any order); receipts in the order of `tasks`."""
        ...
