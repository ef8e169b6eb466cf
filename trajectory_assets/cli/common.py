"""What the commands share: the error they raise and how they print, the day, lake and runtime
options, days within the partitions, the project's operators by name, and opening a lake. The
Dagster instance a command runs in is `cli/instance.py`'s.

Library imports stay inside functions where they are heavy or still moving (Dagster, Ray,
DuckDB, the ingest library), so `--help` and the quick commands start fast and a command only
breaks when what it calls does.
"""

import datetime as dt
import re
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click

from trajectory_assets.engine.runtimes.names import (
    RAY_ADDRESS,
    RAY_NUM_CPUS,
    RUNTIME,
    RUNTIME_NAMES,
)
from trajectory_assets.errors import first_few, shown
from trajectory_assets.lake.bad_file_rules import BAD_FILE_RULES, ON_BAD_FILE
from trajectory_assets.lake.layout import RAW_TABLE, REPORT, is_day

if TYPE_CHECKING:
    from trajectory_assets.engine.registry import Registry
    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.operator import Operator
    from trajectory_assets.project import Project

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_APPS = "support-bot,code-agent,research-agent"


class CliError(click.ClickException):
    """An expected failure: `error: <message>` on stderr, exit status 1, no traceback."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {shown(self.format_message())}", err=file is None, file=file)


class ChecksFailed(CliError):
    """Runs that committed and recorded their tables, some of whose ERROR checks failed."""


INTERRUPTED = 130  # the shell's exit status for a command stopped by Ctrl+C (SIGINT)


def usage(message: str) -> click.UsageError:
    """Options that cannot go together: click's usage text and exit status 2, as a bad value
    of one option gets, rather than an `error:` of the run itself."""
    return click.UsageError(message, ctx=click.get_current_context(silent=True))


@contextmanager
def sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (`kill`, a scheduler's stop) stops a command that runs Dagster runs as Ctrl+C
    does, from its start, as Dagster's run maps it: before the run set its handlers, it killed
    the process at once, without a word, leaving the run it was creating Not started for good."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


class Interrupted(CliError):
    """A run stopped by Ctrl+C: one line saying what stays, the shell's exit status for it."""

    exit_code = INTERRUPTED


class Day(click.ParamType):
    """A day as YYYY-MM-DD, kept as that text: partition keys and lake folders are text, so a
    day is spelled one way everywhere (Python also reads 20261201 and 2026-W48-1 as dates; the
    UI, the settings and the folders do not)."""

    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        if not is_day(value):
            self.fail(f"not a date (YYYY-MM-DD): {value!r}", param, ctx)
        return value


DAY = Day()


def in_partitions(lake: "Lake", days: Sequence[str], *, refuse: bool) -> list[str]:
    """`days` from the lake's first partition to today (UTC): one outside is an error
    (`refuse`: days the user named), or left out with a note (days found in the lake: no run
    reads them, so they must not go unsaid)."""
    from trajectory_assets.defs.partitions import start_date_of
    from trajectory_assets.lake.layout import UNTIMED_DAY

    start = start_date_of(lake)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    untimed = UNTIMED_DAY in days and not refuse
    early = [d for d in days if d < start and not (untimed and d == UNTIMED_DAY)]
    late = [d for d in days if d > today]
    where = (
        f"the lake's first partition, {start} (TRAJECTORY_ASSETS_START_DATE, else the lake's "
        "trajectory_assets.json, else its first raw day)"
    )
    last = f"the last partition, today ({today}, UTC): a producer's clock ahead?"
    if early and refuse:
        raise CliError(f"{some_days(early)} is before {where}")
    if late and refuse:
        raise CliError(f"{some_days(late)} is after {last}")
    if untimed:  # in no partition whatever the start date
        tell(
            f"note: leaving out {UNTIMED_DAY}, the day of events without a time (in no "
            "partition): `ingest --synthetic-date DAY` places a format without times on a day"
        )
    if early:
        tell(f"note: leaving out {some_days(early)}, before {where}")
    if late:
        tell(f"note: leaving out {some_days(late)}, after {last}")
    return [d for d in days if start <= d <= today]


