"""Tier A: listing the raw lake with partition pruning and grouping session folders into
batches (reading them is `raw_read`).

The raw layout already co-locates every session under one folder, so batches of whole sessions
are formed from the listing alone: no shuffle is needed.
"""

import contextlib
import hashlib
import os
import posixpath
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from trajectory_assets.errors import RawLayoutError, first_few
from trajectory_assets.lake.fs import Lake, modified
from trajectory_assets.lake.layout import (
    RAW_TABLE,
    is_day,
    is_hidden,
    is_parquet_name,
    parse_hive,
)

SessionRange = tuple[str, str, str]
"""(app_id, first session_id, last session_id): a run of consecutive sessions of one app."""


@dataclass(frozen=True)
class RawFile:
    """One raw Parquet file. `path` is relative to the lake root, so it is portable."""

    path: str
    size: int
    mtime: float
    dt: str
    app_id: str
    session_id: str


@dataclass(frozen=True)
class SessionGroup:
    """A deterministic batch of whole sessions of one day."""

    batch_id: str
    day: str
    files: tuple[RawFile, ...]

    @property
    def bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def ranges(self) -> tuple[SessionRange, ...]:
        """The batch's sessions as one range per app: batches take sessions in sorted order,
        so a batch's sessions of an app are consecutive."""
        bounds: dict[str, tuple[str, str]] = {}
        for f in self.files:
            first, last = bounds.get(f.app_id, (f.session_id, f.session_id))
            bounds[f.app_id] = (min(first, f.session_id), max(last, f.session_id))
        return tuple((app, first, last) for app, (first, last) in sorted(bounds.items()))


def day_folders(lake: Lake, table_root: str) -> list[tuple[str, str]]:
    """(day, folder) of every `dt=` folder of a table that names a day, in day order; those
    that name none are `misnamed_day_folders`."""
    return sorted(
        (name[3:], entry) for name, entry in _dt_folders(lake, table_root) if is_day(name[3:])
    )


def misnamed_day_folders(lake: Lake) -> list[str]:
    """What raw_events holds beside its day folders (`dt=2026-7-10`, `dt=20260710`,
    `DT=2026-07-10`, `date=2026-07-10`, `2026-07-10`, a file): no day lists it, so what it holds
    is in no table; the commands and runs say so. Hidden names (`_`, `.`) are a writer's own."""
    raw = lake.path(RAW_TABLE)
    if not lake.fs.exists(raw):
        return []
    entries = [(posixpath.basename(e.rstrip("/")), e) for e in lake.fs.ls(raw, detail=False)]
    return sorted(
        lake.display_path(e)
        for n, e in entries
        if not is_hidden(n) and not (n.startswith("dt=") and is_day(n[3:]))
    )


def misnamed_warning(folders: Sequence[str]) -> str:
    return (
        f"{len(folders)} raw folder(s) or file(s) name no day, so their data is in no table: "
        f"{first_few(folders)}; raw data goes in day folders, `dt=` (lower case) and the day "
        "as YYYY-MM-DD (dt=2026-07-10): move or rename them"
    )


def _dt_folders(lake: Lake, table_root: str) -> list[tuple[str, str]]:
    fs = lake.fs
    if not fs.exists(table_root):
        _check_broken(lake, table_root)
        return []
    found = []
    for entry in fs.ls(table_root, detail=False):
        base = posixpath.basename(entry.rstrip("/"))
        if base.startswith("dt="):
            found.append((base, entry))
    return found


def list_days(lake: Lake, dt_from: str | None = None, dt_to: str | None = None) -> list[str]:
    return [
        day
        for day, _ in day_folders(lake, lake.path(RAW_TABLE))
        if (dt_from is None or day >= dt_from) and (dt_to is None or day <= dt_to)
    ]


def remove_days(lake: Lake, days: Iterable[str]) -> None:
    """Delete the raw folders of `days` a command just wrote and could not finish (a sample
    cut short), as far as it can: what stays, a later command names."""
    for day in days:
        folder = lake.path(RAW_TABLE, f"dt={day}")
        with contextlib.suppress(OSError):
            if lake.fs.exists(folder):
                lake.fs.rm(folder, recursive=True)


