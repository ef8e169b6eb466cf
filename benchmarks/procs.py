"""One measured child process: wall time from its start to its exit, and the memory of its tree.

The parent waits on the child in its main thread (the wall time has no sampling delay in it)
while a thread samples, every `interval` seconds, with psutil:

- the driver's own peak resident memory: `VmHWM` of `/proc/<pid>/status` (the kernel's high-water
  mark, exact up to the last sample before exit; psutil has no peak RSS on Linux, and
  `wait4().ru_maxrss` is useless here, since Linux carries the parent's peak over `exec`);
- the summed RSS of the whole tree: the child, every descendant, and every process whose command
  line names the run's private Ray temp folder (Ray's daemons, even when re-parented). Shared pages
  (Ray's object store, libraries) count once per process that maps them, so this is an upper
  bound; being sampled, a spike shorter than `interval` can be missed.

After the exit, processes of the tree still alive (a Ray daemon a crash left behind) are ended by
their pid and counted.
"""

import contextlib
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

MARKER_SCAN_EVERY = 5
"""Samples between two scans of every process's command line for the marker (a scan costs more
than reading the tree)."""


@dataclass(frozen=True)
class Measured:
    """What the parent measured of one child process."""

    exit_code: int
    started_at: float
    """time.time() just before the process was spawned."""
    exited_at: float
    wall_s: float
    driver_peak_rss_bytes: int
    tree_peak_rss_bytes: int
    tree_max_processes: int
    samples: int
    machine_cpu_busy: float
    """Share of the machine's CPU time that was busy meanwhile (this run and anything else)."""
    load_avg_1m_after: float
    leftovers_killed: int


class TreeSampler(threading.Thread):
    """Samples a process tree's memory until `stop()`."""

    def __init__(self, root: psutil.Process, marker: str | None, interval: float) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.marker = marker
        self.interval = interval
        self.driver_peak = 0
        self.tree_peak = 0
        self.max_processes = 0
        self.samples = 0
        self.seen: dict[int, psutil.Process] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while True:
            self.sample()
            if self._stop_event.wait(self.interval):
                return

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def tree(self, scan: bool) -> list[psutil.Process]:
        """The root, its descendants, and (when `scan`) the processes carrying the marker."""
        procs = {self.root.pid: self.root}
        with contextlib.suppress(psutil.Error):
            procs.update({p.pid: p for p in self.root.children(recursive=True)})
        if self.marker and scan:
            for p in psutil.process_iter(["cmdline"]):
                if any(self.marker in part for part in p.info["cmdline"] or ()):
                    self.seen.setdefault(p.pid, p)
        for pid, p in list(self.seen.items()):
            if pid not in procs and p.is_running():
                procs[pid] = p
        self.seen.update(procs)
        return list(procs.values())

    def sample(self) -> None:
        total = 0
        alive = 0
        for p in self.tree(scan=self.samples % MARKER_SCAN_EVERY == 0):
            try:
                total += p.memory_info().rss
                alive += 1
            except psutil.Error:
                continue
        self.driver_peak = max(self.driver_peak, peak_rss(self.root.pid))
        self.tree_peak = max(self.tree_peak, total)
        self.max_processes = max(self.max_processes, alive)
        self.samples += 1

    def leftovers(self) -> list[psutil.Process]:
        """Processes of the tree (seen while sampling, or carrying the marker) still running."""
        self.tree(scan=True)
        return [p for p in self.seen.values() if p.pid != self.root.pid and p.is_running()]


def peak_rss(pid: int) -> int:
    """VmHWM of a process, in bytes; 0 once it has exited."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_measured(
    command: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    interval: float,
    marker: str | None = None,
    timeout_s: float | None = None,
) -> Measured:
    """Runs `command` to its end, its output into `log_path`, and says what it cost."""
    cpu_before = psutil.cpu_times()
    with open(log_path, "wb") as log:
        started_at = time.time()
        started = time.perf_counter()
        child = subprocess.Popen(
            list(command), env=dict(env), cwd=cwd, stdout=log, stderr=subprocess.STDOUT
        )
        sampler = TreeSampler(psutil.Process(child.pid), marker, interval)
        sampler.start()
        try:
            code = child.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            child.kill()
            code = child.wait()
        wall = time.perf_counter() - started
        exited_at = time.time()
    sampler.stop()
    leftovers = sampler.leftovers()
    for p in leftovers:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, still = psutil.wait_procs(leftovers, timeout=5)
    for p in still:
        with contextlib.suppress(psutil.Error):
            p.kill()
    cpu_after = psutil.cpu_times()
    return Measured(
        exit_code=code,
        started_at=started_at,
        exited_at=exited_at,
        wall_s=wall,
        driver_peak_rss_bytes=sampler.driver_peak,
        tree_peak_rss_bytes=sampler.tree_peak,
        tree_max_processes=sampler.max_processes,
        samples=sampler.samples,
        machine_cpu_busy=_busy(cpu_before, cpu_after),
        load_avg_1m_after=round(psutil.getloadavg()[0], 2),
        leftovers_killed=len(leftovers),
    )


def _busy(before: Any, after: Any) -> float:
    """Busy share of all CPUs between two `psutil.cpu_times()`."""

    def idle(t: Any) -> float:
        return float(t.idle + getattr(t, "iowait", 0.0))

    spent = sum(after) - sum(before)
    return round(1 - (idle(after) - idle(before)) / spent, 3) if spent > 0 else 0.0


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of a child's output, for an error message."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
