"""The checks of what producers sent that the tables left out: rejected rows (a day's share can
stay low while one tenant's producer sends little but broken events, so it is checked for the
whole day, an error, and for each app, a warning), and events of a type no table reads.
"""

from collections import Counter
from dataclasses import dataclass

import pyarrow as pa

from trajectory_assets.defs.check_context import UNAUDITED, CheckContext, DayCheck, limit_text
from trajectory_assets.operators.audit import KNOWN_TYPES, UNKNOWN_TYPES
from trajectory_assets.report.intervals import wilson_interval
from trajectory_assets.schema import NO_APP


def _named(app: str | None) -> str:
    """A rejected row's app, NO_APP when it has none (null or blank: one reason rows are
    rejected; a folder of a null app)."""
    return app if app and app.strip() else NO_APP


def rejected_share(ctx: CheckContext, day: str) -> DayCheck:
    limits = ctx.limits
    counted = ctx.audit("sessionize", "rejected_events", day)
    if counted is None:
        return UNAUDITED
    raw, rejected = counted.get("raw_rows", 0), counted.get("rejected_rows", 0)
    share = rejected / raw if raw else 0.0
    passed = share <= limits.max_rejected_share
    limit = limit_text(limits.max_rejected_share)
    said = f"{rejected} of {raw} raw rows rejected ({share:.2%}, limit {limit})"
    rows = ctx.column("rejected_events", day, ["app_id", "reason"]) if not passed else None
    if rows is not None and rows.num_rows:  # the day is every app's: whose rows, and why
        apps = Counter(_named(app) for app in rows["app_id"].to_pylist())
        said += "; most from " + ", ".join(f"{app} ({n})" for app, n in apps.most_common(3))
        why = Counter(r for text in rows["reason"].to_pylist() for r in (text or "").split("; "))
        said += "; most often " + ", ".join(f"{r!r} ({n})" for r, n in why.most_common(2))
    return DayCheck(passed, said)


def rejected_share_by_app(ctx: CheckContext, day: str) -> DayCheck:
    """An app's share is of its rejected events and its valid events (`sessions.n_events`),
    each counted once: a producer delivering at least once re-sends some of its events, and
    every copy of a rejected one is a row of `rejected_events`, whereas a valid one counts once.
    An app warns when its share is over the limit beyond chance (the low end of its 95% Wilson
    interval, as the daily report's pass rates), by a margin that shrinks as the app grows (2
    of 5 events warn, 1 of 11 do not), or every small app of a day would warn for one bad
    event."""
    limit = ctx.limits.max_rejected_share
    if ctx.rows("rejected_events", day) == 0:
        return DayCheck(True, "no raw rows rejected")
    rows = ctx.column("rejected_events", day, ["app_id", "row"])
    rejected = Counter(
        _named(app)
        for app, _row in set(zip(rows["app_id"].to_pylist(), rows["row"].to_pylist(), strict=True))
    )
    sums = ctx.column("sessions", day, ["app_id", "n_events"]).group_by("app_id")
    valid = dict(_pairs(sums.aggregate([("n_events", "sum")])))
    shares = {app: Share(n, n + valid.get(app, 0)) for app, n in rejected.items()}
    over = sorted(
        (app for app, share in shares.items() if share.at_least > limit),
        key=lambda app: (-shares[app].at_least, app),
    )
    apps = len(set(valid) | set(rejected))
    if not over:
        return DayCheck(
            True,
            f"no app of {apps} is clearly over {limit_text(limit)} of its events rejected (the "
            "low end of its 95% interval)",
        )
    named = ", ".join(f"{app} ({shares[app]})" for app in over[:3])
    more = f" and {len(over) - 3} more" if len(over) > 3 else ""
    return DayCheck(
        False,
        f"{len(over)} of {apps} apps have over {limit_text(limit)} of their events (rejected and "
        f"valid, each counted once) rejected, beyond chance: {named}{more}",
    )


def event_types_known(ctx: CheckContext, day: str) -> DayCheck:
    """Events of a type no table reads are kept (SPEC) and count in `n_events` alone: a
    producer's `llm_cal` for `llm_call` left its calls out of the cost without a word. Those
    carrying a call's fields are counted (a type of one's own, a `heartbeat`, carries none)."""
    counted = ctx.audit("sessionize", "sessions", day)
    if counted is None:
        return UNAUDITED
    if "valid_events" in counted and UNKNOWN_TYPES not in counted:  # no evaluation recorded
        return DayCheck(True, "not counted: written by a version that did not count them", False)
    unknown = counted.get(UNKNOWN_TYPES, 0)  # none: the day had no batch (an empty day)
    if not unknown:
        return DayCheck(True, "no event of a type the tables do not read carries a call's fields")
    return DayCheck(
        False,
        f"{unknown} valid event(s) of a type no table reads carry a call's fields (a model, "
        "tokens, a latency, a tool): a misspelt llm_call or tool_call? "
        f"`SELECT app_id, event_type, count(*) FROM raw_compacted WHERE dt = '{day}' AND "
        f"event_type NOT IN ({KNOWN_TYPES}) GROUP BY ALL` names them",
    )


@dataclass(frozen=True)
class Share:
    rejected: int
    events: int

    @property
    def at_least(self) -> float:
        """The low end of the share's 95% Wilson score interval (the daily report's)."""
        return wilson_interval(self.rejected, self.events)[0]

    def __str__(self) -> str:
        share = self.rejected / self.events
        return f"{self.rejected} of {self.events}, {share:.2%}, at least {self.at_least:.2%}"


def _pairs(sums: pa.Table) -> list[tuple[str, int]]:
    return list(zip(sums["app_id"].to_pylist(), sums["n_events_sum"].to_pylist(), strict=True))
