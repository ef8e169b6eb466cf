"""Our committed tables against the peer's, row by row: a benchmark of wrong tables is no benchmark.

After the first repetition of each lake, every Tier B table our run committed (read through Delta:
`Catalog(Lake(work)).read(table)`, the current version) is compared with the peer's Parquet
output: the same rows (both sorted by the table's keys), and in every column the same values, nulls
where nulls are. Values are equal exactly, except for the floating-point columns in `TOLERANT`:
sums and means over many rows, whose last bits depend on the order the terms are added in (the
pipeline sums costs as decimals, the peer adds doubles in its own order). Those agree within a
relative 1e-9.

In its own process (`python -m benchmarks.verify OURS PEER RESULT`), so the tables it reads never
grow the harness; any difference stops the benchmark, naming the table, the columns, the count and
a first example, with both outputs left in `.lakes/_work/` to inspect.
"""

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import pyarrow as pa
import pyarrow.compute as pc

from benchmarks.settings import ROOT, WORK, log

if TYPE_CHECKING:
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.schema import TableSpec

RELATIVE = 1e-9
ABSOLUTE = 1e-12
EXAMPLES = 3

TOLERANT: dict[str, tuple[str, ...]] = {
    "sessions": ("tool_latency_ms_total", "cost_usd"),
    "turns": ("latency_ms_total", "tool_latency_ms_total", "cost_usd"),
    "turn_features": ("output_tokens_per_s",),
    "eval_runs": ("pass_at_1", "mean_score", "cost_usd", "cost_per_passed_task"),
    "model_comparisons": (
        "pass_at_1_a",
        "pass_at_1_b",
        "diff",
        "diff_se",
        "diff_ci_low",
        "diff_ci_high",
        "mean_cost_diff",
    ),
}
"""Per table, the columns that are sums or means of doubles (or derive from one)."""


class TableCheck(TypedDict):
    rows_ours: int
    rows_peer: int
    equal: bool
    problems: list[str]


def verify(runtime: str, label: str) -> dict[str, TableCheck]:
    """Compares `runtime`'s work lake with the peer's, table by table."""
    ours, peer = WORK / runtime, WORK / "duckdb" / "peer"
    result = WORK / f"{runtime}.verify.json"
    result.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.verify", str(ours), str(peer), str(result)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not result.exists():
        raise SystemExit(f"verification of {runtime} at {label} crashed:\n{done.stderr[-3000:]}")
    report: dict[str, TableCheck] = json.loads(result.read_text())
    if not mismatches(report):
        rows = sum(c["rows_ours"] for c in report.values())
        log(f"{label} {runtime}: all {len(report)} tables equal to the peer's ({rows:,} rows)")
    return report


def mismatches(report: dict[str, TableCheck]) -> str:
    """The differences of a verification, one line per table; empty when all are equal."""
    return "\n".join(
        f"  {t}: {'; '.join(c['problems'])}" for t, c in report.items() if not c["equal"]
    )


def tier_b_tables() -> "dict[str, TableSpec]":
    """The Tier B tables' specs: declared by the operators (`operators.TIER_B`), or, before the
    operators declared them, listed in `schema.TIER_B`."""
    import trajectory_assets.operators as operators
    import trajectory_assets.schema as schema

    found = getattr(operators, "TIER_B", None) or getattr(schema, "TIER_B", None)
    if not found:
        raise SystemExit("cannot find the Tier B tables (operators.TIER_B or schema.TIER_B)")
    return dict(found)


def open_catalog(root: Path, tables: "dict[str, TableSpec]") -> "Catalog":
    """`Catalog(Lake(root), tables)`; `Catalog(Lake(root))` where it takes no tables."""
    from trajectory_assets.lake.catalog import Catalog
    from trajectory_assets.lake.fs import Lake

    try:
        return Catalog(Lake(str(root)), tables)
    except TypeError:
        return Catalog(Lake(str(root)))  # type: ignore[call-arg]


def compare_all(ours: Path, peer: Path) -> dict[str, TableCheck]:
    tables = tier_b_tables()
    catalog = open_catalog(ours, tables)
    report: dict[str, TableCheck] = {}
    for name, spec in tables.items():
        mine = conform(catalog.read(name), spec.schema)
        theirs = conform(read_peer(peer / name, spec.schema), spec.schema)
        keys = list(dict.fromkeys(["dt", *spec.keys]))
        report[name] = compare(name, sort(mine, keys), sort(theirs, keys), keys)
    return report


