"""`trajectory-assets query SQL`: DuckDB SQL over the current Tier B tables of a lake.

Every table (and `raw_compacted`) is a view over one version of its Delta table: the current
one, or the one current at `--as-of VERSION|TIMESTAMP` (time travel). Delta, not a file glob,
decides which files make up a version, so a query never sees two versions at once.

Every format streams its rows, so `query … | head` stops the query's output early. The table
is for people (long values cut: `query_output.py`); csv, json (one object per line) and parquet
keep every value whole, for programs.
"""

import datetime as dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from trajectory_assets.cli.common import (
    CliError,
    defs_option,
    lake_option,
    open_lake,
    project,
)
from trajectory_assets.cli.query_output import opened, write_csv, write_json, write_table

if TYPE_CHECKING:
    import duckdb

    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.schema import TableSpec

FORMATS = ("table", "csv", "json", "parquet")


def _statements(sql: str) -> str:
    """The SQL without its comments, semicolons and spaces: empty when it states nothing."""
    import re

    text = re.sub(r"/\*.*?\*/|--[^\n]*", "", sql, flags=re.DOTALL)
    return text.replace(";", "").strip()


@click.command(short_help="run DuckDB SQL over the current Tier B tables")
@click.argument("sql")
@lake_option
@defs_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table: every row, for reading; csv: with a header; json: one object per line; "
    "parquet: needs --output",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the result to FILE instead of stdout (`-`: stdout)",
)
@click.option(
    "--as-of",
    "as_of",
    help="read every table as of a Delta version (a number) or a time (ISO 8601, UTC if no zone)",
)
def query(
    sql: str, lake: str, defs: tuple[str, ...], fmt: str, output: Path | None, as_of: str | None
) -> None:
    """Run DuckDB SQL over the current Tier B tables (or as of a version or time).

    The SQL runs in a DuckDB session of this process, with your permissions: it can read and
    write files as any DuckDB can (COPY, ATTACH, read_text). It is no query service for people
    you would not give a shell."""
    import duckdb

    if not _statements(sql):  # an unset shell variable: DuckDB runs nothing and says nothing
        raise CliError('the SQL is empty: give a query, e.g. "SELECT * FROM sessions LIMIT 5"')
    if output is not None and str(output) == "-":  # the usual name of stdout
        output = None
    if fmt == "parquet" and output is None:
        raise CliError("--format parquet writes a file: give --output FILE")
    where = open_lake(lake, must_exist=True)
    specs = project(defs, where, reader=True).registry.tables
    tables = list(specs)
    moment = _as_of(as_of)
    if isinstance(moment, int):
        _one_table_for_a_version(sql, tables, moment)
    in_sql = {name.lower() for name in _tables_in(sql)}
    named = [t for t in tables if t.lower() in in_sql]
    con, absent = connect(where, named or tables, as_of=moment)  # each table opened costs
    try:
        result = con.sql(sql)
        if result is None:  # a statement without a result, e.g. SET
            return
        if fmt == "parquet":
            assert output is not None
            result.write_parquet(str(output))
            return
        with opened(output) as out:
            if fmt == "table":
                write_table(result, out)
            elif fmt == "csv":
                write_csv(result, out)
            else:
                write_json(result, out)
    except duckdb.CatalogException as exc:
        named = [t for t in absent if f"Table with name {t} does not exist" in str(exc)]
        if named:  # not DuckDB's guess at another table: the version that is not there
            raise CliError(f"{named[0]} {absent[named[0]]}") from None
        raise CliError(_unloaded(str(exc), where) or str(exc).strip()) from None
    except duckdb.BinderException as exc:
        later = _column_of_later(str(exc), con, {t: specs[t] for t in named}, as_of)
        raise CliError(later or str(exc).strip()) from None
    except duckdb.Error as exc:
        raise CliError(_lost_file(str(exc), where, as_of) or str(exc).strip()) from None


def _column_of_later(
    message: str, con: "duckdb.DuckDBPyConnection", specs: "dict[str, TableSpec]", as_of: str | None
) -> str | None:
    """A column the query names that a table declares now but did not have at `--as-of` (it
    was added since): DuckDB says only that no table of the FROM clause has it."""
    missing = re.search(r'Referenced column "([^"]+)" not found', message)
    if as_of is None or missing is None:
        return None
    column = missing.group(1)
    for name, spec in specs.items():
        held = {row[0] for row in con.execute(f'DESCRIBE "{name}"').fetchall()}
        if column in spec.schema.names and column not in held:
            return f"{name} as of {as_of} has no column {column}: it was added to the table later"
    return None


