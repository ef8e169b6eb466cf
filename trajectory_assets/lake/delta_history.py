"""A Delta table's history: the commits of its log, as far as this project reads them, and
vacuum, which ends time travel before a retention horizon.

Commits are read from the log's JSON entries rather than through delta-rs, since what matters
here is a commit's custom metadata (run, attempt, audit counts) and the days its files touched:
that is how concurrent writers of a day are told apart, how a commit's landing version is found,
and how the asset checks and the instance sync look back at when and by whom a day changed.
"""

import datetime as dt
import json
import math
import os
import posixpath
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypedDict

from trajectory_assets.errors import LinkedFolderError, NoSuchVersionError
from trajectory_assets.lake.delta import open_table
from trajectory_assets.lake.fs import Lake

if TYPE_CHECKING:
    from deltalake import DeltaTable

LOG = "_delta_log"
ROLLBACK_ID = "rollback_id"  # shared by the restores of one rollback's tables
RESTORED_AS_OF = "restored_as_of"  # a restore's metadata: the version whose day it made current


class OperatorCommitInfo(TypedDict):
    """What a commit of an operator's tables says of how they were made, in the table's own log
    (Delta's commit info: strings only, JSON where structured), so any engine's history shows
    how a day's numbers were made and `explain`, the checks and `sync` read it from the lake
    alone. Commits of earlier releases lack the keys added since (`operator_fingerprint`,
    `audit`, `operator_params`, `operator_described`)."""

    operator: str
    operator_version: str  # every operator commit has it: what tells them from others
    operator_fingerprint: str  # version, parameters, lake files and prices, digested
    attempt: str
    input_fingerprint: str
    operator_params: str  # JSON
    operator_described: str  # JSON: what the fingerprint digests, readable
    source: str  # the table the batches were drawn from
    run_id: str
    skipped_files: str  # JSON: [path, reason] pairs
    audit: str  # JSON: the batches' independent counts, for the reconciliation checks


def commit_info(info: OperatorCommitInfo) -> dict[str, str]:
    """`info` as the metadata of a commit, which takes any string keys (a restore's too)."""
    return {key: str(value) for key, value in info.items()}


@dataclass(frozen=True)
class Commit:
    """One entry of a table's log, as far as this project reads it."""

    version: int
    timestamp: dt.datetime
    operation: str
    metadata: dict[str, str]
    days: frozenset[str]  # days whose files it added or removed

    @property
    def operator_version(self) -> str | None:
        """The version of the operator that made it; None for a commit of no operator."""
        return self.metadata.get("operator_version")

    @property
    def operator_fingerprint(self) -> str | None:
        return self.metadata.get("operator_fingerprint")

    @property
    def audit(self) -> dict[str, int] | None:
        """The counts the reconciliation checks compare with the tables; None when unrecorded."""
        text = self.metadata.get("audit")
        return None if text is None else {k: int(v) for k, v in json.loads(text).items()}


def commits(
    lake: Lake, name: str, *, newest: int | None = None, oldest: int = 0
) -> Iterator[Commit]:
    """The table's commits from `newest` (default: the latest) down to `oldest`, read from the
    log's JSON entries; stops early where old entries were cleaned up."""
    if newest is None:
        table = open_table(lake, name)
        if table is None:
            return
        newest = int(table.version())
    fs = lake.fs
    for version in range(newest, oldest - 1, -1):
        path = lake.path(name, LOG, f"{version:020d}.json")
        try:
            lines = fs.cat_file(path).decode().splitlines()
        except FileNotFoundError:
            return
        yield _parse_commit(version, lines)


