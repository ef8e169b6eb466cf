"""Every environment variable the code location reads, in one place, so dagster.yaml and
workspace.yaml stay generic. A value that cannot work is a SettingError naming the variable (at
load time for the code location, as a one-line error for the command line), never a traceback
or a silent default."""

import math
import os
from typing import TypeVar

import dagster as dg
from dagster._utils.schedules import is_valid_cron_schedule  # the rule schedules use; not exported

from trajectory_assets.engine.runtimes.names import (
    RAY_NUM_CPUS,
    RUNTIME,
    RUNTIME_NAMES,
    RuntimeName,
)
from trajectory_assets.engine.settings import AUTO_BATCH_BYTES
from trajectory_assets.errors import SettingError
from trajectory_assets.lake.bad_file_rules import BAD_FILE_RULES, ON_BAD_FILE, OnBadFile
from trajectory_assets.lake.fs import S3_ENDPOINT_URL_ENV
from trajectory_assets.lake.layout import is_day

LAKE = "TRAJECTORY_ASSETS_LAKE"
S3_ENDPOINT_URL = S3_ENDPOINT_URL_ENV
START_DATE = "TRAJECTORY_ASSETS_START_DATE"
SCHEDULE_CRON = "TRAJECTORY_ASSETS_SCHEDULE_CRON"
RETENTION_HOURS = "TRAJECTORY_ASSETS_RETENTION_HOURS"
BATCH_BYTES = "TRAJECTORY_ASSETS_BATCH_BYTES"
MAX_REJECTED_SHARE = "TRAJECTORY_ASSETS_MAX_REJECTED_SHARE"
MAX_ELIMINATION_RATIO = "TRAJECTORY_ASSETS_MAX_ELIMINATION_RATIO"

Choice = TypeVar("Choice", bound=str)

DEFAULT_LAKE = "lake"
DEFAULT_RETENTION_HOURS = 168.0
DEFAULT_SCHEDULE_CRON = "30 0 * * *"


def env_or(name: str, default: str | None) -> str | dg.EnvVar | None:
    """An EnvVar when the variable is set (the UI then shows where a value came from), else the
    default, so an unset optional setting never fails a run."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def runtime() -> RuntimeName:
    """Where the code location's runs compute; a click choice checks the command line's."""
    return _one_of(RUNTIME, RUNTIME_NAMES, "auto")


def ray_num_cpus() -> int | dg.EnvVar | None:
    """CPUs of the code location's runs (an EnvVar, which the UI shows the source of)."""
    value = os.environ.get(RAY_NUM_CPUS)
    if not value:
        return None
    try:
        number = int(value)
    except ValueError:  # "two", "1.5", a superscript digit
        number = 0
    if number < 1:
        raise SettingError(f"{RAY_NUM_CPUS}={value!r}: takes a whole number of 1 or more")
    return dg.EnvVar.int(RAY_NUM_CPUS)


def default_on_bad_file() -> OnBadFile:
    """The bad-file rule of a run whose config does not set one."""
    return _one_of(ON_BAD_FILE, BAD_FILE_RULES, "fail")


def _one_of(name: str, choices: tuple[Choice, ...], default: Choice) -> Choice:
    value = os.environ.get(name) or default
    for choice in choices:
        if value == choice:
            return choice
    raise SettingError(f"{name}={value!r}: takes {' or '.join(choices)}")


def max_rejected_share() -> float:
    """The rejected_share check's limit of a run whose config does not set one: a lasting
    value for the schedule, the sensor and the command line (run config is one run's)."""
    return _share(MAX_REJECTED_SHARE, 0.05)


def max_elimination_ratio() -> float:
    """The elimination_ratio check's limit of a run whose config does not set one."""
    return _share(MAX_ELIMINATION_RATIO, 0.95)


def _share(name: str, default: float) -> float:
    share = _not_negative(name, float, default)
    if share > 1:
        raise SettingError(f"{name}={os.environ[name]!r}: takes a share from 0 to 1")
    return share


def retention_hours() -> float:
    """How far back rollback and time travel reach: the vacuum horizon."""
    return _not_negative(RETENTION_HOURS, float, DEFAULT_RETENTION_HOURS)


def batch_bytes() -> int:
    """Raw bytes per batch of a run whose config does not set them (0: sized per day)."""
    return int(_not_negative(BATCH_BYTES, int, AUTO_BATCH_BYTES))


def start_date() -> str | None:
    """The first daily partition when the variable sets it, over the lake's own setting."""
    value = os.environ.get(START_DATE)
    if value and not is_day(value):
        raise SettingError(f"{START_DATE}={value!r}: not a day (YYYY-MM-DD)")
    return value or None


def schedule_cron() -> str:
    value = os.environ.get(SCHEDULE_CRON) or DEFAULT_SCHEDULE_CRON
    problem = cron_problem(value)
    if problem:
        raise SettingError(f"{SCHEDULE_CRON}={value!r}: {problem}")
    return value


def cron_problem(value: str) -> str | None:
    """Why Dagster's schedules would refuse `value`; None when they take it."""
    if is_valid_cron_schedule(value):
        return None
    return f"not a cron schedule (five fields, UTC, e.g. {DEFAULT_SCHEDULE_CRON!r})"


def check_run_settings() -> None:
    """SettingError for the first setting a materialization reads that cannot work, before
    anything runs (a dry run included: it says what a run would do)."""
    default_on_bad_file()
    retention_hours()
    batch_bytes()
    start_date()
    max_rejected_share()
    max_elimination_ratio()


def _not_negative(name: str, kind: type[int] | type[float], default: float) -> float:
    value = os.environ.get(name)
    if not value:
        return default
    what = "a whole number" if kind is int else "a number"
    try:
        number = kind(value)
    except ValueError:
        raise SettingError(f"{name}={value!r}: not {what}") from None
    if number < 0 or not math.isfinite(number):
        raise SettingError(f"{name}={value!r}: takes {what} of 0 or more")
    return number
