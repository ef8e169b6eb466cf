"""Which days a `materialize` command runs, how they split into runs, and whether the command
would be accepted: what `--missing`, `--dry-run` and the runs themselves share."""

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from trajectory_assets.cli.common import REPORT, CliError, in_partitions, some_days
from trajectory_assets.lake.bad_file_rules import OnBadFile

if TYPE_CHECKING:
    from trajectory_assets.engine.registry import Registry
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.operator import Operator


def _operators(registry: "Registry", tables: Sequence[str]) -> list["Operator"]:
    return list({registry.operator(t) for t in tables if t != REPORT})


def stale_upstream(
    lake: "Lake",
    registry: "Registry",
    chosen: Sequence["Operator"],
    days: Sequence[str],
    on_bad_file: OnBadFile,
) -> tuple[str, str] | None:
    """(`T, which X reads, is stale for DAYS`, `it` or `them`) when tables the chosen operators
    read, written by operators they leave out, are stale on the days or on the earlier days of
    their rolling windows: the chosen are then computed from inputs the raw data (or code) no
    longer gives, without a word (n_events 9 of a session's 10 rows). A table never
    materialized is the run's to name."""
    from trajectory_assets.engine.lineage import stale_days
    from trajectory_assets.errors import MissingUpstreamError
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.raw import list_days

    names = {op.name for op in chosen}
    upstream = {
        o.name: o for op in chosen for o in registry.with_upstream(op) if o.name not in names
    }
    read = {d for day in days for op in chosen for d in op.input_days(day)}
    wanted = sorted(read & set(list_days(lake)))
    if not upstream or not wanted:
        return None
    catalog = Catalog(lake, registry.tables)
    try:
        stale = stale_days(lake, registry, list(upstream.values()), wanted, on_bad_file, catalog)
    except MissingUpstreamError:  # further up, never materialized: the run says so itself
        return None
    tables: dict[str, None] = {}
    when: dict[str, None] = {}
    for day, due in stale.items():
        for op in due.operators:
            if all(catalog.state(t, day) is None for t in op.output_names):
                continue  # never materialized: the run names it
            direct = [t for t in op.output_names if any(t in c.inputs for c in chosen)]
            tables.update(dict.fromkeys(direct or op.output_names[:1]))
            when[day] = None
    if not tables:
        return None
    readers = ", ".join(op.name for op in chosen) + (" reads" if len(chosen) == 1 else " read")
    verb, them = ("is", "it") if len(tables) == 1 else ("are", "them")
    return f"{', '.join(tables)}, which {readers}, {verb} stale for {some_days(list(when))}", them


TABLES_DUE = "tables missing or stale"
TABLES_NEW = "tables not materialized yet"
PAGE_MISSING = "no report page (a run of some tables only, or a report that failed)"
PAGE_OUT_OF_DATE = "report page drawn from other tables than the day's now"


def page_of_another_version(version: int | None) -> str:
    """Why a page drawn by another version of the report is due (older records name none: the
    reason then names both causes, which their inputs' digest cannot tell apart)."""
    from trajectory_assets.report import REPORT_VERSION

    if version is None:
        return f"{PAGE_OUT_OF_DATE}, or by an earlier version of the report (now {REPORT_VERSION})"
    return f"report page drawn by the report's version {version}, now {REPORT_VERSION}"


def missing_days(
    lake: "Lake",
    registry: "Registry",
    tables: Sequence[str],
    on_bad_file: OnBadFile = "fail",
    say_why: bool = False,
) -> dict[str, str]:
    """Days with raw data, from the lake's first partition on, where an operator of `tables` has
    no day, or a stale one, judged with the operators' parameters and the bad-file rule the run
    will use (part of each day's key: a day computed skipping a bad file, or with --config's
    parameters, is current for runs that do the same); and, when the
    daily report is asked for, days without a current report page (a report that failed, a run
    of some tables only, or a page drawn from other tables than the day's now: a run canceled
    after its commits, a rollback). Each day with why it is picked: the stale operators, and
    with `say_why` (`--dry-run`) what made each stale, read from each table's log."""
    from trajectory_assets.defs.report import report_inputs
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.raw import list_days
    from trajectory_assets.lake.reports import drawn_from
    from trajectory_assets.report import REPORT_VERSION

    ops = _operators(registry, tables)
    candidates = in_partitions(lake, list_days(lake), refuse=False)
    catalog = Catalog(lake, registry.tables)
    if REPORT not in tables:
        return _stale(catalog, registry, ops, candidates, on_bad_file, say_why)
    pages = drawn_from(lake)
    built = [
        d for d in candidates if any(catalog.state(o.output_names[0], d) is not None for o in ops)
    ]
    stale = _stale(catalog, registry, ops, built, on_bad_file, say_why)  # named, page or not
    why = {}
    for day in candidates:
        if ops and day not in built:
            why[day] = TABLES_NEW
        elif day in stale:
            why[day] = stale[day]
        elif day not in pages:
            why[day] = PAGE_MISSING
        elif pages[day].inputs != report_inputs(catalog, day):
            version = pages[day].version
            same = version == REPORT_VERSION
            why[day] = PAGE_OUT_OF_DATE if same else page_of_another_version(version)
    return why