def read_peer(folder: Path, schema: pa.Schema) -> pa.Table:
    """The peer's output of one table (partition columns are inside its files); empty if none."""
    import pyarrow.dataset as ds

    files = sorted(str(p) for p in folder.rglob("*.parquet")) if folder.exists() else []
    if not files:
        return schema.empty_table()
    return ds.dataset(files, format="parquet").to_table(columns=schema.names)


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The schema's columns, in its order, cast to its types (the peer's lists and timestamps
    carry DuckDB's field names; the values are what is compared)."""
    columns = [pc.cast(table[f.name], f.type) for f in schema]
    return pa.Table.from_arrays(columns, names=schema.names)


def sort(table: pa.Table, keys: list[str]) -> pa.Table:
    return table.sort_by([(k, "ascending") for k in keys])


def compare(name: str, ours: pa.Table, peer: pa.Table, keys: list[str]) -> TableCheck:
    problems: list[str] = []
    if ours.num_rows != peer.num_rows or not all(ours[k].equals(peer[k]) for k in keys):
        problems.append(f"rows {ours.num_rows:,} (ours) vs {peer.num_rows:,} (peer)")
        problems += key_differences(ours, peer, keys)
    else:
        tolerant = TOLERANT.get(name, ())
        for column in ours.column_names:
            if column in keys:
                continue
            a, b = ours[column], peer[column]
            bad = close_mismatches(a, b) if column in tolerant else exact_mismatches(a, b)
            if bad:
                where = {k: ours[k][bad[0]].as_py() for k in keys}
                problems.append(
                    f"{column}: {len(bad):,} rows differ, e.g. at {where}: "
                    f"{a[bad[0]].as_py()!r} (ours) vs {b[bad[0]].as_py()!r} (peer)"
                )
    return TableCheck(
        rows_ours=ours.num_rows, rows_peer=peer.num_rows, equal=not problems, problems=problems
    )


def exact_mismatches(a: pa.ChunkedArray, b: pa.ChunkedArray) -> list[int]:
    """Row numbers where two columns differ (null equals null)."""
    if a.equals(b):
        return []
    if pa.types.is_nested(a.type):
        return [
            i for i, (x, y) in enumerate(zip(a.to_pylist(), b.to_pylist(), strict=True)) if x != y
        ]
    same = pc.or_(pc.fill_null(pc.equal(a, b), False), pc.and_(a.is_null(), b.is_null()))
    return _false_rows(same)


def close_mismatches(a: pa.ChunkedArray, b: pa.ChunkedArray) -> list[int]:
    """Row numbers where two double columns differ by more than the tolerance, or in nulls."""
    x, y = pc.cast(a, pa.float64()), pc.cast(b, pa.float64())
    limit = pc.add(pc.multiply(pc.max_element_wise(pc.abs(x), pc.abs(y)), RELATIVE), ABSOLUTE)
    near = pc.less_equal(pc.abs(pc.subtract(x, y)), limit)
    same = pc.or_(pc.fill_null(near, False), pc.and_(a.is_null(), b.is_null()))
    return _false_rows(same)


def _false_rows(flags: Any) -> list[int]:
    return pc.indices_nonzero(pc.invert(flags)).to_pylist()


def key_differences(ours: pa.Table, peer: pa.Table, keys: list[str]) -> list[str]:
    mine = set(zip(*(ours[k].to_pylist() for k in keys), strict=True))
    theirs = set(zip(*(peer[k].to_pylist() for k in keys), strict=True))
    only_ours, only_peer = sorted(mine - theirs, key=str), sorted(theirs - mine, key=str)
    return [
        f"{len(only_ours):,} keys only in ours, e.g. {only_ours[:EXAMPLES]}",
        f"{len(only_peer):,} keys only in the peer's, e.g. {only_peer[:EXAMPLES]}",
    ]


def main(argv: list[str]) -> None:
    ours, peer, result = argv
    report = compare_all(Path(ours), Path(peer))
    Path(result).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main(sys.argv[1:])
