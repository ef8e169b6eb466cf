"""Generated days into the lake: how each session is cut into files, and the Parquet writes.

Session folders come from the raw writer's `session_dir`, so generated and ingested events
share one Tier A layout, partition values escaped alike. All rows of a day are generated
serially first; only the Parquet writes go to a thread pool.
"""

import bisect
import datetime
import os
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.fs as pafs

from trajectory_assets.lake.fs import Lake, parquet_bytes, write_file_atomic
from trajectory_assets.lake.raw_write import session_dir
from trajectory_assets.schema import RAW_EVENTS
from trajectory_assets.synth.config import SynthConfig, SynthSummary
from trajectory_assets.synth.corrupt import corrupt
from trajectory_assets.synth.events import Row
from trajectory_assets.synth.profiles import AppProfile, Task, profiles_for, task_pools
from trajectory_assets.synth.sessions import SessionRows, generate_sessions


@dataclass
class _File:
    path: str
    rows: list[Row]


@dataclass
class _SessionFiles:
    """One session's files (written one after another, by one thread)."""

    files: list[_File]


@dataclass
class _Day:
    sessions: int
    files: list[_SessionFiles]
    invalid_rows: int
    duplicate_rows: int


def _layout(
    lake: Lake,
    config: SynthConfig,
    day: datetime.date,
    sessions: list[SessionRows],
    duplicates: list[Row],
) -> list[_SessionFiles]:
    """Splits each session into `files_per_session` contiguous flushes (random cut points) and
        puts each re-emitted event in `sample-retry-<n>.parquet` next to the part it came from
    (names no other writer gives: `demo --regenerate` deletes a lake of such files alone)."""
    rng = random.Random(f"trajectory-synth:{config.seed}:{day.isoformat()}:layout")
    dup_ids = {id(r) for r in duplicates}
    dt = day.isoformat()
    out: list[_SessionFiles] = []
    for session in sessions:
        rows = session.rows
        folder = session_dir(lake, dt, session.app, session.session_id)
        k = min(config.files_per_session, len(rows))
        cuts = sorted(rng.sample(range(1, len(rows)), k - 1)) if k > 1 else []
        bounds = [0, *cuts, len(rows)]
        files = [
            _File(f"{folder}/sample-{n}.parquet", rows[bounds[n] : bounds[n + 1]]) for n in range(k)
        ]
        retries: dict[int, list[Row]] = {}
        for i, row in enumerate(rows):
            if id(row) in dup_ids:
                part = bisect.bisect_right(bounds, i) - 1
                retries.setdefault(part, []).append(dict(row))
        files.extend(
            _File(f"{folder}/sample-retry-{n}.parquet", rs) for n, rs in sorted(retries.items())
        )
        out.append(_SessionFiles(files))
    return out


def _plan_day(
    lake: Lake,
    config: SynthConfig,
    day: datetime.date,
    profiles: dict[str, AppProfile],
    tasks: dict[str, tuple[Task, ...]],
) -> _Day:
    sessions = generate_sessions(config, day, profiles, tasks)
    corrupted, duplicates = corrupt(config, day, sessions)
    files = _layout(lake, config, day, sessions, duplicates)
    return _Day(len(sessions), files, len(corrupted), len(duplicates))


def _to_table(rows: list[Row]) -> pa.Table:
    columns = {name: [row.get(name) for row in rows] for name in RAW_EVENTS.names}
    return pa.Table.from_pydict(columns, schema=RAW_EVENTS)


def _write_day(lake: Lake, day: _Day) -> tuple[int, int]:
    """Writes the day's files with a thread pool; returns (files, bytes).

    One Arrow table is built for the whole day (one conversion instead of thousands) and each
    file is a zero-copy slice of it, so the threads spend their time in Parquet encoding and I/O.
    """
    ordered = [f for session in day.files for f in session.files]
    table = _to_table([row for f in ordered for row in f.rows])
    slices: dict[str, pa.Table] = {}
    offset = 0
    for f in ordered:
        slices[f.path] = table.slice(offset, len(f.rows))
        offset += len(f.rows)
    arrow_fs = lake.arrow_fs

    def write_session(session: _SessionFiles) -> None:
        for f in session.files:  # whole or not at all: a run may list the day meanwhile
            write_file_atomic(lake, f.path, parquet_bytes(slices[f.path]), durable=False)

    workers = min(32, 4 * (os.cpu_count() or 4))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(write_session, day.files):
            pass
    infos = arrow_fs.get_file_info([f.path for f in ordered])
    size = sum(i.size or 0 for i in infos if i.type == pafs.FileType.File)
    return len(ordered), size


def generate_lake(
    lake: Lake, config: SynthConfig, progress: Callable[[str], None] | None = None
) -> SynthSummary:
    """Writes `config.days` days of raw events under `<lake>/raw_events/` and says what it wrote.

    Files of the same name are overwritten and nothing else is deleted, so run it on an empty
    lake (or a fresh `start`) to get exactly the summary's contents.
    """
    profiles = profiles_for(config.apps)
    tasks = task_pools(config.seed)
    days: list[str] = []
    sessions = events = files = invalid = duplicate = size = 0
    for offset in range(config.days):
        day = config.start + datetime.timedelta(days=offset)
        plan = _plan_day(lake, config, day, profiles, tasks)
        n_files, n_bytes = _write_day(lake, plan)
        n_rows = sum(len(f.rows) for session in plan.files for f in session.files)
        days.append(day.isoformat())
        sessions += plan.sessions
        events += n_rows
        files += n_files
        invalid += plan.invalid_rows
        duplicate += plan.duplicate_rows
        size += n_bytes
        if progress is not None:
            line = f"{plan.sessions:,} sessions, {n_rows:,} events, {n_files:,} files"
            progress(f"{day.isoformat()}: {line}")
    return SynthSummary(tuple(days), sessions, events, files, invalid, duplicate, size)
