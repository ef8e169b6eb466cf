"""`trajectory-assets generate`: a deterministic sample raw lake, for demos, tests, benchmarks."""

import datetime as dt
import time
from typing import TYPE_CHECKING

import click

from trajectory_assets.cli.common import (
    DAY,
    DEFAULT_APPS,
    CliError,
    lake_option,
    open_lake,
    say,
    some_days,
    split_list,
    tell,
)

if TYPE_CHECKING:
    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.synth import SynthConfig


@click.command(short_help="write a deterministic sample raw lake")
@lake_option
@click.option("--start", type=DAY, help="first day (default: DAYS days before today, UTC)")
@click.option("--days", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--apps", default=DEFAULT_APPS, show_default=True, help="comma-separated app ids")
@click.option("--sessions-per-day", type=click.IntRange(min=0), default=300, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
@click.option("--invalid-rate", type=click.FloatRange(0, 1), default=0.002, show_default=True)
@click.option("--duplicate-rate", type=click.FloatRange(0, 1), default=0.003, show_default=True)
@click.option("--files-per-session", type=click.IntRange(min=1), default=1, show_default=True)
def generate(
    lake: str,
    start: str | None,
    days: int,
    apps: str,
    sessions_per_day: int,
    seed: int,
    invalid_rate: float,
    duplicate_rate: float,
    files_per_session: int,
) -> None:
    """Write a deterministic sample raw lake."""
    from trajectory_assets.synth import SynthConfig

    app_ids = split_list(apps)
    if not app_ids or len(set(app_ids)) != len(app_ids):
        raise CliError(f"--apps needs distinct app ids, separated by commas: {apps!r}")
    first = (
        dt.date.fromisoformat(start)
        if start
        else dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days)
    )
    try:
        config = SynthConfig(
            start=first,
            days=days,
            apps=tuple(app_ids),
            sessions_per_day=sessions_per_day,
            seed=seed,
            invalid_rate=invalid_rate,
            duplicate_rate=duplicate_rate,
            files_per_session=files_per_session,
        )
    except ValueError as exc:  # e.g. the same app twice in --apps
        raise CliError(str(exc)) from None
    where = open_lake(lake, must_exist=False)
    _refuse_days_with_data(where, config)
    write_sample(where, config)
    today = dt.datetime.now(dt.UTC).date()
    if first + dt.timedelta(days=days - 1) >= today:
        tell(
            f"warning: sessions of {today} and after are drawn over whole days, so some lie "
            "in the future (check times_not_in_the_future fails on them); a lake of days "
            "that have ended ends at yesterday (the default --start)"
        )


def _refuse_days_with_data(lake: "Lake", config: "SynthConfig") -> None:
    """Raw data is append-only: a second sample in the same days would keep the first one's
    files its own options do not overwrite (other file names, other seeds), and mix them."""
    from trajectory_assets.lake.raw import list_days

    last = config.start + dt.timedelta(days=config.days - 1)
    taken = list_days(lake, config.start.isoformat(), last.isoformat())
    if taken:
        raise CliError(
            f"{lake.display('raw_events')} already holds raw data for {some_days(taken)}: "
            "generate writes new days only, since a second sample would mix with the first; "
            "give other days (--start, --days) or another lake"
        )


def write_sample(lake: "Lake", config: "SynthConfig") -> None:
    """Generate the sample lake, a line per day as it goes (a large one takes minutes)."""
    from trajectory_assets.lake.config import cover_days
    from trajectory_assets.lake.raw import remove_days
    from trajectory_assets.synth import generate_lake

    say(f"generating {config.days} day(s) of raw events into {lake.display('raw_events')}")
    started = time.perf_counter()
    try:
        summary = generate_lake(lake, config, progress=lambda line: say(f"  {line}"))
    except BaseException:  # a full disk, Ctrl+C: the days were new, and half a sample in them
        days = [str(config.start + dt.timedelta(days=n)) for n in range(config.days)]
        remove_days(lake, days)  # half a sample refused every later generate of the same days
        raise
    cover_days(lake, list(summary.days))
    say(
        f"wrote {summary.sessions:,} sessions, {summary.events:,} events "
        f"({summary.invalid_rows:,} invalid, {summary.duplicate_rows:,} duplicates) in "
        f"{summary.files:,} files, {summary.bytes / 1e6:.1f} MB, "
        f"{time.perf_counter() - started:.1f} s; days {summary.days[0]} .. {summary.days[-1]}"
    )
