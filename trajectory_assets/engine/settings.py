"""The settings of one materialization, in one frozen object instead of arguments passed along."""

import os
from dataclasses import dataclass, field

from trajectory_assets.lake.bad_file_rules import OnBadFile

AUTO_BATCH_BYTES = 0
"""`batch_bytes` when the run sizes each day's batches itself (the default)."""
MIN_BATCH_BYTES = 8 * 1024 * 1024
MAX_BATCH_BYTES = 16 * 1024 * 1024
BATCHES_PER_CORE = 1
"""Automatic batches: about one per core for the day, between 8 and 16 MiB of raw input each.
Every batch pays a fixed cost (opening its files, planning each operator's SQL: ~0.15 s on
2 cores), so fewer, larger batches are faster, down to the point where a core would sit idle
while another finishes the last one; a range keeps every core busy with its other days.
Measured on 2 cores: three days of 100k events each in 9 batches take 7.4 s, in 12 batches
8.3 s, in 24 (fixed 8 MiB) 10.8 s; one such day alone takes the same in 3, 4 or 5 batches.
The ceiling bounds the driver's memory, which follows the size of the batches in flight (one
per core): two days of a million events each in-process, four runs of each, peaked at 792-892
MB (median 835) with 32 MiB batches, 727-779 (744) with 24 MiB, 656-724 (681) with 16 MiB,
in the same time within the machine's noise (62-90 s, 60-82 s, 67-84 s)."""

MAX_EXPANSION = 4.0
"""Automatic batches are sized by bytes on disk while a day decodes to at most this many times
its size (the generated lakes: 0.4; the real logs of seven public projects, ingested: 0.2 to
0.6, as small files are mostly footer and their JSON compresses 2 to 4 times). A day that
decodes to more counts as that much larger, so an automatic batch holds about MAX_BATCH_BYTES x
MAX_EXPANSION (64 MiB) decoded at most, but for one large session. A batch's peak memory is
about six times its decoded bytes (measured: a day of 6.5 MB on disk, 46 MB decoded, peaked
270 MB above the same day with small payloads)."""

WINDOW_RAW_FILES = 50_000
"""Days are planned and run in windows holding about this many raw files, so the driver holds a
window's file list at a time, however long the range."""


@dataclass(frozen=True)
class RunSettings:
    batch_bytes: int = AUTO_BATCH_BYTES  # `batch_bytes_for` decides
    on_bad_file: OnBadFile = "fail"
    run_id: str = ""
    window_raw_files: int = WINDOW_RAW_FILES
    cores: int = field(default_factory=lambda: os.cpu_count() or 1)
    force: bool = False
    """Compute every day, even one up to date, from scratch (no batch of an earlier run reused)
    into new files: repairs a day whose files were lost outside the lake's own commands."""
    first_day: str = ""
    """The lake's first partition. A rolling window's earlier days before it are none (the
    lake's first windows are shorter); from it on, an earlier day with raw data that the
    window's input has not materialized fails the run, which would compute part of the window
    as if it were whole. Empty: no earlier day is checked."""
    also_written: tuple[str, ...] = ()
    """Days other runs of the same command write (the command line runs each stretch of
    consecutive days as a run of its own): the schema guard counts them as written by this one,
    so a new schema may be written across days without raw data."""

    @property
    def automatic_batches(self) -> bool:
        """The run sizes each day's batches itself; a configured size is taken as given."""
        return self.batch_bytes == AUTO_BATCH_BYTES

    def batch_bytes_for(self, day_bytes: int, expansion: float = 1.0) -> int:
        """The bytes on disk per batch of a day whose input is `day_bytes` on disk and decodes
        to `expansion` times that: the configured size, or the automatic one. It depends on the
        day alone (never on the rest of the range), so a rerun of any range plans the same
        batches and reuses those an earlier run finished."""
        if not self.automatic_batches:
            return self.batch_bytes
        scale = max(1.0, expansion / MAX_EXPANSION)
        weighted = int(day_bytes * scale)
        cores = BATCHES_PER_CORE * max(1, self.cores)
        per_core = weighted // cores
        if per_core <= MAX_BATCH_BYTES:
            return max(1, int(max(MIN_BATCH_BYTES, per_core) / scale))
        # whole rounds of a batch per core under the ceiling: 3 batches on 2 cores leave one
        # core idle while the other computes the third (52 MB a day: 4.4 s of batches, 4.0 in 4)
        rounds = -(-weighted // (MAX_BATCH_BYTES * cores))
        return max(1, int(weighted // (rounds * cores) / scale))
