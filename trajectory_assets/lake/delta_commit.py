"""Writing a day of a Delta table: committing a run's files as the whole of the day, and
restoring the day's files of an earlier version; both one transaction that touches no other day.

Each transaction carries the day's application transaction, so two writers of one day conflict
in Delta even where the day did not exist before, and a commit checks the log for another
writer of the day since the version its run planned against (see `commit_day`).
"""

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from trajectory_assets.errors import (
    ConcurrentWriterError,
    MissingDataFileError,
    NoPreviousVersionError,
)
from trajectory_assets.lake.delta import (
    DataFile,
    data_files,
    delta_schema,
    files_on_disk,
    load_deltalake,
    open_table,
    partition_columns,
    snapshot,
)
from trajectory_assets.lake.delta_history import RESTORED_AS_OF, ROLLBACK_ID, Commit, commits
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.schemas import changed_since, record_schema
from trajectory_assets.schema import TableSpec

if TYPE_CHECKING:
    from deltalake import DeltaTable
    from deltalake.transaction import CommitProperties

COMMIT_TRIES = 20


def commit_day(
    lake: Lake,
    spec: TableSpec,
    day: str,
    files: Sequence[DataFile],
    metadata: Mapping[str, str],
    *,
    since_version: int | None,
    table: "DeltaTable | None" = None,
) -> int | None:
    """Make `files` the whole of the table's `day`, in one transaction; returns the new table
    version, or None when they already are (a commit is idempotent).

    `since_version` is the table version this run planned against: a commit since then by
    another writer that touched the same day means two writers computed it at once, and this
    one is refused. Commits of other days only make the transaction retry on the new version.
    `table`: the table as `prepare` opened it.
    """
    deltalake = load_deltalake()
    from deltalake.exceptions import CommitFailedError

    record_schema(lake, spec)
    now = int(time.time() * 1000)
    actions = [
        deltalake.transaction.AddAction(f.path, f.size, f.values, now, True, f.stats) for f in files
    ]
    wanted = {f.path for f in files}
    schema = delta_schema(spec)
    table = table or prepare(lake, spec, day, since_version=None)
    for _ in range(COMMIT_TRIES):
        commit_id = uuid.uuid4().hex
        if {f.path for f in data_files(table, {day})} == wanted:
            return None
        if since_version is not None:
            _refuse_other_writers(lake, spec.name, day, since_version, table.version())
        missing = _missing(lake, spec.name, day, files)  # as late as can be: a vacuum may run
        if missing:
            raise MissingDataFileError(
                f"{spec.name} dt={day}: {len(missing)} file(s) to commit are gone from the lake "
                f"(first: {missing[0]}); was the table vacuumed during the run?"
            )
        try:
            table.create_write_transaction(
                actions,
                mode="overwrite",
                schema=schema,
                partition_by=partition_columns(spec),
                partition_filters=[("dt", "=", day)],
                commit_properties=_properties(table, day, metadata, commit_id),
            )
        except CommitFailedError:
            table.update_incremental()  # someone committed meanwhile: look at the new version
            continue
        return _version_of(lake, spec.name, table, commit_id)
    raise ConcurrentWriterError(
        f"{spec.name} dt={day}: gave up after {COMMIT_TRIES} commit conflicts with other writers"
    )


def prepare(lake: Lake, spec: TableSpec, day: str, *, since_version: int | None) -> "DeltaTable":
    """The table (created when new), once no other writer has committed the day since
    `since_version`: asked of every table of an operator before the first is committed, so a
    run that lost the race to another writer commits none of them (ConcurrentWriterError)."""
    table = open_table(lake, spec.name)
    if table is None:
        _create(lake, spec)
        table = open_table(lake, spec.name)
        assert table is not None, f"{spec.name}: created, yet not a Delta table"
    _enable_features(table, spec)
    if since_version is not None:
        _refuse_other_writers(lake, spec.name, day, since_version, table.version())
    return table


def _enable_features(table: "DeltaTable", spec: TableSpec) -> None:
    """Give the table the Delta features its declared columns need before a commit writes them.
    A table made without a time-without-zone column and given one later (a new column) needs
    `timestampNtz`, which deltalake's write does not add: its commit left a table that every
    reader, and every later run, refused. A table made with one has it from the start."""
    from deltalake import TableFeatures

    if not any(_naive_time(field.type) for field in spec.schema):
        return
    protocol = table.protocol()
    if "timestampNtz" in (protocol.reader_features or []):
        return
    table.alter.add_feature(
        TableFeatures.TimestampWithoutTimezone, allow_protocol_versions_increase=True
    )