def _unloaded(message: str, lake: "Lake") -> str | None:
    """A table the lake has but no loaded module declares (its module not named, or an output
    its operator dropped), rather than DuckDB's guess at a table of its own catalog."""
    from trajectory_assets.lake.delta_history import LOG

    missing = re.search(r"Table with name (\w+) does not exist", message)
    if missing is None or not lake.fs.exists(lake.path(missing.group(1), LOG)):
        return None
    table = missing.group(1)
    return (
        f"{table} is a table of {lake.display()} that no operator this command loaded writes: "
        "name its operator's module with --defs MODULE (or TRAJECTORY_ASSETS_DEFS, or in the "
        "lake's trajectory_assets.json); a table its operator no longer writes reads with any "
        f"Delta reader, at {lake.display(table)}"
    )


def _lost_file(message: str, lake: "Lake", as_of: str | None) -> str | None:
    """What to do when DuckDB could not open a data file of a table: of an old version, it was
    vacuumed; of the current one, it was deleted by hand. None for any other error."""
    from trajectory_assets.errors import LostDataFileError
    from trajectory_assets.lake.delta_read import DAY_IN_PATH

    table = re.search(r"stream registered as '([^']+)' failed", message)
    path = re.search(r"Object at location (\S+) not found", message)
    if table is None or path is None:
        return None
    if as_of is not None:
        return str(LostDataFileError.vacuumed(table.group(1), as_of, _in_lake(lake, path.group(1))))
    day = DAY_IN_PATH.search(path.group(1))
    day_of = day.group(1) if day else None
    shown = _in_lake(lake, path.group(1))
    return str(LostDataFileError.of(lake.display(), table.group(1), day_of, shown))


def _in_lake(lake: "Lake", location: str) -> str:
    """A location as Delta's object store names it (a key in the bucket, or a local path
    without its leading slash), as the user would type it."""
    if lake.is_local:
        return location if location.startswith("/") else f"/{location}"
    return f"{lake.protocol}://{lake.root.split('/', 1)[0]}/{location}"


def _as_of(text: str | None) -> "int | dt.datetime | None":
    if text is None:
        return None
    from trajectory_assets.lake.catalog import checked_as_of

    if text.isdigit():
        return int(text)
    try:
        return checked_as_of(text)
    except ValueError:
        raise CliError(f"--as-of takes a table version or an ISO time, not {text!r}") from None


def _one_table_for_a_version(sql: str, tables: Sequence[str], version: int) -> None:
    """A version number is one table's: each table counts its own commits (a rollback, a
    vacuum or a day of one table alone moves them apart), so version N of two tables is two
    points in time, and a join of them would mix them without a word."""
    named = sorted(set(_tables_in(sql)) & set(tables))
    if len(named) > 1:
        raise CliError(
            f"--as-of {version} is a version of one table, and the query reads "
            f"{', '.join(named[:-1])} and {named[-1]}, whose version {version} may be other "
            "points in time: give --as-of a time (ISO 8601) to read every table as it was "
            "then, or query one table"
        )


def _tables_in(sql: str) -> list[str]:
    """The tables a SELECT names (CTE names too), from DuckDB's parser alone; none for other
    statements, which it cannot serialize."""
    import json

    import duckdb

    (text,) = duckdb.connect().execute("SELECT json_serialize_sql(?)", [sql]).fetchall()[0]
    tree = json.loads(text)
    found: list[str] = []
    stack: list[object] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("type") == "BASE_TABLE":
                found.append(str(node.get("table_name")))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found


def connect(
    lake: "Lake", tables: Sequence[str], as_of: "int | dt.datetime | None" = None
) -> "tuple[duckdb.DuckDBPyConnection, dict[str, str]]":
    """An in-memory DuckDB with each Delta table of the lake registered under its name: the
    pyarrow dataset of one version, so DuckDB pushes filters and projections down to it; and
    the tables left out, each with why (no such version or time kept, or never committed).

    Its time zone is UTC, as the tables' times and days are: DuckDB's default, the machine's
    own zone, would turn `started_at::date` into another day than `dt` on a laptop abroad."""
    import duckdb

    from trajectory_assets.errors import BrokenTableError, NoSuchVersionError
    from trajectory_assets.lake import delta
    from trajectory_assets.lake.delta_dataset import delta_dataset
    from trajectory_assets.lake.delta_history import version_as_of

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")  # after connecting: ICU loads on first use
    absent: dict[str, str] = {}
    for name in tables:
        try:
            version = version_as_of(lake, name, as_of) if as_of is not None else None
            table = delta.open_table(lake, name, version)
        except NoSuchVersionError as exc:
            absent[name] = str(exc).removeprefix(f"{name} ")
            continue
        except BrokenTableError as exc:  # the query may not need it
            absent[name] = str(exc).removeprefix(f"table {name} ")
            continue
        if table is None:
            absent[name] = "has never been committed: materialize it first"
            continue
        con.register(name, delta_dataset(table))
    return con, absent
