"""The purge of a `forget`: what older versions and failed runs of the forgotten days' tables
left behind goes, whatever the retention horizon (`erase` says the rest)."""

import os
import posixpath
from collections.abc import Sequence

from trajectory_assets.lake import delta, delta_history
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import RAW_TABLE, STAGING

KEEP_LOG = "interval 30 days"  # Delta's default log retention, restored after a purge
KEEP_FILES = "interval 7 days"  # and its default for removed files' tombstones


def purge_history(lake: Lake, catalog: Catalog, days: Sequence[str]) -> list[str]:
    """Remove what older versions and failed runs left behind, in every table whose log ever
    touched one of the days: files no longer current (vacuum, horizon zero, files never
    committed included), the log entries that described them, and the days' batch receipts.
    Time travel of those tables ends here; a table that never held those days keeps its history.
    """
    from deltalake.transaction import CommitProperties

    purged = []
    for name in catalog.list():
        if name == RAW_TABLE:
            continue
        table = delta.open_table(lake, name)
        if table is None or not any(set(days) & c.days for c in delta_history.commits(lake, name)):
            continue
        current = delta_history.operator_commits(lake, name, catalog.days(name))
        delta_history.vacuum(lake, name, retention_hours=0, full=True)
        # how each current day was made (explain, the checks' counts, sync and a later forget's
        # parameters read it) goes on the checkpoint's commit, before the log is cut, and the last
        record = {delta_history.KEPT: delta_history.kept_record(current)}
        kept = CommitProperties(custom_metadata=record)
        now = "interval 0 seconds"  # the checkpoint keeps no tombstone, whose partition values
        table.alter.set_table_properties(  # are the forgotten rows' (`error_type=...`)
            {"delta.logRetentionDuration": now, "delta.deletedFileRetentionDuration": now},
            commit_properties=kept,
        )
        table.create_checkpoint()
        table.cleanup_metadata()
        table.alter.set_table_properties(
            {
                "delta.logRetentionDuration": KEEP_LOG,
                "delta.deletedFileRetentionDuration": KEEP_FILES,
            },
            commit_properties=kept,
        )
        _drop_empty_folders(lake, name)
        purged.append(name)
    fs = lake.fs
    for folder in fs.glob(lake.path(STAGING, "*", "dt=*")):
        if posixpath.basename(folder)[3:] in days:
            fs.rm(folder, recursive=True)
    return purged


def _drop_empty_folders(lake: Lake, name: str) -> None:
    """Partition folders the vacuum left empty: their names are values of the rows that were in
    them (`error_type=...`, `model=...`). An object store has no folders to leave."""
    if not lake.is_local:
        return
    for folder, _, _ in os.walk(lake.path(name), topdown=False):
        if posixpath.basename(folder) != delta_history.LOG and not os.listdir(folder):
            os.rmdir(folder)