def _stale(
    catalog: "Catalog",
    registry: "Registry",
    ops: Sequence["Operator"],
    days: Sequence[str],
    on_bad_file: OnBadFile,
    say_why: bool,
) -> dict[str, str]:
    """`tables missing or stale (a, b)`, or with `say_why`, each operator's reason: `(a: not
    materialized yet; b: the day holds version 9's tables, the operator is now 10)`, operators
    of one reason named together."""
    from trajectory_assets.engine.explain import why_stale
    from trajectory_assets.engine.lineage import stale_days

    stale = stale_days(catalog.lake, registry, ops, days, on_bad_file, catalog)
    if not say_why:
        return {
            day: f"{TABLES_DUE} ({', '.join(op.name for op in s.operators)})"
            for day, s in stale.items()
        }
    why = why_stale(catalog, {day: (s.operators, s.keys) for day, s in stale.items()})
    said = {}
    for day, s in stale.items():
        by_reason: dict[str, list[str]] = {}
        for op in s.operators:
            reason = why[op.name, day].removeprefix("stale: ")
            by_reason.setdefault(reason, []).append(op.name)
        parts = [f"{', '.join(names)}: {reason}" for reason, names in by_reason.items()]
        said[day] = f"{TABLES_DUE} ({'; '.join(parts)})"
    return said


def reasons(picked: Mapping[str, str]) -> str:
    """Why `--missing` picked its days, a line per stretch of days picked for one reason."""
    lines = []
    for reason in dict.fromkeys(picked.values()):
        for run in stretches([d for d, why in picked.items() if why == reason]):
            span = run[0] if len(run) == 1 else f"{run[0]} .. {run[-1]}"
            lines.append(f"  {span}: {reason}")
    return "\n".join(lines)


def nothing_to_do(lake: "Lake") -> str:
    """Up to date within the partitions; raw days before the first one are no run's, and the
    headline must not call them up to date (a pinned start date hid a backfilled history)."""
    from trajectory_assets.defs.partitions import start_date_of
    from trajectory_assets.lake.layout import UNTIMED_DAY
    from trajectory_assets.lake.raw import list_days

    start = start_date_of(lake)
    early = [d for d in list_days(lake) if d < start and d != UNTIMED_DAY]  # untimed: no day
    if early:
        return (
            f"nothing to do from the first partition, {start}, to today; raw data of "
            f"{some_days(early)} before it is in no table until the lake's start_date "
            "(trajectory_assets.json, or TRAJECTORY_ASSETS_START_DATE) is moved back"
        )
    return (
        f"nothing to do: every day with raw data in {lake.display()} is up to date, "
        "from the first partition to today"
    )


def dry_run_refusal(
    lake: "Lake",
    registry: "Registry",
    tables: Sequence[str],
    days: Sequence[str],
    on_bad_file: OnBadFile,
    force: bool,
) -> str | None:
    """Why the run would be refused for a change of schema (its runs count as one, as the
    guard counts them), judged by the flags and the operators as the run configures them, or
    fail for inputs that no day holds."""
    from trajectory_assets.defs.settings import batch_bytes
    from trajectory_assets.engine.explain import schema_refusal
    from trajectory_assets.engine.settings import RunSettings
    from trajectory_assets.errors import MissingUpstreamError

    ops = _operators(registry, tables)
    settings = RunSettings(batch_bytes=batch_bytes(), on_bad_file=on_bad_file, force=force)
    try:
        return schema_refusal(registry, ops, lake, days, settings) if ops else None
    except MissingUpstreamError as exc:  # the run would fail as well
        return str(exc)


def refuse_days_without_raw_data(lake: "Lake", days: Sequence[str]) -> None:
    """A day without a raw folder has no data yet, or never will: not a day without events."""
    from trajectory_assets.lake.raw import list_days

    with_raw = set(list_days(lake))
    without = [d for d in days if d not in with_raw]
    if without:
        today = dt.datetime.now(dt.UTC).date().isoformat()
        future = [d for d in without if d > today]
        to_come = (
            f"{some_days(future)} is still to come (today is {today}, UTC); " if future else ""
        )
        raise CliError(
            f"no raw data for {some_days(without)} in {lake.display('raw_events')}: {to_come}"
            "ingest it first, or use --missing to materialize the days that have raw data "
            "(a day folder without files is an empty day, and materializes)"
        )
    in_partitions(lake, days, refuse=True)


def stretches(days: Sequence[str]) -> list[list[str]]:
    """Consecutive days together (sorted days in), so each stretch is one Dagster run."""
    found: list[list[str]] = []
    for day in days:
        if found and dt.date.fromisoformat(day) - dt.date.fromisoformat(
            found[-1][-1]
        ) == dt.timedelta(days=1):
            found[-1].append(day)
        else:
            found.append([day])
    return found
