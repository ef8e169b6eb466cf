"""Settings from the environment: a value that cannot work is a SettingError naming the
variable and the value, never a traceback from deep inside or a silent default."""

import pytest

from trajectory_assets.defs import settings
from trajectory_assets.engine.runtimes.names import RAY_NUM_CPUS, RUNTIME
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
        (settings.MAX_REJECTED_SHARE, "", settings.max_rejected_share, 0.05),
        (settings.MAX_REJECTED_SHARE, "0.2", settings.max_rejected_share, 0.2),
        (settings.MAX_ELIMINATION_RATIO, "", settings.max_elimination_ratio, 0.95),
        (settings.MAX_ELIMINATION_RATIO, "1", settings.max_elimination_ratio, 1.0),
        (RUNTIME, "", settings.runtime, "auto"),
        (RUNTIME, "inline", settings.runtime, "inline"),
        (RAY_NUM_CPUS, "", settings.ray_num_cpus, None),
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
        (settings.MAX_REJECTED_SHARE, "5%", settings.max_rejected_share, "not a number"),
        (settings.MAX_ELIMINATION_RATIO, "1.5", settings.max_elimination_ratio, "from 0 to 1"),
        (RUNTIME, "Ray", settings.runtime, "takes auto or ray or inline"),
        (RAY_NUM_CPUS, "two", settings.ray_num_cpus, "a whole number of 1 or more"),
        (RAY_NUM_CPUS, "0", settings.ray_num_cpus, "a whole number of 1 or more"),
        (RAY_NUM_CPUS, "²", settings.ray_num_cpus, "a whole number of 1 or more"),
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


def test_the_check_thresholds_settings_are_the_run_configs_defaults() -> None:
    """A lasting threshold for the schedule, the sensor and the command line: run config is one
    run's, and the lake's `params` hold operators' parameters only."""
    import os
    import subprocess
    import sys

    env = {**os.environ, settings.MAX_REJECTED_SHARE: "0.3", settings.MAX_ELIMINATION_RATIO: "0.5"}
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "from trajectory_assets.defs.config import ComputeConfig as C; "
            "print(C().max_rejected_share, C().max_elimination_ratio)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.split() == ["0.3", "0.5"]


def test_the_code_location_loads_with_its_runtime_settings_or_names_the_bad_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What `dagster dev` shows of a deployment's mistyped setting: the variable, not pydantic's
    report of a resource field; a good CPU count stays an EnvVar (the UI names its source)."""
    from trajectory_assets.defs.definitions import default_resources

    monkeypatch.setenv(RUNTIME, "inline")
    monkeypatch.setenv(RAY_NUM_CPUS, "3")
    with default_resources()["compute"].process_config_and_initialize_cm() as compute:
        assert compute.runtime == "inline" and compute.num_cpus == 3
    monkeypatch.setenv(RUNTIME, "rya")
    with pytest.raises(SettingError, match="TRAJECTORY_ASSETS_RUNTIME='rya': takes auto"):
        default_resources()