def version_as_of(lake: Lake, name: str, as_of: int | dt.datetime) -> int | None:
    """The version of the table current at `as_of` (a version, or a time), from the commits its
    log still holds; None when the table was never committed. NoSuchVersionError says why there
    is none: before the table existed, or older than the oldest version kept.

    Read from the log rather than left to Delta's time travel, which answers a time before the
    oldest version kept with that version: later data, as if it had been there then."""
    kept = list(commits(lake, name))
    if not kept:
        return None
    newest, oldest = kept[0], kept[-1]
    span = f"the versions kept are {oldest.version} to {newest.version}"
    if oldest.version > 0:
        span += " (older ones were cleaned up by vacuum or forget)"
    if isinstance(as_of, int):
        if oldest.version <= as_of <= newest.version:
            return as_of
        raise NoSuchVersionError(f"{name} has no version {as_of}: {span}")
    found = next((c for c in kept if c.timestamp <= as_of), None)
    if found is not None:
        return found.version
    if oldest.version == 0:
        raise NoSuchVersionError(
            f"{name} did not exist yet at {as_of.isoformat()}: it was created {oldest.timestamp}"
        )
    raise NoSuchVersionError(
        f"{name} has no version as of {as_of.isoformat()}: {span}, the oldest of {oldest.timestamp}"
    )


_STANDARD_KEYS = {"timestamp", "operation", "operationParameters", "engineInfo", "clientVersion"}


class CommitInfo(TypedDict, total=False):
    """A log entry's `commitInfo`: these keys, then the commit's custom metadata beside them."""

    timestamp: int
    operation: str


class FileAction(TypedDict, total=False):
    """An `add` or `remove` action, as far as this module reads it."""

    path: str
    partitionValues: dict[str, str | None]


class LogAction(TypedDict, total=False):
    """One line of a log entry: one action (other kinds are not read here)."""

    commitInfo: CommitInfo
    add: FileAction
    remove: FileAction


def _parse_commit(version: int, lines: Sequence[str]) -> Commit:
    info: CommitInfo = {}
    days: set[str] = set()
    for line in lines:
        if not line.strip():
            continue
        action: LogAction = json.loads(line)
        if "commitInfo" in action:
            info = action["commitInfo"]
        for file in (action.get("add"), action.get("remove")):
            if file is None:
                continue
            day = (file.get("partitionValues") or {}).get("dt")
            if day is not None:
                days.add(day)
    return Commit(
        version=version,
        timestamp=dt.datetime.fromtimestamp(int(info.get("timestamp", 0)) / 1000, dt.UTC),
        operation=str(info.get("operation", "")),
        metadata={k: str(v) for k, v in info.items() if k not in _STANDARD_KEYS},
        days=frozenset(days),
    )


@dataclass(frozen=True)
class Vacuumed:
    """What a vacuum deleted, and the horizon it kept: Delta counts retention in whole hours,
    so a fractional horizon is rounded up (never deleting what the asked one keeps)."""

    files: list[str]
    bytes: int
    hours: int


def whole_hours(retention_hours: float) -> int:
    """The horizon Delta keeps for `retention_hours` (it counts whole hours)."""
    return max(0, math.ceil(retention_hours))


LOG_DAYS = 30
"""Delta's default log retention: log entries older than it go at a checkpoint."""


def keep_log(table: "DeltaTable", hours: int) -> None:
    """Time travel needs the log as far back as the files: a horizon past Delta's log retention
    raises it (a version whose log entry went cannot be read, its files kept or not)."""
    days = math.ceil(hours / 24)
    if days <= LOG_DAYS:
        return
    setting = f"interval {days} days"
    if table.metadata().configuration.get("delta.logRetentionDuration") != setting:
        table.alter.set_table_properties({"delta.logRetentionDuration": setting})


