"""`trajectory-assets …`: generate, ingest, serve, materialize, demo, explain, rollback, tables,
query.

`materialize` goes through Dagster and records the run in the DAGSTER_HOME instance, exactly as
a click in the UI would; the other commands work on the lake directly.
"""

import atexit
import contextlib
import errno
import os
import re
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from trajectory_assets import __version__
from trajectory_assets.cli.common import INTERRUPTED, CliError, plain_chain
from trajectory_assets.cli.demo import demo
from trajectory_assets.cli.explain import explain
from trajectory_assets.cli.forget import forget
from trajectory_assets.cli.generate import generate
from trajectory_assets.cli.ingest import ingest
from trajectory_assets.cli.materialize import materialize
from trajectory_assets.cli.query import query
from trajectory_assets.cli.quiet import quiet
from trajectory_assets.cli.report import report
from trajectory_assets.cli.rollback import rollback
from trajectory_assets.cli.serve import serve
from trajectory_assets.cli.sync import sync
from trajectory_assets.cli.tables import tables
from trajectory_assets.cli.vacuum import vacuum
from trajectory_assets.errors import EXPECTED

PROG = "trajectory-assets"


class Group(click.Group):
    """The command group, ending quietly when a reader of stdout goes away (`query … | head`)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            _stdout_to_devnull()
            ctx.exit(1)


def _stdout_to_devnull() -> None:
    """What Python's documentation recommends on SIGPIPE: point stdout at devnull, so the flush
    at exit has somewhere to go instead of raising BrokenPipeError a second time."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
# what an upgrade notes start from: the running code's (an older checkout on PYTHONPATH named
# the installed package's, read from its metadata)
@click.version_option(version=__version__, prog_name="trajectory-assets")
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="show the warnings and log lines of Dagster and Ray (hidden by default, but for "
    "lines Ray's C++ core writes to the terminal itself, as a worker pool's max_restarts line)",
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool) -> None:
    """Tier B analysis tables from raw LLM-agent events."""
    ctx.with_resource(quiet(verbose))


