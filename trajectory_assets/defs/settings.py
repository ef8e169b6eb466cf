"""Every environment variable the code location reads, in one place, so dagster.yaml and
workspace.yaml stay generic."""

import os

import dagster as dg

from trajectory_assets.lake.fs import S3_ENDPOINT_URL_ENV
from trajectory_assets.lake.raw import OnBadFile

LAKE = "TRAJECTORY_ASSETS_LAKE"
RUNTIME = "TRAJECTORY_ASSETS_RUNTIME"
RAY_ADDRESS = "TRAJECTORY_ASSETS_RAY_ADDRESS"
RAY_NUM_CPUS = "TRAJECTORY_ASSETS_RAY_NUM_CPUS"
S3_ENDPOINT_URL = S3_ENDPOINT_URL_ENV
START_DATE = "TRAJECTORY_ASSETS_START_DATE"
SCHEDULE_CRON = "TRAJECTORY_ASSETS_SCHEDULE_CRON"
RETENTION_HOURS = "TRAJECTORY_ASSETS_RETENTION_HOURS"
BATCH_BYTES = "TRAJECTORY_ASSETS_BATCH_BYTES"
ON_BAD_FILE = "TRAJECTORY_ASSETS_ON_BAD_FILE"

DEFAULT_LAKE = "lake"
DEFAULT_START_DATE = "2025-01-01"
DEFAULT_RETENTION_HOURS = 168.0


def env_or(name: str, default: str | None) -> str | dg.EnvVar | None:
    """An EnvVar when the variable is set (the UI then shows where a value came from), else the
    default, so an unset optional setting never fails a run."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def env_int_or(name: str, default: int | None) -> int | dg.EnvVar | None:
    return dg.EnvVar.int(name) if os.environ.get(name) else default


def default_on_bad_file() -> OnBadFile:
    """The bad-file rule of a run whose config does not set one."""
    return "skip" if os.environ.get(ON_BAD_FILE) == "skip" else "fail"


def retention_hours() -> float:
    """How far back rollback and time travel reach: the vacuum horizon."""
    return float(os.environ.get(RETENTION_HOURS, DEFAULT_RETENTION_HOURS))