def vacuum(lake: Lake, name: str, retention_hours: float, *, full: bool = False) -> Vacuumed:
    """Delete files no version younger than the horizon needs (and, `full`, files never
    committed, e.g. of killed runs, written before the horizon: Delta goes by their age);
    time travel before the horizon ends here."""
    hours = whole_hours(retention_hours)
    table = open_table(lake, name)
    if table is None:
        return Vacuumed([], 0, hours)
    keep_log(table, hours)

    def run(dry_run: bool) -> list[str]:
        found: list[str] = table.vacuum(
            hours, dry_run=dry_run, enforce_retention_duration=False, full=full
        )
        return found

    # delta-rs lists a removed file until its tombstone expires, deleted already or not, and
    # commits a VACUUM START/END pair each time: vacuum only when a file is there to delete
    # (by file name, unique per file, whatever the encoding of its partition folders). The
    # table's folder is listed only then: at a year of days, listing it is most of the cost.
    listed = run(dry_run=True)
    if not listed:
        return Vacuumed([], 0, hours)
    if full:
        refuse_linked_folders(lake, name)
    sizes = {
        posixpath.basename(path): int(info.get("size") or 0)
        for path, info in lake.fs.find(lake.path(name), detail=True).items()
    }
    due = [f for f in listed if posixpath.basename(f) in sizes]
    if due:
        run(dry_run=False)
    return Vacuumed(due, sum(sizes[posixpath.basename(f)] for f in due), hours)


def refuse_linked_folders(lake: Lake, name: str) -> None:
    """LinkedFolderError for a link to a folder in the table's folder (local lakes): delta-rs'
    full vacuum follows it and deletes its target's files, while the listing of what is due
    (fsspec's, which does not follow it) said nothing of them."""
    if not lake.is_local:
        return
    for folder, subfolders, _ in os.walk(lake.path(name)):
        for sub in subfolders:
            if os.path.islink(os.path.join(folder, sub)):
                raise LinkedFolderError(lake.display_path(os.path.join(folder, sub)))


KEPT = "kept_commits"
"""A purge's last commit carries, under this key, the operator commits of the table's current
days that it removed from the log (their metadata: how each day was made, its audit counts)."""


class KeptCommit(TypedDict):
    version: int
    timestamp: str
    operation: str
    metadata: dict[str, str]


def kept_record(commits: Mapping[str, Commit]) -> str:
    """`KEPT`'s value: each day's operator commit, as JSON, but for its list of skipped raw files
    (their count is in `audit`; a day under `skip` may list thousands)."""
    record: dict[str, KeptCommit] = {
        day: {
            "version": c.version,
            "timestamp": c.timestamp.isoformat(),
            "operation": c.operation,
            "metadata": {k: v for k, v in c.metadata.items() if k != "skipped_files"},
        }
        for day, c in commits.items()
    }
    return json.dumps(record, sort_keys=True)


def kept_commits(commit: Commit) -> dict[str, Commit]:
    """The operator commits a purge kept in `commit`, by day."""
    record: dict[str, KeptCommit] = json.loads(commit.metadata.get(KEPT, "{}"))
    return {
        day: Commit(
            version=kept["version"],
            timestamp=dt.datetime.fromisoformat(kept["timestamp"]),
            operation=kept["operation"],
            metadata=dict(kept["metadata"]),
            days=frozenset({day}),
        )
        for day, kept in record.items()
    }


def operator_commits(lake: Lake, name: str, days: Collection[str]) -> dict[str, Commit]:
    """For each of `days` found, the operator's commit that made a table's day what it is: the
    last to write the day, or for a day a restore (rollback) made current again, the last to
    write it as of the restored version.
    A day is missing when no such commit is left in the log (Delta's log cleanup; a purge by
    `forget` keeps them, `KEPT`). One walk of the log, down to where the last is found: a walk
    per day would read the log again for every day."""
    wanted = set(days)
    found: dict[str, Commit] = {}
    restored: dict[str, int] = {}  # newest first: a restore sends the search to its version
    for commit in commits(lake, name):
        if len(found) == len(wanted):
            break
        if KEPT in commit.metadata:  # the log ends here: a purge kept what it removed
            kept = {d: c for d, c in kept_commits(commit).items() if d in wanted}
            found |= {d: c for d, c in kept.items() if d not in found}  # a restore to the purge
            break
        for day in (commit.days & wanted) - found.keys():
            if day in restored and commit.version > restored[day]:
                continue
            if RESTORED_AS_OF in commit.metadata:
                restored[day] = int(commit.metadata[RESTORED_AS_OF])
            elif commit.operator_version is not None:
                found[day] = commit
    return found
