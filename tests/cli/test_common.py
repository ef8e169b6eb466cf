import click
import pytest

from trajectory_assets.cli.common import DAY


@pytest.mark.parametrize("value", ["20261201", "2026-W48-1", "2026-12-1", " 2026-12-01"])
def test_a_day_is_spelled_as_partitions_and_folders_spell_it(value: str) -> None:
    """`--partition 20261201` was taken (Python reads it as a date) where
    TRAJECTORY_ASSETS_START_DATE, the lake's config and the UI refuse it."""
    with pytest.raises(click.BadParameter, match="not a date"):
        DAY.convert(value, None, None)
    assert DAY.convert("2026-12-01", None, None) == "2026-12-01"
