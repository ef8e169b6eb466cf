"""How a run sizes its batches, and how the in-process runtime shares out its cores."""

import pytest

from tests.lakes import DAY1
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.engine.settings import (
    AUTO_BATCH_BYTES,
    MAX_BATCH_BYTES,
    MIN_BATCH_BYTES,
    RunSettings,
)
from trajectory_assets.engine.tasks import BatchTask
from trajectory_assets.lake.fs import Lake

MIB = 1024 * 1024


@pytest.mark.parametrize(
    ("day_mib", "cores", "expected_mib"),
    [
        (1, 2, 8),  # a small day: the smallest batches, as many as it takes
        (30, 2, 15),  # a day of ~40k events on 2 cores: one batch per core
        (77, 16, 8),  # a day of ~100k events on 16 cores: the floor, so every core gets work
        (50, 2, 12),  # over the ceiling: 4 batches, not 3 (one core idle in the last)
        (770, 2, 15),  # a day of 1M events: whole rounds under the ceiling (memory stays bounded)
    ],
)
def test_automatic_batches_are_about_one_per_core_within_bounds(
    day_mib: int, cores: int, expected_mib: int
) -> None:
    settings = RunSettings(cores=cores)
    assert settings.batch_bytes == AUTO_BATCH_BYTES
    assert settings.batch_bytes_for(day_mib * MIB) // MIB == expected_mib
    assert MIN_BATCH_BYTES <= settings.batch_bytes_for(day_mib * MIB) <= MAX_BATCH_BYTES


def test_a_configured_batch_size_is_used_as_it_is() -> None:
    assert RunSettings(batch_bytes=1234, cores=2).batch_bytes_for(770 * MIB) == 1234


def test_inline_tasks_get_the_cores_no_other_task_uses(tmp_path: object) -> None:
    lake = Lake(str(tmp_path))
    tasks = [BatchTask(lake, DAY1, f"b{i}", ()) for i in range(3)]
    assert {t.threads for t in InlineRuntime(8)._with_cores(tasks)} == {2}  # 3 share 8 cores
    assert {t.threads for t in InlineRuntime(8)._with_cores(tasks[:1])} == {8}
    assert {t.threads for t in InlineRuntime(2)._with_cores(tasks)} == {1}  # more tasks than cores
