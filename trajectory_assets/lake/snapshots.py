"""A table's current snapshot, kept for the process and brought forward from the table's log.

A run asks for each table's files some forty times (planning, commits, checks, the daily report,
the command's summary), and loading them anew replays the table's log and converts every file's
add action: 60-100 ms a table at a year of days, 2 s of a one-day run, and a round trip per log
file on an object store. Most asks find the table as it was, or with one day changed by the
run's own commit. So a table stays open, and an ask costs a look at its log: nothing new, the
same snapshot; new entries, the files of the days they touched converted again; anything else
(a log cut by a purge, a table deleted and made anew, a schema changed), a full load. A kept
table is known by the content of its version's log entry, read before and after it is brought
forward: a table deleted and made anew, even up to the same version, is never taken for it.
"""

import hashlib
import json
import posixpath
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

import pyarrow as pa

from trajectory_assets.lake import delta, delta_history
from trajectory_assets.lake.delta import Snapshot
from trajectory_assets.lake.fs import Lake

if TYPE_CHECKING:
    from deltalake import DeltaTable

KEEP = 64
"""Tables kept open per process (a lake has a dozen or so; a process rarely serves more lakes)."""

KEEP_FILES = 100_000
"""Files kept per process, all tables together (about 1.3 KB each: 130 MB). A lake of 10M
events a day has some 150 files a day in each table: a year of it keeps the tables asked last,
and loads the others anew at each ask, as a process that keeps none does."""

ENTRY = re.compile(r"^(\d{20})\.json$")  # a commit's log entry, named by its version

Key = tuple[str, str]  # a table's URI and the store's options


@dataclass(frozen=True)
class _Held:
    table: "DeltaTable"
    snapshot: Snapshot
    entry: str  # digest of its version's log entry: a table deleted and made anew has other
    # entries under the same numbers (other times, other file names)


_held: OrderedDict[Key, _Held] = OrderedDict()
_loading: dict[Key, threading.Lock] = {}  # one per table: others load meanwhile
_lock = threading.Lock()  # guards the two dicts


def current(lake: Lake, name: str) -> Snapshot:
    """The table's files at its latest version (version -1, no files, when it does not exist)."""
    deltalake = delta.load_deltalake()
    key = (lake.display(name), json.dumps(lake.delta_options(), sort_keys=True))
    with _lock:
        loading = _loading.setdefault(key, threading.Lock())
    with loading:
        with _lock:
            held = _held.pop(key, None)
        found = None
        if held is not None:
            try:
                found = _brought_forward(lake, name, held)
            except (OSError, ValueError, deltalake.exceptions.DeltaError):
                found = None  # a full load says what is wrong, if anything is
        if found is None:
            found = _loaded(lake, name)
        if found is None:  # none, or changed while it loaded: not kept
            return delta.snapshot(lake, name)
        with _lock:
            _held[key] = found
            while (
                len(_held) > KEEP or sum(len(h.snapshot.files) for h in _held.values()) > KEEP_FILES
            ):
                _loading.pop(_held.popitem(last=False)[0], None)
        return found.snapshot


def clear() -> None:
    """Close every kept table (the next ask of each loads it anew)."""
    with _lock:
        _held.clear()


def _loaded(lake: Lake, name: str) -> _Held | None:
    """The table at the latest version its log lists, loaded after that entry was read: a
    table made anew meanwhile shows at the next ask. None when there is no such table, or the
    version is gone already."""
    deltalake = delta.load_deltalake()
    try:
        listed = lake.fs.ls(lake.path(name, delta_history.LOG), detail=False)
    except FileNotFoundError:
        return None
    versions = [int(m.group(1)) for p in listed if (m := ENTRY.match(posixpath.basename(p)))]
    if not versions:
        return None
    version = max(versions)
    entry = _entry(lake, name, version)
    if entry is None:
        return None
    try:
        table = delta.open_table(lake, name, version)
    except deltalake.exceptions.DeltaError:
        return None
    if table is None:
        return None
    return _Held(table, delta.snapshot_of(name, table, tuple(delta.data_files(table))), entry)


def _brought_forward(lake: Lake, name: str, held: _Held) -> _Held | None:
    """`held` at the table's latest version, from the log entries since; None when only a full
    load can tell (the held version's entry gone or rewritten, before or after, an entry since
    unreadable, a schema changed, or files that do not add up)."""
    before = held.snapshot
    if _entry(lake, name, before.version) != held.entry:
        return None
    table = held.table
    table.update_incremental()
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
    entry = _entry(lake, name, version)
    if entry is None or _entry(lake, name, before.version) != held.entry:
        return None  # made anew while brought forward: its entries may be either table's
    return _Held(table, snapshot, entry)


def _entry(lake: Lake, name: str, version: int) -> str | None:
    """The digest of a version's log entry; None when it is gone."""
    try:
        text = lake.fs.cat_file(lake.path(name, delta_history.LOG, f"{version:020d}.json"))
    except FileNotFoundError:
        return None
    return hashlib.sha256(text).hexdigest()


def _paths(table: "DeltaTable") -> set[str]:
    """The paths of the table's current files, as `DataFile.path` (not URI-encoded)."""
    actions = pa.table(table.get_add_actions(flatten=False))
    return {unquote(p) for p in actions.column("path").to_pylist()}
