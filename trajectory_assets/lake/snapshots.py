"""A table's current snapshot, kept for the process and brought forward from the table's log.

A run asks for each table's files some forty times (planning, commits, checks, the daily report,
the command's summary), and loading them anew replays the table's log and converts every file's
add action: 60-100 ms a table at a year of days, 2 s of a one-day run, and a round trip per log
file on an object store. Most asks find the table as it was, or with one day changed by the
run's own commit. So a table stays open, and an ask costs a look at its log: nothing new, the
same snapshot; new entries, the files of the days they touched converted again; anything else
(a log cut by a purge, a table deleted and made anew, a schema changed), a full load. Whatever
the path, the snapshot holds exactly the files the log says are current.
"""

import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pyarrow as pa

from trajectory_assets.lake import delta, delta_history
from trajectory_assets.lake.delta import Snapshot
from trajectory_assets.lake.fs import Lake, modified

if TYPE_CHECKING:
    from deltalake import DeltaTable

KEEP = 64
"""Tables kept open per process (a lake has a dozen or so; a process rarely serves more lakes)."""


@dataclass(frozen=True)
class _Held:
    table: "DeltaTable"
    snapshot: Snapshot
    entry: tuple[int, float] | None  # size and time of its version's log entry: a table
    # deleted and made anew has other entries under the same numbers


_held: OrderedDict[tuple[str, str], _Held] = OrderedDict()
_lock = threading.Lock()


def current(lake: Lake, name: str) -> Snapshot:
    """The table's files at its latest version (version -1, no files, when it does not exist)."""
    key = (lake.display(name), json.dumps(lake.delta_options(), sort_keys=True))
    with _lock:
        held = _held.pop(key, None)
        found = _brought_forward(lake, name, held) if held is not None else None
        if found is None:
            found = _loaded(lake, name)
        if found is None:
            return Snapshot(name, -1, ())
        _held[key] = found
        while len(_held) > KEEP:
            _held.popitem(last=False)
        return found.snapshot


def forget_all() -> None:
    """Close every kept table (the next ask of each loads it anew)."""
    with _lock:
        _held.clear()


def _after_fork() -> None:
    """A forked child starts with nothing kept: the parent's tables hold its threads' state, and
    its lock may have been taken when it forked."""
    global _lock
    _lock = threading.Lock()
    _held.clear()


os.register_at_fork(after_in_child=_after_fork)


def _loaded(lake: Lake, name: str) -> _Held | None:
    table = delta.open_table(lake, name)
    if table is None:
        return None
    snapshot = delta.snapshot_of(name, table, tuple(delta.data_files(table)))
    return _Held(table, snapshot, _entry(lake, name, snapshot.version))


def _brought_forward(lake: Lake, name: str, held: _Held) -> _Held | None:
    """`held` at the table's latest version, from the log entries since; None when only a full
    load can tell (the held version's entry gone or rewritten, an entry since unreadable, a
    schema changed, or files that do not add up)."""
    deltalake = delta.load_deltalake()
    before = held.snapshot
    if held.entry is None or _entry(lake, name, before.version) != held.entry:
        return None
    table = held.table
    try:
        table.update_incremental()
    except deltalake.exceptions.DeltaError:
        return None
    version = table.version()
    if version == before.version:
        return held
    since = list(delta_history.commits(lake, name, newest=version, oldest=before.version + 1))
    if len(since) != version - before.version:
        return None
    touched = frozenset().union(*(c.days for c in since))
    kept = tuple(f for f in before.files if f.day not in touched)
    snapshot = delta.snapshot_of(name, table, kept + tuple(delta.data_files(table, touched)))
    if (snapshot.types, snapshot.partitions) != (before.types, before.partitions):
        return None  # each file's stats name the schema's columns
    if {f.path for f in snapshot.files} != _paths(table):
        return None
    return _Held(table, snapshot, _entry(lake, name, version))


def _paths(table: "DeltaTable") -> set[str]:
    """The paths of the table's current files, as `DataFile.path` (not URI-encoded)."""
    actions = pa.table(table.get_add_actions(flatten=False))
    return {unquote(p) for p in actions.column("path").to_pylist()}


def _entry(lake: Lake, name: str, version: int) -> tuple[int, float] | None:
    """The size and modification time of a version's log entry; None when it is gone."""
    try:
        info = lake.fs.info(lake.path(name, delta_history.LOG, f"{version:020d}.json"))
    except FileNotFoundError:
        return None
    return int(info.get("size") or 0), modified(info)
