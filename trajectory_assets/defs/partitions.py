"""The one daily (UTC) partitioning of a lake, shared by raw_events and every table.

It starts at the lake's own first day, read from the lake when definitions load: the setting
TRAJECTORY_ASSETS_START_DATE if set, else the lake's config (which `generate` and `ingest` move
back to the earliest day they write), else the earliest day with raw data. A lake whose history
grows further back needs the code location reloaded to show the new days.
"""

import datetime as dt
import logging
from collections.abc import Sequence

import dagster as dg

from trajectory_assets.defs.settings import start_date
from trajectory_assets.lake.config import DEFAULT_START_DATE, read_config
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import UNTIMED_DAY
from trajectory_assets.lake.raw import list_days

log = logging.getLogger(__name__)


def daily(start_date: str) -> dg.DailyPartitionsDefinition:
    """Days up to today (UTC) included: today's data (from `serve` or the logger) can be
    materialized while the day fills up; the schedule takes each day once it has ended."""
    return dg.DailyPartitionsDefinition(start_date=start_date, timezone="UTC", end_offset=1)


def eager_downstream(days: int = 2) -> dg.AutomationCondition:
    """Dagster's `AutomationCondition.eager()` for an asset of yours on the tables' daily
    partitions, over the last `days` of them. The partitions run to today (today's data can be
    materialized while it fills up) and `eager()` looks at the latest partition alone, so the
    day the schedule writes once it has ended (yesterday) never ran downstream."""
    return dg.AutomationCondition.eager().replace(
        "in_latest_time_window",
        dg.AutomationCondition.in_latest_time_window(lookback_delta=dt.timedelta(days=days)),
    )


def start_date_of(lake: Lake) -> str:
    """Where a lake's partitions start (see the module docstring)."""
    from_environment = start_date()
    if from_environment:
        return from_environment
    try:
        config = read_config(lake)
        if config is not None:
            return config.start_date
        days = list_days(lake)
    except OSError as exc:  # an unreachable lake must not stop the code location from loading
        log.warning(
            "cannot read the lake at %s (%s); partitions start at the default", lake.uri, exc
        )
        return DEFAULT_START_DATE
    timed = [d for d in days if d != UNTIMED_DAY]  # events without a time: in no partition
    return timed[0] if timed else DEFAULT_START_DATE


COMMAND_DAYS_TAG = "trajectory_assets/command_days"
"""On each run of a `materialize` command of several runs (one per stretch of consecutive days,
around days without raw data): every day the command runs, as spans. The schema guard counts
them as written by this run, so a schema change may be written across such a gap."""


def days_tag(stretches: Sequence[Sequence[str]]) -> str:
    """Stretches of consecutive days as `first..last` spans (one day alone as itself)."""
    return ",".join(s[0] if len(s) == 1 else f"{s[0]}..{s[-1]}" for s in stretches)


def days_of_tag(spans: str) -> tuple[str, ...]:
    """Every day of `days_tag`'s spans."""
    days: list[str] = []
    for span in filter(None, spans.split(",")):
        first, _, last = span.partition("..")
        start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last or first)
        days += [(start + dt.timedelta(days=n)).isoformat() for n in range((end - start).days + 1)]
    return tuple(days)


def command_days(context: dg.AssetExecutionContext) -> tuple[str, ...]:
    """The days of the other runs of this run's command; none for a retry or re-execution
    (it copies the tags, and runs alone)."""
    tags = context.run.tags
    if "dagster/parent_run_id" in tags:
        return ()
    try:
        return days_of_tag(tags.get(COMMAND_DAYS_TAG, ""))
    except ValueError:  # edited by hand: the guard then counts this run's days alone
        context.log.warning(
            f"tag {COMMAND_DAYS_TAG}={tags[COMMAND_DAYS_TAG]!r} names no days (first..last "
            "spans of YYYY-MM-DD, separated by commas): the schema guard counts this run's days"
        )
        return ()