def some_days(days: Sequence[str]) -> str:
    """The first few days, and how many more: for messages."""
    return first_few(days, "more day(s)")


def say(text: str = "") -> None:
    """One line on stdout, flushed, so it interleaves with Dagster's log lines on stderr."""
    click.echo(shown(text))


def plain_chain(message: str) -> str:
    """A Rust error chain (`outer` then `↳ cause` lines, in terminal colours) as one line."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", message)
    return ": ".join(line.strip().lstrip("↳").strip() for line in text.splitlines() if line.strip())


def tell(text: str) -> None:
    """A line on stderr: a note or a warning, beside the run's progress lines, never in what a
    script reads from stdout (control characters as escapes: details name what the data and
    other machines said)."""
    click.echo(shown(text), err=True)


def warn_of_misnamed_days(lake: "Lake") -> None:
    """A `warning:` line for raw folders that name no day: no day's run reads them."""
    from trajectory_assets.lake.raw import misnamed_day_folders, misnamed_warning

    if misnamed := misnamed_day_folders(lake):
        tell(f"warning: {misnamed_warning(misnamed)}")


def warn_of_unfinished_forgets(lake: "Lake") -> None:
    """A `warning:` line for each forget begun and not finished (killed, out of memory): its
    sessions may still be in older table versions and the Dagster instance, and nothing else
    said so."""
    import shlex

    from trajectory_assets.lake.erase import EVERY_DAY, unfinished

    for path, record in unfinished(lake):
        days = "--all-sessions" if record.before == EVERY_DAY else f"--before {record.before}"
        rest = [days] if record.before is not None else []
        rest += [f"--session-id {shlex.quote(s)}" for s in record.session_ids]
        command = forget_command(lake.display(), shlex.quote(record.app_id), " ".join(rest))
        tell(
            f"warning: a forget of app {record.app_id}'s sessions is unfinished (record "
            f"{lake.display_path(path)}): they may still be in older table versions and the "
            f"Dagster instance; run it again to finish it: {command}"
        )


def forget_command(lake: str, app: str, rest: str) -> str:
    """A `forget` command to copy (`app` quoted already, or a placeholder)."""
    import shlex

    return f"trajectory-assets forget --lake {shlex.quote(lake)} --app-id {app} {rest}"


