"""`trajectory-assets forget`: delete sessions from the lake and the Dagster instance, and
prove it.

The only command that deletes raw data. In order: record the request in `<lake>/_forgotten/`;
delete the sessions' raw files; rebuild every table for the affected days, and the later days
whose rolling windows read them, through Dagster (a recorded run like any other); purge what
older versions, failed runs and logs kept; delete the Dagster runs whose events name the
sessions (table previews, file paths) and record their days again from the lake; search the
whole lake and the instance's runs for anything left. The record ends with what was found:
nothing, or the exit status is 1 and each leftover is named.
The deletion of raw files, and everything from the purge on, hold the instance's pool slot, as
a run's step does: a run in flight would otherwise read raw files as they go, commit a session
forgotten meanwhile, or lose its uncommitted files to the purge.
"""

import contextlib
import datetime as dt
import posixpath
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import click

from trajectory_assets.cli.common import (
    DAY,
    REPORT,
    ChecksFailed,
    CliError,
    Interrupted,
    defs_option,
    lake_option,
    num_cpus_option,
    on_bad_file_option,
    open_lake,
    project,
    runtime_option,
    say,
    sigterm_as_ctrl_c,
    some_days,
    tell,
    usage,
)
from trajectory_assets.cli.forget_plan import NothingToForget, Plan
from trajectory_assets.cli.forget_plan import plan as make_plan
from trajectory_assets.cli.instance import dagster_home
from trajectory_assets.lake.bad_file_rules import OnBadFile
from trajectory_assets.schema import NULL_PARTITION

if TYPE_CHECKING:
    import dagster as dg

    from trajectory_assets.lake import erase
    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.lake.mentions import Sessions
    from trajectory_assets.project import Project


FORGET_TAG = "trajectory_assets/forget"  # on a forget's rebuild runs: its record's name


