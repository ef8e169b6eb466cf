"""The lake's trajectory_assets.json: written by the commands, edited by hand, so read whole and
checked: a misspelt key or a value of the wrong kind names the file and the key."""

import multiprocessing
import time
from pathlib import Path

import pytest

import trajectory_assets.lake.config as config_module
from trajectory_assets.errors import SettingError
from trajectory_assets.lake.config import (
    CONFIG,
    LakeConfig,
    cover_days,
    read_config,
    write_config,
)
from trajectory_assets.lake.fs import Lake


def test_what_is_written_reads_back_and_keys_may_be_missing(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    assert read_config(lake) is None
    written = LakeConfig(start_date="2026-11-18", defs=("my_tables.definitions",))
    write_config(lake, written)
    assert read_config(lake) == written
    (tmp_path / CONFIG).write_text('{"defs": []}')
    read = read_config(lake)
    assert read is not None and (read.start_date, read.defs) == ("2025-01-01", ())


def test_a_new_config_starts_at_raw_days_other_producers_wrote(tmp_path: Path) -> None:
    """The logger and `serve` write no config: the first `ingest` into such a lake set the
    partitions' start to its own days, and the earlier days were never materialized."""
    lake = Lake(str(tmp_path))
    for day in ("2026-11-20", "1970-01-01"):  # the second: imported files without times
        (tmp_path / "raw_events" / f"dt={day}" / "app_id=a" / "session_id=s").mkdir(parents=True)
    assert cover_days(lake, ["2026-11-22"]).start_date == "2026-11-20"
    assert cover_days(lake, ["2026-11-25"]).start_date == "2026-11-20"
    assert cover_days(lake, ["2026-11-02"]).start_date == "2026-11-02"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('{"start_date": "2026-11-18"', "is not valid JSON"),
        ("[]", "holds list, not an object with start_date, defs, params, lake_id"),
        ('{"start_dat": "2026-11-19"}', "unknown key(s) start_dat; the keys are"),
        ('{"start_date": 20261118}', "start_date 20261118 is not a day (YYYY-MM-DD)"),
        ('{"start_date": "2026-02-30"}', "is not a day"),
        ('{"start_date": "0001-01-01"}', "start_date 0001-01-01 is before 1970-01-01"),
        ('{"defs": "my_tables"}', "defs 'my_tables' is not a list of module names"),
        ('{"defs": [42]}', "is not a list of module names"),
        ('{"lake_id": 5}', "lake_id 5 is not a string"),
    ],
)
def test_a_file_edited_wrong_is_named_with_its_key(tmp_path: Path, text: str, says: str) -> None:
    (tmp_path / CONFIG).write_text(text)
    with pytest.raises(SettingError) as raised:
        read_config(Lake(str(tmp_path)))
    assert str(raised.value).startswith(str(tmp_path / CONFIG)) and says in str(raised.value)


def _cover_slowly(root: str, day: str, pause: float) -> None:
    """`cover_days` whose write comes `pause` seconds after its read, as on a slow disk."""
    write = config_module.write_config

    def slow_write(lake: Lake, config: LakeConfig) -> None:
        time.sleep(pause)
        write(lake, config)

    config_module.write_config = slow_write
    cover_days(Lake(root), [day])


def test_two_commands_at_once_do_not_move_the_start_forward(tmp_path: Path) -> None:
    """Both read start 2026-11-20, the first wrote 2026-11-10, then the second its own
    2026-11-15 over it: 2026-11-10 was before the first partition, in no table."""
    lake = Lake(str(tmp_path))
    write_config(lake, LakeConfig(start_date="2026-11-20"))
    fork = multiprocessing.get_context("fork")
    writers = [
        fork.Process(target=_cover_slowly, args=(str(tmp_path), day, pause))
        for day, pause in (("2026-11-10", 0.1), ("2026-11-15", 0.6))
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(30)
        assert writer.exitcode == 0
    config = read_config(lake)
    assert config is not None and config.start_date == "2026-11-10"
