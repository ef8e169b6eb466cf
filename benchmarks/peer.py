"""The DuckDB peer: `reference_duckdb.sql` run by a fresh Python process, as a user would run it.

The harness prepares the two small inputs the SQL joins before any timing (a user would have them
at hand too): the price table of the lake's models, built by `trajectory_assets.operators.pricing`
exactly as the pipeline builds it (the pinned genai-prices database, then the lake's
`prices.yaml` overrides), and Student's t 0.975 quantiles (SQL has no t distribution). Both are
written as Parquet.

The measured process (`python -m benchmarks.peer WORK PRICES T975 RESULT`) lists the lake's
days and apps, loads each one's raw files with one `read_parquet` glob, computes every table and
writes them as hive-partitioned Parquet under `WORK/peer/`. It records when it started its SQL,
finished loading and finished writing, so the parent can split its wall time into phases.
"""

import json
import os
import sys
import time
from pathlib import Path
from typing import TypedDict

from benchmarks.lakes import LakeInfo, fresh_folder, fresh_work, raw_globs
from benchmarks.procs import Measured, log_tail, run_measured
from benchmarks.settings import HERE, PEER, ROOT

SQL = HERE / "reference_duckdb.sql"
MAX_DF = 1000
"""Degrees of freedom the t table covers: more shared tasks than the synthetic benchmarks have."""


class PeerInputs(TypedDict):
    prices: str
    t975: str
    models: list[str]


class PeerRun(TypedDict):
    command: list[str]
    work: str
    measured: Measured
    phases: dict[str, float]
    threads: int


def lake_models() -> list[str]:
    """The model strings the generator writes into llm_call events.

    Read from the generator's catalogue rather than from the lake: a scan of the `model` column
    of a 10M-event lake opens every raw file, which is what the benchmark measures."""
    from trajectory_assets.synth.profiles import MODELS

    return sorted(MODELS)


def prepare_inputs(lake: LakeInfo) -> PeerInputs:
    """Writes the price table and the t quantiles for the peer; untimed."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from scipy import stats

    from trajectory_assets.operators.price_overrides import OVERRIDES_FILE, parse_overrides
    from trajectory_assets.operators.pricing import check_overrides, price_table

    folder = fresh_folder("peer-inputs")
    models = lake_models()
    file = Path(lake["path"]) / OVERRIDES_FILE
    overrides = parse_overrides(file.read_text("utf-8"), str(file)) if file.exists() else ()
    check_overrides(overrides)  # as a run does: refused here as there
    prices = folder / "prices.parquet"
    pq.write_table(price_table(models, overrides), prices)
    dfs = list(range(1, MAX_DF + 1))
    t975 = pa.table(
        {"df": pa.array(dfs, pa.int64()), "t975": [float(stats.t.ppf(0.975, df)) for df in dfs]}
    )
    quantiles = folder / "t975.parquet"
    pq.write_table(t975, quantiles)
    return PeerInputs(prices=str(prices), t975=str(quantiles), models=models)


def prepare(lake: LakeInfo, inputs: PeerInputs) -> tuple[Path, Path, list[str]]:
    """A fresh work lake for the peer, where its time marks go, and the command to run."""
    work = fresh_work(PEER, lake)
    result = work.parent / f"{PEER}.result.json"
    result.unlink(missing_ok=True)
    module = [sys.executable, "-m", "benchmarks.peer"]
    return work, result, [*module, str(work), inputs["prices"], inputs["t975"], str(result)]


def run_peer(lake: LakeInfo, inputs: PeerInputs, interval: float) -> PeerRun:
    """One timed run of the peer over `lake`, in a fresh work lake."""
    work, result, command = prepare(lake, inputs)
    log_path = work.parent / f"{PEER}.log"
    measured = run_measured(
        command, env=dict(os.environ), cwd=ROOT, log_path=log_path, interval=interval
    )
    if measured.exit_code != 0 or not result.exists():
        raise SystemExit(
            f"BENCHMARK STOPPED: the peer failed (log {log_path}):\n{log_tail(log_path)}"
        )
    marks = json.loads(result.read_text())
    phases = {
        "start_and_load": marks["sql_started"] - measured.started_at,
        "read_and_validate": marks["loaded"] - marks["sql_started"],
        "compute_and_write": marks["written"] - marks["loaded"],
        "end_to_exit": measured.exited_at - marks["written"],
    }
    return PeerRun(
        command=command,
        work=str(work),
        measured=measured,
        phases=phases,
        threads=int(marks["threads"]),
    )


def split_sql(text: str) -> tuple[str, str, str]:
    """The SQL as (before, the per-day load statement, after), cut at `-- @@load`/`-- @@end`."""
    head, _, rest = text.partition("-- @@load")
    load, _, tail = rest.partition("-- @@end")
    if not load:
        raise SystemExit(f"{SQL} lacks its `-- @@load` ... `-- @@end` section")
    return head, load.split("\n", 1)[1], tail


def main(argv: list[str]) -> None:
    """The measured process: run the peer SQL in WORK, write the time marks to RESULT."""
    import duckdb

    work, prices, t975, result = argv
    os.chdir(work)
    os.makedirs("peer", exist_ok=True)  # COPY ... PARTITION_BY creates only the levels below
    head, load, tail = split_sql(SQL.read_text())
    sql_started = time.time()
    con = duckdb.connect()
    con.execute("SET VARIABLE prices_file = ?", [prices])
    con.execute("SET VARIABLE t975_file = ?", [t975])
    con.execute(head)
    for files in raw_globs(Path(".")):
        con.execute("SET VARIABLE raw_files = ?", [files])
        con.execute(load)
    loaded = time.time()
    con.execute(tail)
    written = time.time()
    threads = con.execute("SELECT current_setting('threads')").fetchall()[0][0]
    con.close()
    marks = {"sql_started": sql_started, "loaded": loaded, "written": written, "threads": threads}
    Path(result).write_text(json.dumps(marks))


if __name__ == "__main__":
    main(sys.argv[1:])
