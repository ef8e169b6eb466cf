"""A day's decoded size, sampled from its files' footers, which sizes its batches."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trajectory_assets.lake.footers import _by_bytes, expansion
from trajectory_assets.lake.fs import Lake


def _write(path: Path, message: str, calls: int = 4) -> tuple[str, int]:
    """Model calls that each log the conversation so far: the messages of every earlier call."""
    payloads = [message * (i + 1) for i in range(calls)]
    pq.write_table(pa.table({"payload": payloads}), path, compression="zstd")
    return str(path), path.stat().st_size


def test_payloads_that_repeat_decode_to_many_times_their_size(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    files = [_write(tmp_path / f"{i}.parquet", f"message {i}: " * 20_000) for i in range(3)]
    decoded = sum(pq.read_table(p).nbytes for p, _ in files)
    ratio = expansion(lake, files)
    assert ratio > 100
    assert abs(ratio * sum(s for _, s in files) - decoded) < 0.05 * decoded


def test_a_footer_that_cannot_be_read_is_left_out(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    small = _write(tmp_path / "small.parquet", "x", calls=1)
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"not parquet at all")
    alone = expansion(lake, [small])
    assert expansion(lake, [small, (str(broken), broken.stat().st_size)]) == alone
    assert expansion(lake, [(str(broken), broken.stat().st_size)]) == 1.0
    assert expansion(lake, []) == 1.0


def test_the_files_sampled_are_picked_by_bytes() -> None:
    """Large files hold most of a day's memory: a step of the day's bytes falls in each."""
    files = [(f"small-{i:03d}", 10) for i in range(100)] + [("large", 10_000)]
    picked = _by_bytes(files, 8)
    assert ("large", 10_000) in picked and len(picked) <= 8
    assert _by_bytes(files[:3], 8) == files[:3]  # fewer files than samples: each once
