"""Settings from the environment: a value that cannot work is a SettingError naming the
variable and the value, never a traceback from deep inside or a silent default."""

import pytest

from trajectory_assets.defs import settings
from trajectory_assets.errors import SettingError
from trajectory_assets.lake.bad_file_rules import ON_BAD_FILE


@pytest.mark.parametrize(
    ("variable", "value", "reader", "expected"),
    [
        (settings.RETENTION_HOURS, "", settings.retention_hours, 168.0),
        (settings.RETENTION_HOURS, "0.5", settings.retention_hours, 0.5),
        (settings.BATCH_BYTES, "1048576", settings.batch_bytes, 1048576),
        (settings.START_DATE, "2026-11-18", settings.start_date, "2026-11-18"),
        (settings.START_DATE, "", settings.start_date, None),
        (settings.SCHEDULE_CRON, "0 3 * * *", settings.schedule_cron, "0 3 * * *"),
        (settings.SCHEDULE_CRON, "", settings.schedule_cron, "30 0 * * *"),
        (ON_BAD_FILE, "skip", settings.default_on_bad_file, "skip"),
        (ON_BAD_FILE, "", settings.default_on_bad_file, "fail"),
    ],
)
def test_good_values_and_defaults(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reader: object, expected: object
) -> None:
    monkeypatch.setenv(variable, value)
    assert callable(reader) and reader() == expected


@pytest.mark.parametrize(
    ("variable", "value", "reader", "says"),
    [
        (settings.RETENTION_HOURS, "abc", settings.retention_hours, "not a number"),
        (settings.RETENTION_HOURS, "-5", settings.retention_hours, "0 or more"),
        (settings.RETENTION_HOURS, "nan", settings.retention_hours, "0 or more"),
        (settings.BATCH_BYTES, "1.5e6", settings.batch_bytes, "not a whole number"),
        (settings.BATCH_BYTES, "-5", settings.batch_bytes, "0 or more"),
        (settings.START_DATE, "2026-13-01", settings.start_date, "not a day (YYYY-MM-DD)"),
        (settings.START_DATE, "20261118", settings.start_date, "not a day (YYYY-MM-DD)"),
        (settings.SCHEDULE_CRON, "bogus", settings.schedule_cron, "not a cron schedule"),
        (ON_BAD_FILE, "Skip", settings.default_on_bad_file, "takes fail or skip"),
    ],
)
def test_a_bad_value_is_named_with_its_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reader: object, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingError) as raised:
        assert callable(reader)
        reader()
    assert str(raised.value).startswith(f"{variable}={value!r}: ") and says in str(raised.value)