def list_raw_files(
    lake: Lake,
    *,
    dt: str | None = None,
    dt_from: str | None = None,
    dt_to: str | None = None,
    app_id: str | None = None,
    session_ids: Collection[str] | None = None,
) -> list[RawFile]:
    """Raw Parquet files of the matching partitions (`session_ids` of `app_id`); only matching
    folders are listed."""
    days = [dt] if dt else list_days(lake, dt_from, dt_to)
    root = lake.root
    prefix = root.rstrip("/") + "/"  # listed paths start with it: slicing beats relpath per file
    files: list[RawFile] = []
    misplaced: list[str] = []
    disordered: list[str] = []  # keys in folders of another order, which forget cannot find
    unnamed: list[str] = []  # Parquet files no run would read: only *.parquet names are
    _check_broken(lake, lake.path(RAW_TABLE))
    for day in days:
        bases = [lake.path(RAW_TABLE, f"dt={day}")]
        _check_broken(lake, bases[0])
        if app_id is not None:
            bases = _folders_naming(lake, bases, "app_id", {app_id})
            if session_ids is not None:
                bases = _folders_naming(lake, bases, "session_id", set(session_ids))
        bases = [base for base in bases if lake.fs.exists(base)]
        for path, info in (found for base in bases for found in _find(lake, base)):
            relative = (
                path[len(prefix) :] if path.startswith(prefix) else posixpath.relpath(path, root)
            )
            if is_hidden(relative):
                continue
            if not is_parquet_name(relative):
                if _parquet_named_otherwise(lake, path):
                    unnamed.append(lake.display_path(path))
                continue
            if not _key_names(relative) >= _KEY_FOLDERS:
                misplaced.append(lake.display_path(path))
                continue
            if not _in_order(relative):
                disordered.append(lake.display_path(path))
                continue
            keys = parse_hive(relative)  # a null or empty key reads "": its rows are rejected
            if session_ids is not None and keys.get("session_id") not in session_ids:
                continue
            files.append(
                RawFile(
                    path=relative,
                    size=int(info.get("size") or 0),
                    mtime=modified(info),
                    dt=day,
                    app_id=keys.get("app_id", ""),
                    session_id=keys.get("session_id", ""),
                )
            )
    if misplaced:  # every one at once: fixing them one command at a time is slow
        raise RawLayoutError(
            misplaced[0],
            "is not in an app_id=<app>/session_id=<session> folder of its day"
            f"{_more(misplaced)}, so its events belong to no session: move each file into its "
            "session's folder, or out of raw_events",
        )
    if disordered:
        raise RawLayoutError(
            disordered[0],
            f"is in key folders not in the order dt=/app_id=/session_id=, each key once"
            f"{_more(disordered)} (Spark's partitionBy in another order writes them so): forget "
            "finds a session by that order, and would leave its events; move the folders into "
            'it (partitionBy("dt", "app_id", "session_id"))',
        )
    if unnamed:
        raise RawLayoutError(
            unnamed[0],
            f"is a Parquet file not named *.parquet{_more(unnamed)}, so no run would read it: "
            "give raw Parquet files that ending (Firehose: set its file extension)",
        )
    return files


_KEY_FOLDERS = frozenset({"app_id", "session_id"})


def _key_names(relative: str) -> set[str]:
    """The keys the folders of a path name, whatever their values: a folder of a null or empty
    key (`session_id=__HIVE_DEFAULT_PARTITION__`, as Spark and Arrow write a null) is listed,
    and validation rejects its rows, since they belong to no session."""
    return {part.partition("=")[0] for part in relative.split("/")[:-1] if "=" in part}


def _in_order(relative: str) -> bool:
    """`raw_events/dt=…/app_id=…/session_id=…/…`: the layout's order of the key folders, and
    none of them again below (the runs take the last one of a key)."""
    parts = relative.split("/")
    keys = ("dt=", "app_id=", "session_id=")
    return (
        len(parts) > 4
        and parts[2].startswith("app_id=")
        and parts[3].startswith("session_id=")
        and not any(part.startswith(keys) for part in parts[4:-1])
    )


def _folders_naming(
    lake: Lake, parents: Sequence[str], column: str, values: Collection[str]
) -> list[str]:
    """The `column=` folders of the parents whose names decode to one of `values`: the name our
    writers give it (`layout.partition_value`), and any other that reads back the same (`hive style`
    with a raw space, as Spark writes it; `%6E…` for `n…`), which the runs read as that value
    too and so must be found to forget it."""
    found = []
    for parent in parents:
        if not lake.fs.isdir(parent):
            continue
        for entry in lake.fs.ls(parent, detail=False):
            name = posixpath.basename(entry.rstrip("/"))
            if name.startswith(f"{column}=") and parse_hive(name).get(column) in values:
                _check_broken(lake, entry)
                _check_not_linked_folder(lake, entry)
                found.append(entry)
    return sorted(found)


def _more(paths: Sequence[str]) -> str:
    """` (and N more: a, b, c ...)` of the paths after the first, or nothing."""
    others = paths[1:]
    shown = ", ".join(others[:3]) + (" ..." if len(others) > 3 else "")
    return f" (and {len(others)} more: {shown})" if others else ""


def _find(lake: Lake, base: str) -> list[tuple[str, dict[str, Any]]]:
    """(path, info) of every file below `base`, sorted. Local lakes use os.scandir, which is
    many times faster than fsspec's generic walk on tens of thousands of session folders.

    Hidden names (`_`, `.`) are not raw data and are not listed. `base` (a day's folder) may be
    a symbolic link, and so may a file in it, read as its target. A link to a folder inside a
    day, whatever its name (a real folder there is listed), stops the listing with an error
    naming it, since it could list sessions twice or loop; so does a link to nothing where raw
    data could be (a `.parquet` name, a `key=` folder), which would leave its sessions out
    without a word."""
    if not lake.is_local:
        return sorted(lake.fs.find(base, detail=True).items())
    found: list[tuple[str, dict[str, Any]]] = []
    stack = [base]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.name.startswith(("_", ".")):
                    continue
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                if entry.is_symlink():
                    _check_not_linked_folder(lake, entry.path)  # listed as a folder would be
                    if not (is_parquet_name(entry.name) or "=" in entry.name):
                        continue  # a file, or a link to nothing, that is not raw data
                    _check_broken(lake, entry.path)
                if entry.is_file():
                    stat = entry.stat()
                    found.append((entry.path, {"size": stat.st_size, "mtime": stat.st_mtime}))
    return sorted(found)


