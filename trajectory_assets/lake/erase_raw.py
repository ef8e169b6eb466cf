"""Deleting forgotten sessions' raw data, the first step of `trajectory-assets forget`
(`erase`): their files and folders, and their rows in other sessions' files. Raw data is
never modified elsewhere."""

import contextlib
import os
import posixpath
from collections.abc import Collection, Sequence

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from trajectory_assets.errors import RawLayoutError
from trajectory_assets.lake.erase import Request
from trajectory_assets.lake.fs import Lake, parquet_bytes, read_raw_parquet, write_file_atomic
from trajectory_assets.lake.layout import RAW_TABLE, UNTIMED_DAY, parse_hive
from trajectory_assets.lake.raw import RawFile

EMPTIED = "_emptied_by_forget.json"  # in a day's raw folder whose last session was forgotten
EMPTIED_TEXT = b'{"events": 0, "why": "forget deleted the last sessions of this day"}\n'


def delete_rows(lake: Lake, paths: Sequence[str], request: Request) -> int:
    """Write each raw file again without the rows that are the requested sessions' own, found
    by their values (the positions a table kept may be stale: the file was written again, or a
    run of this forget before); a file left without rows goes, one gone is skipped; how many
    rows."""
    deleted = 0
    for path in paths:
        try:
            with lake.fs.open(lake.path(path), "rb") as f:
                table = read_raw_parquet(f)
        except FileNotFoundError:
            continue
        if "session_id" not in table.column_names:
            continue
        theirs = pc.is_in(table["session_id"], pa.array(request.session_ids, pa.string()))
        if "app_id" in table.column_names:
            app = pc.equal(table["app_id"], request.app_id)
            theirs = pc.and_(
                theirs, pc.fill_null(app, parse_hive(path).get("app_id") == request.app_id)
            )
        kept = table.filter(pc.invert(pc.fill_null(theirs, False)))
        deleted += table.num_rows - kept.num_rows
        if kept.num_rows == table.num_rows:
            continue
        if kept.num_rows:
            write_file_atomic(lake, lake.path(path), parquet_bytes(kept))
        else:
            lake.fs.rm(lake.path(path))
    _keep_days(lake, {day for p in paths if (day := parse_hive(p).get("dt"))})
    return deleted


def delete_raw(lake: Lake, files: Sequence[RawFile]) -> list[str]:
    """Delete the files, their session folders and app folders left empty; the day folders
    stay, so a day left without sessions is an existing, empty day (its tables are rebuilt
    empty, not left stale). A raw file that is a link to a file outside the lake is read as
    its target, which holds the session's events: the target goes too (deleting the link alone
    left them there; `refuse_outside_targets` checked it holds theirs alone). Returns the targets
    deleted."""
    fs = lake.fs
    targets = _outside_targets(lake, files)
    folders = {posixpath.dirname(lake.path(f.path)) for f in files}
    for folder in sorted(folders):
        if fs.exists(folder):
            fs.rm(folder, recursive=True)
    fs.invalidate_cache()
    if lake.is_local:  # an object store has no folders; a writer may be adding a session
        for app in sorted({posixpath.dirname(f) for f in folders}):
            with contextlib.suppress(OSError):  # not empty, or gone
                os.rmdir(app)
        with contextlib.suppress(OSError):  # untimed events have no tables to rebuild empty
            os.rmdir(lake.path(RAW_TABLE, f"dt={UNTIMED_DAY}"))
        for target in targets:
            with contextlib.suppress(FileNotFoundError):
                os.remove(target)
    _keep_days(lake, {f.dt for f in files})
    return targets


def refuse_outside_targets(
    lake: Lake, request: Request, files: Sequence[RawFile], others: Sequence[str]
) -> None:
    """RawLayoutError, before anything is deleted, for a link out of the lake that a forget
    would mishandle: one of the sessions' files whose target is no raw events file of theirs
    alone (the target is deleted: a link planted to any file made forget delete it), or another
    session's file holding rows of theirs (written again as a file, the link would leave their
    rows in its target)."""
    for path, target in _linked_outside(lake, [f.path for f in files]).items():
        problem = _not_theirs(target, request)
        if problem:
            raise RawLayoutError(
                path,
                f"links to {target}, outside the lake, which {problem}: forget deletes the "
                "target of a linked raw file of the sessions (it holds their events), and not "
                "this one; remove the link (or the target's other data), then forget again",
            )
    for path, target in _linked_outside(lake, others).items():
        raise RawLayoutError(
            path,
            f"links to {target}, outside the lake, and holds rows of the sessions among other "
            "sessions' rows: forget would write the link again as a file without them and leave "
            f"them in {target}; replace the link with a copy of it (cp --remove-destination), "
            "then forget again",
        )


def _not_theirs(target: str, request: Request) -> str | None:
    """Why a linked file outside the lake is not the requested sessions' raw events alone."""
    try:
        names = set(pq.read_schema(target).names)
        keys = pq.read_table(target, columns=sorted(names & {"app_id", "session_id"}))
    except (OSError, pa.ArrowException):
        return "is no Parquet file"
    if not {"event_id", "ts", "event_type"} <= names:
        return "is no raw events file (it has no event_id, ts and event_type)"
    for column, theirs in (("session_id", set(request.session_ids)), ("app_id", {request.app_id})):
        if column in names and not set(keys[column].drop_null().to_pylist()) <= theirs:
            return f"holds other {column.removesuffix('_id')}s' events too"
    return None


def _outside_targets(lake: Lake, files: Sequence[RawFile]) -> list[str]:
    """The files outside the lake that raw files link to (a link to a raw file of the lake is
    that file's own to delete, if it is of the sessions)."""
    return sorted(set(_linked_outside(lake, [f.path for f in files]).values()))


def _linked_outside(lake: Lake, paths: Sequence[str]) -> dict[str, str]:
    """Raw files (paths in the lake) that are links to files outside it, and their targets."""
    if not lake.is_local:
        return {}
    root = os.path.realpath(lake.path(RAW_TABLE)) + os.sep
    linked = {}
    for relative in paths:
        path = lake.path(relative)
        target = os.path.realpath(path)
        if os.path.islink(path) and not target.startswith(root):
            linked[lake.display_path(path)] = target
    return linked


def _keep_days(lake: Lake, days: Collection[str]) -> None:
    """A day whose last raw file went stays a day without events: on an object store, where a
    folder is there only while something is under it, through a hidden marker (`EMPTIED`, not
    raw data). Not the day of untimed events, which is in no partition: kept, it was a day
    before the first partition that every `--missing` named."""
    lake.fs.invalidate_cache()
    for day in sorted(set(days) - {UNTIMED_DAY}):
        folder = lake.path(RAW_TABLE, f"dt={day}")
        if not lake.fs.exists(folder):
            write_file_atomic(lake, posixpath.join(folder, EMPTIED), EMPTIED_TEXT)
