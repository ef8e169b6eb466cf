"""Asset checks, evaluated on the committed tables right after each materialization.

Each check covers every day of the run; a failing day is named in the check's metadata.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from trajectory_assets.engine.operator import Operator
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.layout import COMPACTED_TABLE
from trajectory_assets.lake.raw import RawFile, list_raw_files, read_events
from trajectory_assets.operators.checks import (
    RECOUNT_COLUMNS,
    RawRecount,
    duplicate_keys,
    ratios_above,
    recount,
    token_totals,
)
from trajectory_assets.schema import TABLES


@dataclass(frozen=True)
class Thresholds:
    max_rejected_share: float
    max_elimination_ratio: float


@dataclass(frozen=True)
class DayCheck:
    passed: bool
    detail: str


@dataclass
class CheckContext:
    """What the checks of one materialization share, including one raw recount per day."""

    catalog: Catalog
    limits: Thresholds
    skipped: dict[str, set[str]] = field(default_factory=dict)  # per day: files the run skipped
    recounts: dict[str, RawRecount] = field(default_factory=dict)

    def raw_files(self, day: str) -> list[RawFile]:
        """The day's raw files, less those the run skipped as unreadable."""
        skipped = self.skipped.get(day, set())
        return [f for f in list_raw_files(self.catalog.lake, dt=day) if f.path not in skipped]

    def recount(self, day: str) -> RawRecount:
        if day not in self.recounts:
            events, _ = read_events(self.catalog.lake, self.raw_files(day), columns=RECOUNT_COLUMNS)
            self.recounts[day] = recount(events, self.catalog.read("rejected_events", dt=day))
        return self.recounts[day]


def _unique_keys(table: str) -> Callable[[CheckContext, str], DayCheck]:
    def check(ctx: CheckContext, day: str) -> DayCheck:
        rows = ctx.catalog.read(table, dt=day)
        dupes = duplicate_keys(rows, TABLES[table].keys)
        return DayCheck(dupes == 0, f"{dupes} duplicate keys in {rows.num_rows} rows")

    return check


def _compacted_rows(ctx: CheckContext, day: str) -> DayCheck:
    state = ctx.catalog.state(COMPACTED_TABLE, day)
    raw_rows = read_events(ctx.catalog.lake, ctx.raw_files(day), columns=("event_id",))[0].num_rows
    rows = state.rows if state is not None else 0
    return DayCheck(rows == raw_rows, f"{rows} compacted rows, {raw_rows} raw rows")


def _events_reconcile(ctx: CheckContext, day: str) -> DayCheck:
    counted = ctx.recount(day)
    n_events = sum(ctx.catalog.read("sessions", dt=day)["n_events"].to_pylist())
    return DayCheck(
        n_events == counted.valid_events,
        f"sum(n_events)={n_events}, valid raw events={counted.valid_events} "
        f"(raw rows {counted.raw_rows}, rejected {counted.rejected_rows})",
    )


def _tokens_agree(ctx: CheckContext, day: str) -> DayCheck:
    sessions = token_totals(ctx.catalog.read("sessions", dt=day))
    turns = token_totals(ctx.catalog.read("turns", dt=day))
    unturned = ctx.recount(day).unturned_tokens
    expected = tuple(t + u for t, u in zip(turns, unturned, strict=True))
    return DayCheck(
        sessions == expected,
        f"sessions (in, out, cache)={sessions}; turns + events without a turn={expected}",
    )


def _rejected_share(ctx: CheckContext, day: str) -> DayCheck:
    limits = ctx.limits
    counted = ctx.recount(day)
    share = counted.rejected_rows / counted.raw_rows if counted.raw_rows else 0.0
    return DayCheck(
        share <= limits.max_rejected_share,
        f"{counted.rejected_rows} of {counted.raw_rows} raw rows rejected ({share:.2%}, "
        f"limit {limits.max_rejected_share:.2%})",
    )


def _elimination_ratio(ctx: CheckContext, day: str) -> DayCheck:
    limits = ctx.limits
    steps = ctx.catalog.read("decision_steps", dt=day)
    above = ratios_above(steps, "elimination_ratio", limits.max_elimination_ratio)
    return DayCheck(
        above == 0,
        f"{above} of {steps.num_rows} steps eliminate more than "
        f"{limits.max_elimination_ratio:.0%} of their items",
    )


@dataclass(frozen=True)
class Check:
    name: str
    table: str
    description: str
    evaluate: Callable[[CheckContext, str], DayCheck]
    severity: dg.AssetCheckSeverity = dg.AssetCheckSeverity.ERROR

    @property
    def spec(self) -> dg.AssetCheckSpec:
        return dg.AssetCheckSpec(self.name, asset=self.table, description=self.description)


def checks_for(op: Operator) -> list[Check]:
    found = [
        Check("unique_keys", t, f"Each {', '.join(TABLES[t].keys)} appears once.", _unique_keys(t))
        for t in op.outputs
    ]
    extra = [
        Check(
            "rows_match_raw",
            COMPACTED_TABLE,
            "Every raw row of the day is in raw_compacted, once.",
            _compacted_rows,
        ),
        Check(
            "n_events_match_raw",
            "sessions",
            "sum(n_events) equals the raw events left after validation and de-duplication.",
            _events_reconcile,
        ),
        Check(
            "tokens_match_sessions",
            "turns",
            "Token totals of turns plus events outside any turn equal those of sessions.",
            _tokens_agree,
        ),
        Check(
            "rejected_share",
            "rejected_events",
            "The share of raw rows rejected stays under the configured limit.",
            _rejected_share,
        ),
        Check(
            "elimination_ratio",
            "decision_steps",
            "No decision step eliminates more than the configured share of its items.",
            _elimination_ratio,
            dg.AssetCheckSeverity.WARN,
        ),
    ]
    return found + [c for c in extra if c.table in op.outputs]


def evaluate(check: Check, ctx: CheckContext, days: list[str]) -> dg.AssetCheckResult:
    results = {day: check.evaluate(ctx, day) for day in days}
    failed = [day for day, r in results.items() if not r.passed]
    return dg.AssetCheckResult(
        asset_key=check.table,
        check_name=check.name,
        passed=not failed,
        severity=check.severity,
        metadata={
            "failed_days": ", ".join(failed) or "none",
            **{f"{day}": r.detail for day, r in results.items()},
        },
    )
