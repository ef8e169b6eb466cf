"""The checks of when sessions happened: on the day they are filed under (and eval runs within
it), and not after the check itself ran. Times are where a producer's mistakes (a local date, a
clock ahead) hide: every count still adds up, so only the times can show them.
"""

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from trajectory_assets.defs.check_context import CheckContext, DayCheck
from trajectory_assets.operators.session_tables import DEFAULT_RUN


def sessions_on_their_day(ctx: CheckContext, day: str) -> DayCheck:
    """A session's events all live under the UTC day of its first event (SPEC): a producer
    that files by each event's day, or by a local date, splits sessions in rows of two days,
    each with part of the session's numbers, which nothing else would show."""
    keys = ["app_id", "session_id"]
    rows = ctx.column("sessions", day, [*keys, "started_at"])
    started = pc.cast(rows["started_at"].cast(pa.timestamp("us", "UTC")), pa.date32())
    on_day = pa.scalar(dt.date.fromisoformat(day), pa.date32())
    elsewhere = int(pc.sum(pc.not_equal(started, on_day)).as_py() or 0)
    shared = {
        other: found.num_rows
        for other, found in _also_on_neighbours(ctx, "sessions", day, rows.select(keys)).items()
    }
    split = sum(shared.values())
    compared = (
        f"{split} of its sessions have a row on {' or '.join(sorted(shared))} as well (a "
        "session in two day folders is counted on both days)"
        if shared
        else "no day before or after is materialized to compare"
    )
    return DayCheck(
        elsewhere == 0 and split == 0,
        f"{elsewhere} of {rows.num_rows} sessions start on another day (UTC) than dt={day}; "
        + compared,
    )


def runs_within_their_day(ctx: CheckContext, day: str) -> DayCheck:
    """An eval run whose attempts run past midnight (UTC) is a row on each day, each with the
    day's attempts: every number of the row is the run's own only if no neighbouring day has
    the run too, and pass@1 of a task whose epochs fall on both days cannot be pooled back.
    Results without a run id (`default`) are no run: a nightly eval without ids is on every
    day."""
    keys = ["benchmark", "model", "run_id"]
    runs = ctx.column("eval_runs", day, keys)
    runs = runs.filter(pc.not_equal(runs["run_id"], DEFAULT_RUN))
    shared = _also_on_neighbours(ctx, "eval_runs", day, runs)
    if not shared:
        return DayCheck(
            True, f"{runs.num_rows} eval run(s); no day before or after is materialized"
        )
    split = {other: rows for other, rows in shared.items() if rows.num_rows}
    if not split:
        return DayCheck(
            True,
            f"none of {runs.num_rows} eval run(s) with a run id has attempts on "
            f"{' or '.join(sorted(shared))} too",
        )
    named = sorted(
        {
            f"{r['benchmark']}/{r['model']}/{r['run_id']}"
            for t in split.values()
            for r in t.to_pylist()
        }
    )
    return DayCheck(
        False,
        f"{len(named)} of {runs.num_rows} eval runs have attempts on {' and '.join(sorted(split))} "
        f"as well ({', '.join(named[:3])}{', …' if len(named) > 3 else ''}): each day's row "
        "counts that day's attempts; pool the run's attempts from `sessions` of those days for "
        "its whole numbers",
    )


FUTURE_SLACK = dt.timedelta(hours=1)
"""How far past the check's own time a session may end before its times are called wrong:
clocks of machines that agree within NTP's reach are never an hour apart."""


def times_not_in_the_future(ctx: CheckContext, day: str) -> DayCheck:
    """A producer whose clock runs ahead (or that gives milliseconds where seconds are meant)
    puts events after the moment they were computed: durations, latencies between events and
    the sessions' end are then wrong, and nothing else would say so."""
    ended = ctx.column("sessions", day, ["ended_at"])["ended_at"].cast(pa.timestamp("us", "UTC"))
    now = dt.datetime.now(dt.UTC)
    later = pc.greater(ended, pa.scalar(now + FUTURE_SLACK, pa.timestamp("us", "UTC")))
    ahead = int(pc.sum(later).as_py() or 0)
    if not ahead:
        return DayCheck(True, f"no session ends after {now:%Y-%m-%d %H:%M} UTC (this check)")
    latest = pc.max(ended).as_py()
    return DayCheck(
        False,
        f"{ahead} of {len(ended)} sessions end more than an hour after this check ran "
        f"({now:%Y-%m-%d %H:%M} UTC), the latest at {latest:%Y-%m-%d %H:%M} UTC: a producer's "
        "clock ahead, or times in the wrong unit",
    )


def _also_on_neighbours(
    ctx: CheckContext, table: str, day: str, keys: pa.Table
) -> dict[str, pa.Table]:
    """For each materialized day before and after, the `keys` rows of `day` it holds too."""
    names = keys.column_names
    return {
        other: keys.join(ctx.column(table, other, names), names, join_type="inner")
        for other in _neighbours(day)
        if ctx.catalog.state(table, other) is not None
    }


def _neighbours(day: str) -> tuple[str, str]:
    date = dt.date.fromisoformat(day)
    return ((date - dt.timedelta(days=1)).isoformat(), (date + dt.timedelta(days=1)).isoformat())