@click.command(short_help="delete sessions from raw data and every table, verifiably")
@lake_option
@defs_option
@click.option("--app-id", required=True, help="the app whose sessions are forgotten")
@click.option("--session-id", "session_ids", multiple=True, help="a session to forget (repeat)")
@click.option(
    "--before",
    type=DAY,
    help="forget every session of the app filed under a day before this one (a session's day "
    "is its first event's, UTC)",
)
@click.option(
    "--all-sessions",
    "every",
    is_flag=True,
    help="forget every session of the app, on every day (a tenant that leaves)",
)
@runtime_option
@num_cpus_option
@on_bad_file_option
@click.option("--yes", is_flag=True, help="do not ask for confirmation")
def forget(
    lake: str,
    defs: tuple[str, ...],
    app_id: str,
    session_ids: tuple[str, ...],
    before: str | None,
    every: bool,
    runtime: str,
    num_cpus: int | None,
    on_bad_file: OnBadFile,
    yes: bool,
) -> None:
    """Delete sessions' raw files, rebuild the tables of their days, purge older versions,
    logs and the Dagster runs that show them, and verify that nothing still holds them."""
    import dagster as dg

    from trajectory_assets.cli.pool import holding_pool
    from trajectory_assets.defs.assets import POOL
    from trajectory_assets.defs.instance import bind
    from trajectory_assets.errors import OtherLakeError
    from trajectory_assets.lake import erase, erase_raw
    from trajectory_assets.lake.catalog import Catalog

    click.get_current_context().with_resource(sigterm_as_ctrl_c())  # said unfinished, as Ctrl+C
    given = [bool(session_ids), before is not None, every].count(True)
    if given != 1:
        raise usage(
            "give --session-id SESSION (one or more), --before DAY, or --all-sessions"
            + (": one of them, not several" if given > 1 else "")
        )
    named = [("app_id", app_id), *(("session_id", s) for s in session_ids)]
    if problem := next((p for c, v in named if (p := _null_key(c, v))), None):
        raise usage(problem)
    if every:
        before = erase.EVERY_DAY  # every session started before it: all of them
    dagster_home("the sessions are forgotten in the Dagster instance's runs too")
    where = open_lake(lake, must_exist=True)
    instance = dg.DagsterInstance.get()
    try:
        bind(instance, where.display())
    except OtherLakeError as exc:
        raise CliError(str(exc)) from None
    the_project = project(defs, where)
    request = erase.Request(app_id, tuple(session_ids), before)
    _not_on_their_way(where, request.sessions(), request.whole_app)
    try:
        plan = make_plan(where, the_project.registry, request, on_bad_file)
    except NothingToForget:
        if not _app_rejected_forgotten(where, request, yes):
            raise
        return
    if plan is None:
        _app_rejected_forgotten(where, request, yes)
        return
    _not_on_their_way(where, request.sessions(plan.forgotten), whole_app=False)
    purged = "their tables' history before now (every day's) and the Dagster runs showing them"
    question = f"forget {plan.what} on {len(plan.days)} day(s), {purged}"
    if plan.pooling.days:
        question += (
            f", and compute {', '.join(plan.pooling.tables)} again on "
            f"{len(plan.pooling.days)} later day(s) whose rolling window reads theirs"
        )
    _confirm(question, yes)

    path, record = plan.resumed if plan.resumed is not None else erase.start(where, request)
    record.sessions = sorted(plan.forgotten)
    shown = where.display_path(path)
    with _unfinished_if_interrupted(shown):
        with holding_pool(instance, POOL, "forget: delete raw files"):  # no run reads them now
            targets = erase_raw.delete_raw(where, plan.files)
            record.raw_rows_deleted += erase_raw.delete_rows(where, plan.misfiled, plan.by_id)
        record.raw_files_deleted += len(plan.files)
        record.days = plan.days  # the forgotten sessions' days, which a resumed forget takes up
        erase.save(where, path, record)
        done = plan.files or plan.misfiled
        say(f"deleted {plan.what}" if done else f"{plan.what}: their raw files are already gone")
        for target in targets:
            say(f"  and {target}, outside the lake, which a raw file of theirs linked to")
        own_runs = {FORGET_TAG: posixpath.basename(path)}  # its rebuild read none of their files
        built = _rebuild(
            lake, where, the_project, plan, runtime, on_bad_file, shown, own_runs, num_cpus=num_cpus
        )
        # files of a run in flight are no history, and no leftover: none runs until it is checked
        with holding_pool(instance, POOL, "forget: purge and check"):
            _purge_and_check(instance, where, the_project, request, plan, record, own_runs, built)
        record.verified = not record.leftovers
        record.finished_at = dt.datetime.now(dt.UTC).isoformat()
        erase.save(where, path, record)
        if record.leftovers:
            for line in record.leftovers:
                say(f"  still present: {line}")
            raise CliError(f"the sessions are not fully forgotten (see above; record {shown})")
    catalog = Catalog(where, the_project.registry.tables)
    for name, on in erase.unloaded_days(where, catalog, plan.days).items():
        tell(
            f"note: {name} was not rebuilt on {some_days(on)}: no loaded operator writes it, "
            "and computed from these days' tables it may still count the forgotten sessions; "
            "materialize it again with its code (--defs MODULE --missing)"
        )
    say(
        f"forgotten: rebuilt {len(built)} day(s), purged the history of "
        f"{len(record.tables_purged)} table(s); nothing in the lake or the Dagster instance "
        f"holds them (record {shown})"
    )


@contextlib.contextmanager
def _unfinished_if_interrupted(shown: str) -> Iterator[None]:
    """Ctrl+C once the forget is recorded: it is unfinished, and the same forget finishes it
    (caught between the raw files' deletion and the rebuild's run, it said "interrupted" alone,
    and the tables kept the sessions with nothing telling to run it again)."""
    try:
        yield
    except KeyboardInterrupt:
        raise Interrupted(
            f"interrupted: the forget is unfinished (record {shown}): run the same forget again "
            "to finish it"
        ) from None


def _confirm(question: str, yes: bool) -> None:
    """CliError unless `--yes` or the terminal's answer says to go on."""
    if not yes and not sys.stdin.isatty():  # a script's: no one to answer, nothing to wait for
        raise CliError(f"nothing was deleted: pass --yes to {question}, without a terminal")
    if not yes and not click.confirm(f"{question}?", err=True):
        raise CliError("nothing was deleted")