def _naive_time(kind: pa.DataType) -> bool:
    """Whether the type is, or holds, a timestamp without a time zone."""
    if pa.types.is_timestamp(kind):
        return kind.tz is None
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _naive_time(kind.value_type)
    if pa.types.is_map(kind):
        return _naive_time(kind.key_type) or _naive_time(kind.item_type)
    if pa.types.is_struct(kind):
        return any(_naive_time(kind.field(i).type) for i in range(kind.num_fields))
    return False


def _create(lake: Lake, spec: TableSpec) -> None:
    """An empty table with the spec's schema and partitioning. Data always goes in by a later
    commit: only those carry the day's application transaction that keeps two writers of one
    day apart (a table's creating commit would not conflict on it)."""
    deltalake = load_deltalake()
    from deltalake.exceptions import CommitFailedError
    from deltalake.transaction import create_table_with_add_actions

    try:
        create_table_with_add_actions(
            lake.display(spec.name),
            delta_schema(spec),
            [],
            partition_by=partition_columns(spec),
            storage_options=lake.delta_options(),
        )
    except CommitFailedError:
        pass  # another writer created it at the same moment
    except deltalake.exceptions.DeltaError as exc:
        if "already exists" not in str(exc):
            raise


def _properties(
    table: "DeltaTable | None", day: str, metadata: Mapping[str, str], commit_id: str
) -> "CommitProperties":
    """Commit metadata, and the day's application transaction: two transactions that set the
    same one concurrently conflict, so two writers of one day can never both commit, even to
    a day that did not exist yet (Delta alone would let both add their files)."""
    from deltalake.transaction import CommitProperties, Transaction

    app_id = f"dt={day}"
    previous = table.transaction_version(app_id) if table is not None else None
    return CommitProperties(
        custom_metadata={**metadata, "dt": day, "commit_id": commit_id},
        app_transactions=[Transaction(app_id, (previous or 0) + 1)],
    )


def _version_of(lake: Lake, name: str, table: "DeltaTable", commit_id: str) -> int:
    """The version a commit through `table` landed at: delta-rs rebases a transaction over
    commits that do not conflict with it, so it is not always the version the transaction was
    built on plus one. Brings `table` up to date, which reads only the log's newer entries."""
    table.update_incremental()
    for commit in commits(lake, name, newest=int(table.version())):
        if commit.metadata.get("commit_id") == commit_id:
            return commit.version
    raise RuntimeError(f"{name}: commit {commit_id} is not in the table's log")


def _missing(lake: Lake, name: str, day: str, files: Sequence[DataFile]) -> list[str]:
    """Files not in the lake, from one listing of the day's folder."""
    present = files_on_disk(lake, name, day)
    return [f.path for f in files if f.path not in present]


def _refuse_other_writers(lake: Lake, name: str, day: str, since: int, latest: int) -> None:
    for commit in commits(lake, name, newest=latest, oldest=since + 1):
        if day in commit.days:
            meta = commit.metadata
            who = (
                f"a {meta['action']} {meta.get(ROLLBACK_ID, '')}".rstrip()
                if meta.get("action")
                else f"run {meta.get('run_id') or meta.get('attempt') or 'unknown'}"
            )
            then = (
                "The restored day stands; materializing it again (a run of a new version or "
                "changed inputs, --force, the sensor) would undo the rollback."
                if meta.get("action") == "rollback"
                else "Only one materialization of a table and day may run at a time."
            )
            raise ConcurrentWriterError(
                f"{name} dt={day} was committed by another writer ({who}, table version "
                f"{commit.version}) while this run was computing it; this run's result was not "
                f"committed. {then}"
            )


