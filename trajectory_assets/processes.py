"""Which process wrote something, and whether it still runs: the work of a process that is gone
was interrupted (a commit intent to complete, a pool slot to free), a live one's is another
writer's at work."""

import os
import socket


def this_process() -> str:
    """`host:pid`: where a batch ran, who holds a pool slot."""
    return f"{socket.gethostname()}:{os.getpid()}"


def this_process_started() -> str:
    """`host:pid:start`: the start tells this process from a later one given the same id."""
    return started_name(os.getpid())


def started_name(pid: int) -> str:
    """`host:pid:start` of a process of this machine."""
    return f"{socket.gethostname()}:{pid}:{_started(pid)}"


def gone(process: str) -> bool:
    """`host:pid` names a process of this machine that no longer exists."""
    host, _, pid = process.rpartition(":")
    return host == socket.gethostname() and pid.isdigit() and not alive(int(pid))


def running_elsewhere(process: str) -> int | None:
    """The process id `host:pid:start` names when it is another process of this machine that
    still runs, the very one that wrote it (not a later one given its id); None for an ended
    process, another machine's, or an empty name."""
    pid, started = _of_this_machine(process)
    if pid is None or pid == os.getpid():
        return None
    return pid if alive(pid) and _started(pid) == started else None


def ended(process: str) -> bool:
    """`host:pid:start` names a process of this machine that has ended: its id is free, or
    given to a later process (a restarted container reuses ids)."""
    pid, started = _of_this_machine(process)
    if pid is None or not started:
        return False
    if not alive(pid):
        return True
    now = _started(pid)  # '' where /proc hides it (hidepid): not known to differ
    return now != "" and now != started


def _of_this_machine(process: str) -> tuple[int | None, str]:
    """The pid and start `host:pid:start` names, the pid None for another host's or none."""
    host, _, rest = process.partition(":")
    pid, _, started = rest.partition(":")
    return (int(pid) if host == socket.gethostname() and pid.isdigit() else None), started


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def _started(pid: int) -> str:
    """When the process started, in clock ticks since boot (Linux), else ''."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""