def _not_on_their_way(where: "Lake", sessions: "Sessions", whole_app: bool) -> None:
    """CliError, before anything is deleted, when a receiver's write-ahead log holds spans of
    the sessions: `serve` took them and will write them, after the forget."""
    from trajectory_assets.lake.wal import entries_naming

    held = entries_naming(where, sessions, whole_app=whole_app)
    if held:
        ids = sorted({sid for named in held.values() for sid in named})
        raise CliError(
            f"nothing was deleted: {len(held)} request(s) that `serve` took, in "
            f"{where.display_path(posixpath.dirname(next(iter(held))))}, hold spans of "
            f"{sessions.app_id}'s session(s) {', '.join(ids[:5])}"
            + (f" and {len(ids) - 5} more" if len(ids) > 5 else "")
            + ", not yet written to the raw lake; forget once a receiver has written them (a "
            "trace's end when its root span comes, or 10 minutes after its last span; what a "
            "stopped receiver left, the next `serve` on the lake) and no more of them come"
        )


def _app_rejected_forgotten(where: "Lake", request: "erase.Request", yes: bool) -> bool:
    """`--all-sessions` of an app none of whose sessions is left: its rejected input, which
    a forget before 0.5.0 left (spans naming no conversation), or all there is of an app none of
    whose spans was taken. Whether there was any."""
    from trajectory_assets.lake.quarantine import drop_rejected, rejected_naming

    sessions = request.sessions()
    if not request.whole_app or not (files := rejected_naming(where, sessions, whole_app=True)):
        return False
    _confirm(f"forget the rejected input of {request.app_id} in {len(files)} file(s)", yes)
    dropped = drop_rejected(where, sessions, whole_app=True)
    say(f"deleted {dropped} rejected line(s) of {request.app_id}'s input; no session of it is left")
    return True


def _null_key(column: str, value: str) -> str | None:
    """Why an id names nothing forget can take: a blank one, or the folder name of a null
    (every such folder's rows matched it, and a forget started that could never verify)."""
    option = f"--{column.replace('_', '-')}"
    if value.strip() and value != NULL_PARTITION:
        return None
    named = f"a blank {option}" if not value.strip() else f"{option} {NULL_PARTITION}"
    if column == "session_id":
        return f"{named} names no session: rows of no session go with --all-sessions of their app"
    return (
        f"{named} names no app: a folder of a null app belongs to none, and goes by hand "
        "(README, Undo, retention, deletion)"
    )


def _rebuild(
    lake: str,
    where: "Lake",
    the_project: "Project",
    plan: Plan,
    runtime: str,
    on_bad_file: OnBadFile,
    shown: str,
    tags: dict[str, str],
    *,
    num_cpus: int | None,
) -> list[str]:
    """Every table of the days that have any, through Dagster: a recorded run like any other,
    each day with the parameters it was committed with (a run's config may have set them: a
    forget changes nothing else), in day order (a window reads the days before it). The days
    it rebuilt."""
    from trajectory_assets.cli.materialize import run_days
    from trajectory_assets.lake.catalog import Catalog

    tables = the_project.registry.tables
    catalog = Catalog(where, tables)
    built = [d for d in plan.rebuilt if any(catalog.state(t, d) for t in tables)]
    if not built:
        return built
    rebuilt = [*tables, "daily_report"]  # the report names sessions too
    unfinished = (
        f"the forget is unfinished: the raw files are deleted, but the tables of "
        f"{some_days(built)} may still hold the sessions (record {shown}): run the same forget "
        "again to finish it"
    )
    failed_checks = []
    try:
        for days, parameters in _by_parameters(built, plan.parameters):
            if parameters:
                shown_params = "; ".join(
                    f"{op} {', '.join(f'{k}={v}' for k, v in sorted(values.items()))}"
                    for op, values in sorted(parameters.items())
                )
                say(f"{some_days(days)}: with the parameters committed then: {shown_params}")
            try:
                run_days(
                    lake,
                    days,
                    the_project,
                    runtime=runtime,
                    num_cpus=num_cpus,
                    tables=rebuilt,
                    on_bad_file=on_bad_file,
                    config=parameters,
                    config_file="(the parameters the days were committed with)",
                    tags=tags,
                )
            except ChecksFailed as exc:  # the days are rebuilt: the data's state, not the forget's
                failed_checks.append(exc.message)
    except Interrupted as exc:
        raise Interrupted(f"{exc.message}\n{unfinished}") from None
    except CliError as exc:
        raise CliError(f"{exc.message}\n{unfinished}; remove the cause first") from None
    for message in failed_checks:
        say(f"the rebuild committed every day; {message}")
    return built