def previous_state(
    lake: Lake, spec: TableSpec, day: str, *, as_of: int | None = None
) -> tuple[int, list[DataFile]]:
    """The version a restore of the day goes back to (`as_of`, or the one before the day's
    last change) and the day's files then; raises when there is none or it was vacuumed."""
    explicit = as_of is not None
    if as_of is None:
        last = next((c for c in commits(lake, spec.name) if day in c.days), None)
        as_of = last.version - 1 if last is not None else -1
    try:
        then = snapshot(lake, spec.name, as_of) if as_of >= 0 else None
    except load_deltalake().exceptions.DeltaError:
        # not in the log: a future version, or cleaned up
        latest = snapshot(lake, spec.name).version
        raise NoPreviousVersionError(
            f"{spec.name} has no version {as_of} to restore: the table's log holds versions up "
            f"to {latest}, and versions older than the retention horizon (or before a "
            "`forget`) are cleaned up"
        ) from None
    target = then.day_files(day) if then is not None else []
    if then is None or not (target or _held(lake, spec.name, day, as_of)):
        never = not explicit and last is None and not snapshot(lake, spec.name).day_files(day)
        raise NoPreviousVersionError(
            f"{spec.name} dt={day} held nothing at version {as_of}"
            if explicit
            else f"{spec.name} dt={day} was never materialized: there is nothing to roll back"
            if never
            else f"{spec.name} dt={day} has no previous version in the table's log (the first "
            "write of the day, or history cleaned up: by a `forget`, or Delta's log retention)"
        )
    gone = _missing(lake, spec.name, day, target)
    if gone:
        raise NoPreviousVersionError(
            f"{spec.name} dt={day} as of version {as_of} was vacuumed ({len(gone)} file(s) gone)"
        )
    changed = changed_since(then, dict(snapshot(lake, spec.name).types))
    if changed:
        raise NoPreviousVersionError(
            f"{spec.name} dt={day} as of version {as_of} was written with another schema "
            f"({'; '.join(changed)}): restored, its files would hold the old columns under the "
            "table's current schema, which readers refuse; materialize the day again instead"
        )
    return as_of, target


def _held(lake: Lake, name: str, day: str, version: int) -> bool:
    """The day existed at `version`, with no rows: a commit wrote it (a day without errors, say)."""
    return any(day in c.days for c in commits(lake, name, newest=version))


def sibling_version(lake: Lake, table: str, sibling: str, day: str, as_of: int) -> int:
    """The version of `sibling` (a table its operator commits with `table`) that holds `day` as
    it was when `table` was at version `as_of`: the one committed by the same run and attempt,
    or the same rollback. Versions of two tables drift apart (a vacuum commits to one alone), so
    one number is not one point in time."""
    mine = next((c for c in commits(lake, table, newest=as_of) if day in c.days), None)
    if mine is None:
        return as_of  # the day did not exist then: previous_state says so for `table`
    group = _group(mine)
    theirs = next((c for c in commits(lake, sibling) if day in c.days and _group(c) == group), None)
    if theirs is None:  # that run left it as it was (no rows before, none after): as it was then
        theirs = next(
            (c for c in commits(lake, sibling) if day in c.days and c.timestamp <= mine.timestamp),
            None,
        )
    if theirs is None:
        raise NoPreviousVersionError(
            f"{sibling} dt={day} has no commit of the state {table} held at version {as_of} "
            "(its log no longer holds it)"
        )
    return theirs.version


def _group(commit: Commit) -> tuple[str | None, ...]:
    """What the commits of one operator's tables for a day share."""
    return tuple(commit.metadata.get(k) for k in ("run_id", "attempt", ROLLBACK_ID))


@dataclass(frozen=True)
class Restored:
    table: str
    day: str
    as_of: int  # the table version whose state of the day is current again
    version: int | None  # the version the restore committed (None: nothing to change)
    rows: int


def restore_day(
    lake: Lake,
    spec: TableSpec,
    day: str,
    metadata: Mapping[str, str],
    *,
    as_of: int | None = None,
) -> Restored:
    """Make a day's files what they were at table version `as_of` (default: just before the
    last commit that changed the day), in one commit that touches no other day."""
    deltalake = load_deltalake()
    from deltalake.exceptions import CommitFailedError
    from deltalake.transaction import RemoveAction

    table = open_table(lake, spec.name)
    if table is None:
        raise NoPreviousVersionError(f"{spec.name} has never been materialized")
    as_of, target = previous_state(lake, spec, day, as_of=as_of)
    current = snapshot(lake, spec.name).day_files(day)
    keep = {f.path for f in target}
    now = int(time.time() * 1000)
    actions: list[Any] = [
        deltalake.transaction.AddAction(f.path, f.size, f.values, now, True, f.stats)
        for f in target
        if f.path not in {c.path for c in current}
    ]
    actions += [
        RemoveAction(f.path, True, now, f.size, f.values) for f in current if f.path not in keep
    ]
    rows = sum(f.rows for f in target)
    if not actions:
        return Restored(spec.name, day, as_of, None, rows)
    commit_id = uuid.uuid4().hex
    properties = _properties(table, day, {**metadata, RESTORED_AS_OF: str(as_of)}, commit_id)
    try:
        table.create_write_transaction(
            actions,
            mode="append",
            schema=table.schema(),
            partition_by=partition_columns(spec),
            commit_properties=properties,
        )
    except CommitFailedError as exc:
        raise ConcurrentWriterError(
            f"{spec.name} dt={day} changed while it was being restored ({exc}); try again"
        ) from None
    version = _version_of(lake, spec.name, table, commit_id)
    return Restored(spec.name, day, as_of, version, rows)