for command in (
    generate,
    ingest,
    serve,
    materialize,
    demo,
    explain,
    rollback,
    report,
    vacuum,
    forget,
    sync,
    tables,
    query,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; the exit status: 0, or 1 after `error: …` on stderr.

    Bad arguments print click's usage message and raise SystemExit(2), as argparse did, so
    callers (and the ingest tests) see the same behaviour as before the move to click.
    """
    try:
        code = cli.main(args=argv, prog_name=PROG, standalone_mode=False)
        sys.stdout.flush()
    except click.UsageError as exc:
        exc.show()
        raise SystemExit(exc.exit_code) from None
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except EXPECTED as exc:  # anywhere
        CliError(str(exc)).show()
        return 1
    except click.Abort as exc:
        if isinstance(exc.__cause__, KeyboardInterrupt):  # Ctrl+C outside a Dagster run
            click.echo("error: interrupted", err=True)
            return INTERRUPTED
        click.echo("Aborted!", err=True)
        return 1
    except BrokenPipeError:
        _stdout_to_devnull()
        return 1
    except Exception as exc:
        problem = _storage_problem(exc)
        if problem is None:
            raise
        CliError(problem).show()
        return 1
    return code if isinstance(code, int) else 0


POSTGRES_MODULES = ("dagster_postgres", "psycopg2")
"""What deploy/dagster.yaml's storage imports: the `postgres` extra."""

DATABASE_DOWN = ("OperationalError", "InterfaceError", "DagsterPostgresException")
DATABASE_LIBRARIES = ("sqlalchemy.", "sqlite3", "psycopg2", "dagster_postgres.")
"""Their errors of a database that cannot be reached or opened (dagster-postgres': after its
retries) are an outage, unlike a constraint that fails."""


def _storage_problem(exc: BaseException) -> str | None:
    """A lake its storage refuses (credentials, endpoint, permissions), or a Dagster instance
    whose database fails (PostgreSQL stopped, SQLite unreadable), is a setting or an outage to
    fix, not a bug: one line saying which, instead of botocore's or SQLAlchemy's traceback."""
    from trajectory_assets.cli.store_advice import botocore_message

    seen: BaseException | None = exc
    for _ in range(10):  # the exception and what it was raised from
        if seen is None:
            return None
        if type(seen).__module__.startswith(("botocore.", "aiobotocore.")):
            return botocore_message(seen)
        kind = type(seen)
        if kind.__name__ in DATABASE_DOWN and kind.__module__.startswith(DATABASE_LIBRARIES):
            said = str(seen).splitlines()[0] if str(seen) else type(seen).__name__
            if "readonly database" in said:  # a reader's copy, or another user's instance
                return (
                    f"the Dagster instance's database is read-only here (DAGSTER_HOME="
                    f"{os.environ.get('DAGSTER_HOME', '')}): {said}. A command that runs or "
                    "records needs write access to it; query, tables, explain and report need "
                    "no instance"
                )
            return (
                f"the Dagster instance's database cannot be used (DAGSTER_HOME="
                f"{os.environ.get('DAGSTER_HOME', '')}): {said}. Once it works again, run the "
                "command again: a run it cut short is marked failed, and `sync` records the days "
                "it committed"
            )
        if isinstance(seen, ModuleNotFoundError) and seen.name in POSTGRES_MODULES:
            return (
                f"the Dagster instance's settings (DAGSTER_HOME="
                f"{os.environ.get('DAGSTER_HOME', '')}) store runs in PostgreSQL, whose driver "
                f"is not installed ({seen}): pip install 'trajectory-assets[postgres]'"
            )
        if isinstance(seen, PermissionError | FileNotFoundError) and (
            store := _storage_problem(seen.__cause__ or seen.__context__ or OSError())
        ):  # s3fs' of botocore's refusal, or of a missing bucket: botocore's says which
            return store
        if isinstance(seen, PermissionError):
            return f"permission denied: {seen}"
        if isinstance(seen, OSError) and (ran_out := _out_of(seen)):
            return ran_out
        if isinstance(seen, OSError) and (
            seen.errno == errno.EROFS or REFUSED_BY_THE_FILE_SYSTEM.search(str(seen))
        ):  # Python's, or Delta Lake's in Rust
            return f"the file system refused: {plain_chain(str(seen))}"
        if isinstance(seen, MemoryError):
            return (
                "out of memory: this process may not use more. Give it more, or run with "
                "--runtime inline --num-cpus 1, which holds one batch at a time"
            )
        seen = seen.__cause__ or seen.__context__
    return None


REFUSED_BY_THE_FILE_SYSTEM = re.compile(r"\(os error (13|30)\)")
"""Permission denied, a read-only file system: a lake this user may only read (vacuum,
rollback), as Delta Lake's Rust core reports it in an OSError of its own."""

RUN_OUT = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is used up",
    errno.EMFILE: "too many open files",
    errno.ENFILE: "too many open files on this machine",
}
OS_ERROR_NUMBER = re.compile(r"\(os error (\d+)\)")  # how Delta Lake's Rust core says which


def _out_of(exc: OSError) -> str | None:
    """A machine that ran out of space or file handles is the operator's to fix, not a bug:
    one line saying what ran out and what to do, instead of a traceback."""
    number = exc.errno
    if number is None and (found := OS_ERROR_NUMBER.search(str(exc))):
        number = int(found.group(1))
    what = RUN_OUT.get(number or 0)
    if what is None:
        return None
    said = plain_chain(str(exc))
    if number in (errno.EMFILE, errno.ENFILE):
        return f"{what} ({said}): raise the limit (`ulimit -n`), then run the command again"
    return (
        f"{what} ({said}): free some, then run the same command again (it finishes what a run, "
        "a rollback or a forget left unfinished; vacuum too needs a little space, for the "
        "commit it writes before it deletes)"
    )


def run() -> NoReturn:
    """The `trajectory-assets` script (and `python -m trajectory_assets.cli`): `main`, then an
    exit that skips Python's teardown of the interpreter.

    By then every table and run record is committed (Delta commits, Dagster's SQLite
    transactions), so the teardown only frees memory and unloads modules: 0.8 s after a
    `materialize` (its ~275,000 objects of Dagster, Arrow, DuckDB and Delta), a tenth of a day's
    run. The exit handlers a normal exit runs (logging's flush, Ray's shutdown) still run; with
    another thread alive, the normal exit waits for it as usual.
    """
    code = main()
    if threading.active_count() > 1 and code != INTERRUPTED:
        sys.exit(code)  # an interrupted run's batch threads are left behind: a crash is safe
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a reader gone away, a stream closed
            stream.flush()
    os._exit(code)
