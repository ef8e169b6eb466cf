"""What a table's Parquet files tell where the listing or the log says nothing: how much a
day's files grow once decoded (`expansion`, from a few footers), and which sessions a file
holds (`with_session_ranges`, from its key columns).

Batches are sized by bytes on disk, which the listing gives for free, but a batch's memory
follows its decoded size. Agents that log the whole conversation so far with every model call
write payloads that compress a hundred times over or more: sized by disk bytes alone, 312 KB of
such a day made one batch that peaked at 6.8 GB.
"""

import dataclasses
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from trajectory_assets.lake.delta import DataFile
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.staging import session_range

SAMPLES = 8
"""Footers read per day: a few milliseconds on local disk, one round of requests on a store."""


def expansion(lake: Lake, files: Sequence[tuple[str, int]]) -> float:
    """Decoded bytes per byte on disk of `files` ((path in the lake's filesystem, size)).

    Measured on the footers (the row groups' uncompressed sizes, within 1% of the Arrow size
    on such payloads) of up to `SAMPLES` files picked at even steps of the day's bytes, so the
    large files, which hold most of its memory, are the likeliest picked. A value repeated
    whole in many rows of a file counts once where the writer dictionary-encoded it: footers
    do not say how long a dictionary's values are once spread over the rows. The same files
    give the same figure, so a resumed run plans the same batches: a file that is no Parquet,
    or that is gone or forbidden, is left out (reading it reports it, by the bad-file rule),
    while another error (a store that stops answering) fails the planning rather than plan
    other batches than the run it resumes; 1.0 when no footer can be read."""
    picked = _by_bytes(files, SAMPLES)
    if not picked:
        return 1.0
    fs = lake.arrow_fs
    with ThreadPoolExecutor(len(picked)) as pool:
        decoded = list(pool.map(lambda f: _decoded_bytes(fs, f[0]), picked))
    read = [(d, size) for d, (_, size) in zip(decoded, picked, strict=True) if d is not None]
    on_disk = sum(size for _, size in read)
    return sum(d for d, _ in read) / on_disk if on_disk else 1.0


def _by_bytes(files: Sequence[tuple[str, int]], count: int) -> list[tuple[str, int]]:
    """Up to `count` distinct files, those holding the byte at each of `count` even steps."""
    ordered = sorted(files)
    total = sum(size for _, size in ordered)
    if not total:
        return []
    marks = [(2 * i + 1) * total // (2 * count) for i in range(count)]
    picked: list[tuple[str, int]] = []
    before = 0
    for path, size in ordered:
        if any(before <= m < before + size for m in marks):
            picked.append((path, size))
        before += size
    return picked


def _decoded_bytes(fs: pafs.FileSystem, path: str) -> int | None:
    try:
        meta = pq.read_metadata(path, filesystem=fs)
    except (FileNotFoundError, PermissionError, ValueError):  # ArrowInvalid is a ValueError
        return None
    return sum(int(meta.row_group(i).total_byte_size) for i in range(meta.num_row_groups))


NO_SESSION = ("", "", "")
"""The range of a file whose every row lacks an app or a session id: rows validation rejects,
which hold no session any other table has a row of (no valid row has an empty key)."""


def with_session_ranges(lake: Lake, table: str, files: Sequence[DataFile]) -> tuple[DataFile, ...]:
    """`files`, those whose log entry states no session range given the range their rows hold.

    A file's log statistics may bound no column (one holding a NaN carries its row count
    alone, and a file of rows without an app id bounds none; a long app id's bounds, cut at 64
    characters, differ), and a batch holding a file of unknown range read the other inputs of
    every session of the day: `turn_features` run on its own committed each turn of the day's
    other batches twice. Such files are rare, and their two key columns small to read."""
    unknown = [f for f in files if f.sessions is None and not f.known_empty]
    if not unknown:
        return tuple(files)
    fs = lake.arrow_fs
    with ThreadPoolExecutor(min(8, len(unknown))) as pool:
        found = dict(
            zip(
                (f.path for f in unknown),
                pool.map(lambda f: _session_range(fs, lake.path(table, f.path)), unknown),
                strict=True,
            )
        )
    return tuple(
        dataclasses.replace(f, sessions=found[f.path]) if found.get(f.path) else f for f in files
    )


def _session_range(fs: pafs.FileSystem, path: str) -> tuple[str, str, str] | None:
    """(app_id, first, last session_id) of a file of one app, from its key columns (footers
    bound no text over 4 KB, and a 5,000-character app id is a producer's to send): NO_SESSION
    when no row has both keys, None when the file holds several apps or cannot be read."""
    try:
        keys = pq.read_table(path, columns=["app_id", "session_id"], filesystem=fs)
    except (FileNotFoundError, PermissionError, KeyError, ValueError):  # reading it reports it
        return None
    keys = keys.filter(pc.and_(pc.is_valid(keys["app_id"]), pc.is_valid(keys["session_id"])))
    return session_range(keys) if keys.num_rows else NO_SESSION  # None: several apps
