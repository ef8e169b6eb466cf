"""How many times one run opens each raw file: the target "raw files opened once per run".

Opening tens of thousands of small files is most of what reading a day costs, so every extra
open of every raw file (a check re-reading them, a footer read, a reader opening a file once per
thread) shows in every other figure. strace counts the `open`/`openat` system calls of the whole
process tree (the CLI, Ray's workers, DuckDB's and Arrow's threads) by path, with a seccomp
filter so that only those calls stop a process, and a timestamp on each, which places it in the
Dagster step that ran then (from the run's event log), so a miss names the step that reopens.
The peer is traced too, as a reference: what plain DuckDB does with the same files.

Tracing slows a run down, so this is a separate, untimed run on the smallest lake of the
benchmark; its wall time is recorded only to show what tracing cost.
"""

import os
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import TypedDict

from benchmarks import peer, user_path
from benchmarks.lakes import LakeInfo
from benchmarks.procs import log_tail, run_measured
from benchmarks.runlog import read_run
from benchmarks.settings import PEER, ROOT, log

OPEN = re.compile(
    r'^\d+\s+(\d+\.\d+)\s+open(?:at2?)?\((?:[^,"]*, )?"[^"]*?(raw_events/[^"]+\.parquet)"'
)
OUTSIDE = "(outside the steps)"


class OpenAudit(TypedDict):
    lake: str
    runner: str
    raw_files: int
    files_opened: int
    opens: int
    max_opens_per_file: int
    files_opened_more_than_once: int
    opens_by_step: dict[str, int]
    traced_wall_s: float


def audit_opens(
    runner: str, lake: LakeInfo, interval: float, inputs: peer.PeerInputs | None = None
) -> OpenAudit | None:
    """Counts the raw file opens of one traced run of `runner` (ray, inline or the peer)."""
    tracer = shutil.which("strace")
    if tracer is None:
        log("opens: strace is not installed (apt-get install strace); not measured")
        return None
    home: Path | None = None
    ray_tmp = tempfile.mkdtemp(prefix="bench-ray-", dir="/tmp")
    if runner == PEER:
        assert inputs is not None
        work, _, command = peer.prepare(lake, inputs)
        env: Mapping[str, str] = dict(os.environ)
    else:
        work, home, command = user_path.prepare(runner, lake)
        env = user_path.child_env(home, ray_tmp)
    trace = work.parent / f"{runner}.strace"
    log_path = work.parent / f"{runner}.strace.log"
    syscalls = ["-e", "trace=open,openat,openat2", "-e", "signal=none"]
    traced = [tracer, "-f", "--seccomp-bpf", "-qq", "-ttt", "-s", "4096", *syscalls]
    try:
        measured = run_measured(
            [*traced, "-o", str(trace), *command],
            env=env,
            cwd=ROOT,
            log_path=log_path,
            interval=interval,
            marker=ray_tmp,
        )
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    if measured.exit_code != 0:
        raise SystemExit(f"the traced {runner} run failed (log {log_path}):\n{log_tail(log_path)}")
    windows = {}
    if home is not None:
        windows = read_run(home, measured.started_at, measured.exited_at)["step_windows"]
    per_file, per_step = count_opens(trace, windows)
    trace.unlink(missing_ok=True)
    audit = OpenAudit(
        lake=lake["name"],
        runner=runner,
        raw_files=lake["files"],
        files_opened=len(per_file),
        opens=sum(per_file.values()),
        max_opens_per_file=max(per_file.values(), default=0),
        files_opened_more_than_once=sum(1 for n in per_file.values() if n > 1),
        opens_by_step=dict(per_step.most_common()),
        traced_wall_s=round(measured.wall_s, 2),
    )
    log(
        f"opens {lake['name']} {runner}: {audit['opens']:,} opens of "
        f"{audit['files_opened']:,}/{audit['raw_files']:,} raw files, at most "
        f"{audit['max_opens_per_file']} per file; by step {audit['opens_by_step']}"
    )
    return audit


def count_opens(
    trace: Path, windows: Mapping[str, list[float]]
) -> tuple[Counter[str], Counter[str]]:
    """Opens per raw file (its path from `raw_events/` on), and per step by their time."""
    per_file: Counter[str] = Counter()
    per_step: Counter[str] = Counter()
    with open(trace, errors="replace") as handle:
        for line in handle:
            match = OPEN.match(line)
            if not match:
                continue
            when, path = float(match.group(1)), match.group(2)
            per_file[path] += 1
            step = next((s for s, (a, b) in windows.items() if a <= when <= b), OUTSIDE)
            per_step[step] += 1
    return per_file, per_step
