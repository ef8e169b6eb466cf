"""How a run sizes its batches, and how the in-process runtime shares out its cores."""

import pytest

from tests.lakes import DAY1
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.engine.settings import (
    AUTO_BATCH_BYTES,
    MAX_BATCH_BYTES,
    MAX_EXPANSION,
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


@pytest.mark.parametrize(
    ("day_mib", "expansion", "batches"),
    [
        (30, 0.4, 2),  # a day of typical files: by bytes on disk, one batch per core
        (30, 4.0, 2),  # up to 4x decoded: the same
        (1, 400.0, 8),  # 1 MiB of payloads repeated a hundred times over: 400 MiB decoded
        (30, 40.0, 20),  # 1.2 GB decoded: whole rounds of batches of at most 64 MiB decoded
    ],
)
def test_a_day_that_decodes_to_many_times_its_size_gets_smaller_batches(
    day_mib: int, expansion: float, batches: int
) -> None:
    day = day_mib * MIB
    batch_bytes = RunSettings(cores=2).batch_bytes_for(day, expansion)
    assert round(day / batch_bytes) == batches
    assert batch_bytes * expansion <= MAX_BATCH_BYTES * MAX_EXPANSION * 1.01
    assert RunSettings(batch_bytes=1234).batch_bytes_for(day, expansion) == 1234