def _by_parameters(
    days: list[str], parameters: Mapping[str, dict[str, dict[str, Any]]]
) -> list[tuple[list[str], dict[str, dict[str, Any]]]]:
    """The days in order, cut where the parameters they were committed with change."""
    groups: list[tuple[list[str], dict[str, dict[str, Any]]]] = []
    for day in days:
        these = parameters.get(day, {})
        if groups and groups[-1][1] == these:
            groups[-1][0].append(day)
        else:
            groups.append(([day], these))
    return groups


def _purge_and_check(
    instance: "dg.DagsterInstance",
    where: "Lake",
    the_project: "Project",
    request: "erase.Request",
    plan: Plan,
    record: "erase.Record",
    own_runs: dict[str, str],
    built: list[str],
) -> None:
    """Purge what older versions, rejected lines and Dagster runs kept, record the deleted
    runs' days again from the lake, then search the lake and the instance for anything left."""
    from trajectory_assets.defs import forget as instance_erase
    from trajectory_assets.defs.partitions import daily, start_date_of
    from trajectory_assets.defs.sync import sync
    from trajectory_assets.lake import erase, erase_purge
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.quarantine import drop_rejected

    tables = the_project.registry.tables
    days, sessions = plan.days, request.sessions(plan.forgotten)
    catalog = Catalog(where, tables)
    record.tables_purged = erase_purge.purge_history(where, catalog, plan.rebuilt)
    record.rejected_lines_deleted = drop_rejected(where, sessions, whole_app=request.whole_app)
    unkeyed = [  # a table of another code location: its schema unknown here
        REPORT,
        *(n for n, spec in tables.items() if "session_id" not in spec.schema.names),
        *erase.unloaded_tables(where, catalog),
    ]

    def runs_holding() -> dict[str, list[str]]:
        found = instance_erase.runs_mentioning(
            instance, days, sessions, where.display(), unkeyed=unkeyed, rebuilt=own_runs
        )
        pooled = plan.pooling  # later days: only their windows' rows are made from the sessions
        if not pooled.days:
            return found
        windows = [REPORT, *pooled.tables]
        more = instance_erase.runs_mentioning(
            instance, pooled.days, sessions, where.display(), unkeyed=windows, rebuilt=own_runs
        )
        return {r: sorted({*found.get(r, []), *more.get(r, [])}) for r in {*found, *more}}

    held = runs_holding()
    partitions = daily(start_date_of(where))
    # the rebuild's runs recorded its days last, their checks with them: recorded again, the
    # checks would show unevaluated
    again = instance_erase.days_worked_on(instance, held, partitions) - set(built)
    going = instance_erase.delete_runs(instance, held)
    record.dagster_runs_deleted = sorted(set(held) - set(going))
    recorded = sync(instance, where, the_project.registry, partitions, again=again)
    if record.dagster_runs_deleted:
        say(
            f"deleted {len(record.dagster_runs_deleted)} Dagster run(s) whose events named "
            "them or showed rows made from them; recorded "
            f"{sum(recorded.recorded.values())} table day(s) again from the lake"
        )
    record.leftovers = erase.leftovers(where, Catalog(where, tables), request, plan.forgotten)
    record.leftovers += [
        f"Dagster run {run_id} shows {', '.join(named[:5])}"
        for run_id, named in runs_holding().items()
    ]
