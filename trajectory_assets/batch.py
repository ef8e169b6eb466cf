"""Batch: the unit of work an operator sees, readable as Arrow, Polars or DuckDB."""

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    import duckdb
    import polars as pl

_local = threading.local()


def _database() -> "duckdb.DuckDBPyConnection":
    """One in-memory DuckDB per worker thread; batches get cheap cursors on it. In UTC, the
    tables' zone: DuckDB's default, the machine's own zone, would give an operator's
    `ts::date` or `hour(ts)` other values on a worker abroad than on the driver."""
    import duckdb

    con = getattr(_local, "con", None)
    if con is None:
        con = duckdb.connect(config={"threads": 1})
        # GLOBAL: the batches' cursors are connections of their own; after connecting, since
        # ICU, which the setting needs, loads on first use
        con.execute("SET GLOBAL TimeZone = 'UTC'")
        _local.con = con
    return con


class Batch:
    """Immutable named Arrow tables (`events` for raw events, or the upstream table's name).

    Views are lazy: `polars()` is zero-copy, `duckdb()` registers the tables on a cursor of a
    per-worker connection, so an operator pays only for the view it uses.
    """

    def __init__(self, tables: Mapping[str, pa.Table] | pa.Table, batch_id: str = "") -> None:
        self._tables = dict(tables) if isinstance(tables, Mapping) else {"events": tables}
        self.batch_id = batch_id
        self._cursor: duckdb.DuckDBPyConnection | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tables)

    def arrow(self, name: str = "events") -> pa.Table:
        """The batch's table `name` (`events`: the raw events of a raw-reading operator)."""
        try:
            return self._tables[name]
        except KeyError:
            raise KeyError(f"batch has no table {name!r}; it has {sorted(self._tables)}") from None

    def polars(self, name: str = "events") -> "pl.DataFrame":
        """The table `name` as a Polars DataFrame, without copying its Arrow buffers."""
        import polars as pl

        frame = pl.from_arrow(self.arrow(name))
        assert isinstance(frame, pl.DataFrame)
        return frame

    def duckdb(self) -> "duckdb.DuckDBPyConnection":
        """A DuckDB cursor with every table of the batch registered under its name (UTC);
        the batch closes it."""
        if self._cursor is None:
            cursor = _database().cursor()
            for name, table in self._tables.items():
                cursor.register(name, table)
            self._cursor = cursor
        return self._cursor

    def sql(self, query: str) -> pa.Table:
        """Run a query over the batch's tables and return Arrow."""
        return self.duckdb().sql(query).to_arrow_table()

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
            self._cursor = None