def _check_broken(lake: Lake, path: str) -> None:
    """RawLayoutError when `path` is a symbolic link that leads nowhere (local lakes)."""
    if lake.is_local and os.path.islink(path) and not os.path.exists(path):
        raise RawLayoutError(
            path,
            f"is a symbolic link to {os.readlink(path)}, which cannot be followed (it does not "
            "exist, or links lead back to themselves): restore the target, or remove the link "
            "if its data is gone",
        )


def _check_not_linked_folder(lake: Lake, path: str) -> None:
    """RawLayoutError when `path`, inside a day's folder, is a symbolic link to a folder."""
    if lake.is_local and os.path.islink(path) and os.path.isdir(path):
        raise RawLayoutError(
            path,
            f"is a symbolic link to the folder {os.readlink(path)}: inside a day only files may "
            "be links (a day's whole folder may be one), since a linked folder can list the same "
            "sessions twice or loop; move or copy the folder there instead",
        )


def _parquet_named_otherwise(lake: Lake, path: str) -> bool:
    """A Parquet file no run would read for its name (Firehose writes no extension); not a
    write in progress (an older writer's `<name>.parquet.tmp-<id>`) nor a file of other data."""
    if ".parquet.tmp-" in posixpath.basename(path):
        return False
    try:
        if lake.is_local:
            with open(path, "rb") as handle:
                head = handle.read(4)
        else:
            head = lake.fs.cat_file(path, start=0, end=4)
    except OSError:
        return False
    return bool(head == b"PAR1")


def group_sessions(files: Sequence[RawFile], batch_bytes: int) -> list[SessionGroup]:
    """Batches of whole sessions, about `batch_bytes` each, never spanning two days.

    A day's sessions (of every app) are cut into the whole number of batches nearest to
    `batch_bytes` each, of about equal bytes, since a batch's memory follows its size: no batch
    is a small remainder, and none holds much over 1.5 x `batch_bytes` but for one large session.
    A batch may hold several apps (one range of sessions each): every batch has a fixed cost, so
    a batch per app made a day of 500 small apps 10 times slower than one app of its size.
    Sessions are taken in (day, app, session) order, so the same listing always yields the same
    batches and batch ids, which is what lets a resumed run reuse finished batches.
    """
    by_session: dict[tuple[str, str, str], list[RawFile]] = {}
    for f in files:
        by_session.setdefault((f.dt, f.app_id, f.session_id), []).append(f)
    by_day: dict[str, list[list[RawFile]]] = {}
    for (day, _app, _sid), session_files in sorted(by_session.items()):
        by_day.setdefault(day, []).append(sorted(session_files, key=lambda f: f.path))
    return [
        SessionGroup(f"{day}-{i:05d}", day, tuple(f for s in part for f in s))
        for day, sessions in by_day.items()
        for i, part in enumerate(_equal_parts(sessions, batch_bytes))
    ]


def _equal_parts(sessions: list[list[RawFile]], batch_bytes: int) -> list[list[list[RawFile]]]:
    """Consecutive sessions in `round(total / batch_bytes)` parts (at least one), each session
    in the part its first byte falls in (a part that falls inside one large session is dropped)."""
    sizes = [sum(f.size for f in s) for s in sessions]
    total = sum(sizes)
    count = max(1, round(total / max(1, batch_bytes)))
    parts: list[list[list[RawFile]]] = [[] for _ in range(count)]
    before = 0
    for session, size in zip(sessions, sizes, strict=True):
        parts[min(before * count // total, count - 1) if total else 0].append(session)
        before += size
    return [p for p in parts if p]


def fingerprint(files: Iterable[RawFile]) -> str:
    """Identifies a set of input files by name, size and modification time."""
    digest = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.path):
        digest.update(f"{f.path}\0{f.size}\0{f.mtime:.6f}\n".encode())
    return digest.hexdigest()


def raw_version(files: Sequence[RawFile]) -> str:
    """A day's raw data version, as Dagster records it for raw_events: its file count and a
    fingerprint of names, sizes and times."""
    return f"{len(files)}-{fingerprint(files)[:16]}"


def filter_sessions(table: pa.Table, sessions: Sequence[SessionRange]) -> pa.Table:
    """Rows of a session-keyed table that belong to the given ranges of sessions."""
    mask = pa.repeat(pa.scalar(False), table.num_rows)
    for app, first, last in sessions:
        in_range = pc.and_(
            pc.equal(table["app_id"], app),
            pc.and_(
                pc.greater_equal(table["session_id"], first),
                pc.less_equal(table["session_id"], last),
            ),
        )
        mask = pc.or_(mask, pc.fill_null(in_range, False))
    return table.filter(mask)
