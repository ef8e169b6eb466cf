"""In-process runtime: for tests, tiny lakes and machines without Ray."""

from collections.abc import Sequence

from trajectory_assets.engine.execute import run_task
from trajectory_assets.engine.plan import BatchTask
from trajectory_assets.lake.staging import BatchReceipt


class InlineRuntime:
    name = "inline"

    def run(self, tasks: Sequence[BatchTask]) -> list[BatchReceipt]:
        return [run_task(task) for task in tasks]
