"""The scan floor: every column of every raw file read once with DuckDB, and nothing else.

No engine can build the tables faster than it can read the raw files, so this is the floor both
the pipeline and the peer stand on; the gap above it is what computing and writing cost. Every
value is hashed into one aggregate per column, so no column can be skipped by projection, and
one `read_parquet` statement runs per day and app, as in the peer. In a fresh process
(`python -m benchmarks.floor WORK RESULT`), timed from spawn to exit like the others.
"""

import json
import os
import sys
import time
from pathlib import Path
from typing import TypedDict

from benchmarks.lakes import LakeInfo, fresh_work, raw_globs
from benchmarks.procs import Measured, log_tail, run_measured
from benchmarks.settings import FLOOR, ROOT

SCAN = """
SELECT count(*) AS n, bit_xor(hash(COLUMNS(*))) FROM read_parquet(
    getvariable('raw_files'), union_by_name = true, hive_partitioning = false)
"""


class FloorRun(TypedDict):
    command: list[str]
    measured: Measured
    phases: dict[str, float]
    rows: int


def run_floor(lake: LakeInfo, interval: float) -> FloorRun:
    """One timed scan of `lake`; SystemExit if it did not read every row."""
    work = fresh_work(FLOOR, lake)
    result = work.parent / f"{FLOOR}.result.json"
    result.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.floor", str(work), str(result)]
    log_path = work.parent / f"{FLOOR}.log"
    measured = run_measured(
        command, env=dict(os.environ), cwd=ROOT, log_path=log_path, interval=interval
    )
    if measured.exit_code != 0 or not result.exists():
        raise SystemExit(
            f"BENCHMARK STOPPED: the floor failed (log {log_path}):\n{log_tail(log_path)}"
        )
    marks = json.loads(result.read_text())
    if marks["rows"] != lake["events"]:
        raise SystemExit(f"the floor read {marks['rows']} rows, the lake has {lake['events']}")
    phases = {
        "start_and_load": marks["scan_started"] - measured.started_at,
        "scan": marks["scanned"] - marks["scan_started"],
        "end_to_exit": measured.exited_at - marks["scanned"],
    }
    return FloorRun(command=command, measured=measured, phases=phases, rows=marks["rows"])


def main(argv: list[str]) -> None:
    import duckdb

    work, result = argv
    os.chdir(work)
    scan_started = time.time()
    con = duckdb.connect()
    rows = 0
    for files in raw_globs(Path(".")):
        con.execute("SET VARIABLE raw_files = ?", [files])
        rows += int(con.execute(SCAN).fetchall()[0][0])
    scanned = time.time()
    Path(result).write_text(
        json.dumps({"scan_started": scan_started, "scanned": scanned, "rows": rows})
    )


if __name__ == "__main__":
    main(sys.argv[1:])
