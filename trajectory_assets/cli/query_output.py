"""How `query` writes a result: the table for people (a box like DuckDB's, each value cut to
MAX_CELL characters), csv and JSON lines for programs; each streams its rows in batches."""

import csv
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING

from rich.cells import cell_len, set_cell_size

from trajectory_assets.cli.common import CliError
from trajectory_assets.errors import shown

if TYPE_CHECKING:
    import duckdb

RESULT = "_trajectory_assets_result"  # the name the result has in the queries that format it
BATCH_ROWS = 2048
ISO_SECONDS = "%Y-%m-%dT%H:%M:%S"
MAX_CELL = 60  # characters of a value in the table format; csv and json keep every character


@contextmanager
def opened(output: Path | None) -> Iterator[IO[str]]:
    """Standard output, or `output` written whole or not at all: the rows go to a file beside
    it that replaces it once every row is written (a read that failed midway emptied the file
    it was to replace, and left part of a result)."""
    if output is None:
        yield sys.stdout
        return
    partial = output.with_name(f".{output.name}.partial")
    try:
        handle = partial.open("w", newline="", encoding="utf-8")
    except OSError as exc:
        raise CliError(f"--output {output}: {exc.strerror or exc}") from None
    try:
        with handle:
            yield handle
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


def _as_text(result: "duckdb.DuckDBPyRelation") -> Iterator[tuple[str | None, ...]]:
    """Every row with each value as DuckDB writes it as text (lists as [a, b], timestamps with
    their zone), so csv and the table agree with DuckDB's own output."""
    text = result.query(RESULT, f"SELECT COLUMNS(*)::VARCHAR FROM {RESULT}")
    assert text is not None
    return text.iter_rows(BATCH_ROWS)


def write_csv(result: "duckdb.DuckDBPyRelation", out: IO[str]) -> None:
    """A header, then a row per line; NULL is an empty field, as DuckDB writes it."""
    writer = csv.writer(out, lineterminator="\n")
    rows = _as_text(result)
    first = next(rows, None)  # a read that fails (a vacuumed file) fails before any output
    writer.writerow(result.columns)
    if first is not None:
        writer.writerow(first)
    for row in rows:
        writer.writerow(row)


def write_json(result: "duckdb.DuckDBPyRelation", out: IO[str]) -> None:
    """One JSON object per row and line (JSON Lines), converted by DuckDB's `to_json`, so
    nested lists and structs stay JSON rather than text. Timestamps are ISO 8601 (in UTC with
    `Z` when they have a zone), which JSON readers parse; DuckDB's own text
    (`2026-01-01 12:00:00+00`) is not ISO 8601 and JavaScript's Date rejects it."""
    typed = zip(result.columns, result.types, strict=True)
    columns = ", ".join(_json_ready(name, str(kind)) for name, kind in typed)
    rows = result.query(
        RESULT, f"SELECT to_json(r)::VARCHAR FROM (SELECT {columns} FROM {RESULT}) AS r"
    )
    assert rows is not None
    for (line,) in rows.iter_rows(BATCH_ROWS):
        out.write(f"{line}\n")


def _json_ready(name: str, kind: str) -> str:
    """A select item for one column: a timestamp as ISO 8601 text, a float that is NaN or
    infinite as null (JSON has neither: JSON.parse refused DuckDB's bare `NaN`, and jq read
    `Infinity` as 1.79e308), any other column as it is."""
    quoted = '"' + name.replace('"', '""') + '"'
    if kind in ("DOUBLE", "FLOAT"):
        return f"CASE WHEN isfinite({quoted}) THEN {quoted} END AS {quoted}"
    if kind == "TIMESTAMP WITH TIME ZONE":
        return f"strftime(timezone('UTC', {quoted}), '{ISO_SECONDS}.%fZ') AS {quoted}"
    if kind in ("TIMESTAMP", "TIMESTAMP_MS", "TIMESTAMP_S"):
        return f"strftime({quoted}, '{ISO_SECONDS}.%f') AS {quoted}"
    if kind == "TIMESTAMP_NS":
        return f"strftime({quoted}, '{ISO_SECONDS}.%n') AS {quoted}"
    return quoted


def write_table(result: "duckdb.DuckDBPyRelation", out: IO[str]) -> None:
    """Every row and column in a box like DuckDB's, each value cut to MAX_CELL characters.

    Written a line at a time, so a large result neither waits for nor holds a rendering of
    every row (rich's Table took minutes and gigabytes at 300k rows), and `| head` stops it
    early. The column widths come first, from one aggregate over the held result: UTF-8 bytes,
    which are the terminal cells of ASCII and never fewer than the cells of other text. The box
    is as wide as its columns: squeezed into the terminal, nothing in it could be read.
    """
    held = result.materialize()  # widths and rows from one run of the query
    widths = held.query(
        RESULT,
        f"SELECT max(least(coalesce(strlen(COLUMNS(*)::VARCHAR), 4), {MAX_CELL})) FROM {RESULT}",
    )
    assert widths is not None
    longest = widths.fetchall()[0]
    names = [_printable(n) for n in result.columns]
    kinds = [str(t).lower().strip('"') for t in result.types]
    right = [_is_number(k) for k in kinds]
    width = [
        max(cell_len(n), cell_len(k), w or 0) for n, k, w in zip(names, kinds, longest, strict=True)
    ]

    def line(cells: Sequence[str], align: Sequence[bool]) -> str:
        fitted = (_fit(c, w, r) for c, w, r in zip(cells, width, align, strict=True))
        return "│ " + " │ ".join(fitted) + " │\n"

    def rule(left: str, middle: str, end: str) -> str:
        return left + middle.join("─" * (w + 2) for w in width) + end + "\n"

    out.write(rule("┌", "┬", "┐"))
    out.write(line(names, right))
    out.write(line(kinds, right))
    out.write(rule("├", "┼", "┤"))
    count = 0
    for row in _as_text(held):
        out.write(line(["NULL" if v is None else _printable(v) for v in row], right))
        count += 1
    out.write(rule("└", "┴", "┘"))
    out.write(f"{count:,} row{'' if count == 1 else 's'}\n")


def _printable(text: str) -> str:
    """One line of text: a line break inside a value would break the box, and a control
    character could drive the terminal."""
    return shown(text.replace("\r", "\\r").replace("\n", "\\n").replace("\t", "\\t"))


def _fit(text: str, width: int, right: bool) -> str:
    """`text` padded to `width` terminal cells, or cut to them with an ellipsis."""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    padding = " " * (width - cell_len(text))
    return padding + text if right else text + padding


def _is_number(kind: str) -> bool:
    base = kind.split("(")[0].upper()
    return base in NUMBER_TYPES


NUMBER_TYPES = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "UHUGEINT",
    "FLOAT",
    "DOUBLE",
    "DECIMAL",
}