def verbose() -> bool:
    """Whether the command runs with -v (Dagster's and Ray's own output shown)."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx and ctx.find_root().params.get("verbose"))


def lake_option(f: F) -> F:
    return click.option("--lake", required=True, help="lake root: a path or s3://bucket/prefix")(f)


def runtime_option(f: F) -> F:
    return click.option(
        "--runtime",
        type=click.Choice(RUNTIME_NAMES),
        default="auto",
        show_default=True,
        envvar=RUNTIME,
        show_envvar=True,
        help="auto: in this process for small runs, Ray for large ones (always Ray when a "
        "cluster's address is given); ray: Ray Data tasks; inline: in this process, on every "
        "core (or --num-cpus), no Ray",
    )(f)


def ray_address_option(f: F) -> F:
    return click.option(
        "--ray-address",
        envvar=RAY_ADDRESS,
        show_envvar=True,
        callback=_no_ray_client,
        help="an existing Ray cluster, which then runs the batches: auto (a cluster this "
        "machine belongs to) or its head's host:6379 (from a machine on its network); unset "
        "starts a private local Ray when the runtime uses Ray",
    )(f)


def _no_ray_client(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    from trajectory_assets.engine.runtimes.ray import ray_client_refusal

    refusal = ray_client_refusal(value or "")
    if refusal is not None:
        raise click.BadParameter(refusal, ctx, param)
    return value


def num_cpus_option(f: F) -> F:
    return click.option(
        "--num-cpus",
        type=click.IntRange(min=1),
        envvar=RAY_NUM_CPUS,
        show_envvar=True,
        help="CPUs the batches use: the embedded local Ray's size, or the in-process threads "
        "(default: every core)",
    )(f)


def on_bad_file_option(f: F) -> F:
    return click.option(
        "--on-bad-file",
        type=click.Choice(BAD_FILE_RULES),
        default="fail",
        show_default=True,
        envvar=ON_BAD_FILE,
        show_envvar=True,
        help="an unreadable raw file fails the run, or is skipped and reported",
    )(f)


def days_options(f: F) -> F:
    """--partition DAY, or --from DAY --to DAY (inclusive); `resolve_days` checks the mix."""
    f = click.option("--to", "date_to", type=DAY, help="last day of a range (inclusive)")(f)
    f = click.option("--from", "date_from", type=DAY, help="first day of a range")(f)
    return click.option("--partition", type=DAY, help="one day")(f)


def resolve_days(partition: str | None, date_from: str | None, date_to: str | None) -> list[str]:
    """The days the options name, or [] when none was given (the command picks a default)."""
    if partition and (date_from or date_to):
        raise usage("give --partition DAY, or --from DAY and --to DAY, not both")
    if partition:
        return [partition]
    if bool(date_from) != bool(date_to):
        raise usage("give --partition DAY, or --from DAY and --to DAY")
    if date_from and date_to:
        return day_range(date_from, date_to)
    return []


def day_range(start: str, end: str) -> list[str]:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    if last < first:
        raise usage(f"--to {end} is before --from {start}")
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def split_list(text: str | None) -> list[str]:
    """A comma-separated option as its non-empty items."""
    return [item.strip() for item in (text or "").split(",") if item.strip()]


def defs_option(f: F) -> F:
    return click.option(
        "--defs",
        "defs",
        multiple=True,
        metavar="MODULE",
        help="a module of your own operators (its `operators` list); repeat for several; "
        "also TRAJECTORY_ASSETS_DEFS",
    )(f)


def project(
    defs: Sequence[str] = (), lake: "Lake | None" = None, *, reader: bool = False
) -> "Project":
    """The built-in operators and those of `defs` modules (and of the lake's config); a bad
    module is a clear error. `reader`: a command that computes nothing (`project.for_lake`)."""
    from trajectory_assets.errors import DefinitionError
    from trajectory_assets.project import for_lake

    try:
        return for_lake(lake, defs, reader=reader)
    except DefinitionError as exc:
        raise CliError(str(exc)) from None


def operator_named(registry: "Registry", name: str, *, report: bool = False) -> "Operator":
    """The operator that writes table `name` (or is called `name`); `report`: the daily
    report is an asset the command also takes (and the error lists it)."""
    try:
        return registry.operator(name)
    except KeyError as exc:
        message = str(exc.args[0])
        if report:
            message += f", {REPORT}"
        own = (
            "; a table of your own is known with its module: --defs MODULE, "
            'TRAJECTORY_ASSETS_DEFS, or "defs" in the lake\'s trajectory_assets.json'
            if name != RAW_TABLE
            else ""
        )
        raise CliError(message + own) from None


def tables_for(registry: "Registry", names: Sequence[str]) -> list[str]:
    """Expand table names to every output of their operators (a multi-asset commits together);
    no names means every table."""
    if not names:
        return [t for op in registry.operators for t in op.output_names]
    tables: list[str] = []
    for name in names:
        tables += [
            t for t in operator_named(registry, name, report=True).output_names if t not in tables
        ]
    return tables


def open_lake(uri: str, *, must_exist: bool) -> "Lake":
    """The lake at `uri`. Commands that only read it refuse a root that is not there, rather
    than answer as if it were an empty lake (a typo in --lake would look like no data); every
    command refuses a root that holds something else, which commands that write would turn
    into a lake (a home folder, a project folder) or fail on file by file (a file)."""
    from trajectory_assets.lake.config import not_a_lake
    from trajectory_assets.lake.fs import lake_from_env

    lake = lake_from_env(uri)
    if not lake.fs.exists(lake.root):
        if must_exist:
            raise CliError(f"no lake at {lake.display()}")
        return lake
    if reason := not_a_lake(lake):
        new = "" if must_exist else "; a new lake needs a new or empty folder"
        raise CliError(reason + new)
    return lake
