"""The settings of one materialization, in one frozen object instead of arguments passed along."""

from dataclasses import dataclass

from trajectory_assets.lake.raw import OnBadFile

DEFAULT_BATCH_BYTES = 8 * 1024 * 1024
"""Raw bytes per batch of whole sessions: large enough that a task's fixed costs do not matter,
small enough that a day of ~100k events still makes a few batches for every core."""

WINDOW_RAW_FILES = 50_000
"""Days are planned and run in windows holding about this many raw files, so the driver holds a
window's file list at a time, however long the range."""


@dataclass(frozen=True)
class RunSettings:
    batch_bytes: int = DEFAULT_BATCH_BYTES
    on_bad_file: OnBadFile = "fail"
    run_id: str = ""
    window_raw_files: int = WINDOW_RAW_FILES
