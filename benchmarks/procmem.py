"""Peak memory of a process tree, sampled from /proc (Linux; no psutil needed).

What is counted (see benchmarks/README.md):
- the driver: the measured child process itself (its exact peak comes from its own
  `getrusage(RUSAGE_SELF).ru_maxrss`; the sampler's figure is only a cross-check);
- the tree: the driver, every descendant of it, and every process whose command line mentions
  `marker` (for Ray: the run's private RAY_TMPDIR, so raylet, gcs_server, the dashboard agents
  and every worker count even when they were re-parented). Ray processes of other users of the
  machine have another temp dir and are not counted.

Two tree figures per sample: the sum of RSS (what `ps` shows; counts shared pages such as the
Ray object store's /dev/shm or shared libraries once per process) and the sum of PSS (shared
pages split between the processes that map them: the honest "memory this tree uses").
"""

import os
import threading
import time
from dataclasses import dataclass, field

PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class MemoryPeaks:
    driver_rss: int = 0
    tree_rss: int = 0
    tree_pss: int = 0
    max_processes: int = 0
    samples: int = 0
    processes_seen: set[int] = field(default_factory=set)


def _read(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return handle.read().decode(errors="replace")
    except OSError:
        return None


def _parents() -> dict[int, int]:
    """pid -> ppid of every process."""
    out: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = _read(f"/proc/{name}/stat")
        if stat is None:
            continue
        # the command name (field 2) may contain spaces and parentheses: split after the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        out[int(name)] = int(fields[1])
    return out


def rss(pid: int) -> int:
    statm = _read(f"/proc/{pid}/statm")
    return int(statm.split()[1]) * PAGE if statm else 0


def pss(pid: int) -> int:
    rollup = _read(f"/proc/{pid}/smaps_rollup")
    if rollup is None:
        return 0
    for line in rollup.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) * 1024
    return 0


class TreeSampler:
    """Samples the tree of `root` every `interval` seconds in a daemon thread."""

    def __init__(self, root: int, marker: str | None = None, interval: float = 0.2) -> None:
        self.root = root
        self.marker = marker.encode() if marker else None
        self.interval = interval
        self.peaks = MemoryPeaks()
        self._marked: dict[int, bool] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> "TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def members(self) -> set[int]:
        parents = _parents()
        children: dict[int, list[int]] = {}
        for pid, ppid in parents.items():
            children.setdefault(ppid, []).append(pid)
        tree = {self.root} if self.root in parents else set()
        stack = list(tree)
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in tree:
                    tree.add(child)
                    stack.append(child)
        if self.marker is not None:
            for pid in parents:
                if pid not in self._marked:
                    cmdline = _read_bytes(f"/proc/{pid}/cmdline") or b""
                    self._marked[pid] = self.marker in cmdline
                if self._marked[pid]:
                    tree.add(pid)
        return tree

    def sample(self) -> None:
        tree = self.members()
        if not tree:
            return
        p = self.peaks
        p.samples += 1
        p.processes_seen |= tree
        p.max_processes = max(p.max_processes, len(tree))
        p.driver_rss = max(p.driver_rss, rss(self.root))
        p.tree_rss = max(p.tree_rss, sum(rss(pid) for pid in tree))
        p.tree_pss = max(p.tree_pss, sum(pss(pid) for pid in tree))

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            self.sample()
            self._stop.wait(max(0.0, self.interval - (time.perf_counter() - started)))


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return None


def marked_processes(marker: str) -> list[int]:
    """Processes whose command line mentions `marker` (leftovers of a run, to clean up)."""
    found = []
    needle = marker.encode()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) != os.getpid():
            cmdline = _read_bytes(f"/proc/{name}/cmdline")
            if cmdline and needle in cmdline:
                found.append(int(name))
    return found
