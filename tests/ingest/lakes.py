"""Reading back what the ingest wrote: the raw files as they are, and the Tier B tables."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.runs import lake_catalog, run_all
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw import list_days
from trajectory_assets.schema import RAW_EVENTS


def raw_files(root: Path) -> list[Path]:
    return sorted(p for p in (root / "raw_events").rglob("*.parquet") if p.is_file())


def raw_events(root: Path) -> pa.Table:
    """Every raw row, with the `dt` folder it was found in."""
    tables = []
    for path in raw_files(root):
        table = pq.read_table(path)
        assert table.schema.equals(RAW_EVENTS, check_metadata=False), path
        day = next(p[3:] for p in path.parts if p.startswith("dt="))
        tables.append(table.append_column("dt", pa.array([day] * table.num_rows)))
    if not tables:
        return RAW_EVENTS.empty_table().append_column("dt", pa.array([], pa.string()))
    return pa.concat_tables(tables)


def materialize(root: Path) -> dict[str, pa.Table]:
    """Every Tier B operator, in order, over every day of the raw lake (inline runtime)."""
    lake = Lake(str(root))
    days = list_days(lake)
    run_all(lake, days)
    catalog = lake_catalog(lake)
    names = ("sessions", "turns", "errors", "eval_runs", "tool_calls")
    return {name: catalog.read(name) for name in names}
