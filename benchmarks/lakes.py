"""Raw lakes to measure: generated once by `trajectory_assets.synth`, cached under `.lakes/`.

Two layouts of the same sessions, since the number of files is what reading raw data costs most:

- `single`: one Parquet file per session, nothing re-sent (an importer, or a logger that flushes
  once per session);
- `split`: each session cut into two append-only flushes, plus an extra file with the events a
  producer re-sent (1% of events, duplicates of ones already written) for about a fifth of the
  sessions, so 2-3 files per session: what a buffered logger with retries leaves.

Below 1M events a lake is a single day (the daily schedule's run); from 1M on it spans
BENCH_DAYS days (a backfill). Every repetition gets a fresh work lake whose `raw_events` is a
symbolic link to the cached one and which holds nothing else, so no run ever finds an earlier
run's tables, compaction or checkpoints.
"""

import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypedDict

from benchmarks.settings import LAKES, ROOT, WORK, log, parse_size

EVENTS_PER_SESSION = 21.07
"""Measured average of the generator (seed 7, default apps), to size lakes by events."""
LAKE_START = dt.date(2026, 1, 1)
SEED = 7
SINGLE_DAY_BELOW = 1_000_000
"""Lakes smaller than this are one day: the targets' "single day of about 100k events"."""


@dataclass(frozen=True)
class Layout:
    """How the generator spreads a session over files (trajectory_assets.synth.SynthConfig)."""

    files_per_session: int
    duplicate_rate: float
    invalid_rate: float = 0.002


LAYOUTS = {
    "single": Layout(files_per_session=1, duplicate_rate=0.0),
    "split": Layout(files_per_session=2, duplicate_rate=0.01),
}


class LakeInfo(TypedDict):
    """A cached lake, as `lake.json` records it and the results repeat it."""

    name: str
    size: str
    layout: str
    path: str
    config: dict[str, object]
    days: list[str]
    sessions: int
    events: int
    files: int
    invalid_rows: int
    duplicate_rows: int
    bytes: int
    generate_s: float


def lake_config(size: str, layout: str, days: int) -> dict[str, object]:
    """The generator's settings for a size and layout (JSON, compared with the cached lake's)."""
    events = parse_size(size)
    n_days = 1 if events < SINGLE_DAY_BELOW else days
    spec = LAYOUTS[layout]
    return {
        "start": LAKE_START.isoformat(),
        "days": n_days,
        "sessions_per_day": max(1, round(events / EVENTS_PER_SESSION / n_days)),
        "seed": SEED,
        **asdict(spec),
    }


def ensure_lake(size: str, layout: str, days: int) -> LakeInfo:
    """The cached raw lake `.lakes/<layout>-<size>`, generated first if missing or different.

    Generated in a child process (`python -m benchmarks.lakes SIZE LAYOUT DAYS`): the generator
    holds a day's rows in Python objects, gigabytes for a day of the 10M lake, which the
    harness would otherwise keep while it measures."""
    cached = cached_lake(size, layout, days)
    if cached is not None:
        return cached
    command = [sys.executable, "-m", "benchmarks.lakes", size, layout, str(days)]
    subprocess.run(command, cwd=ROOT, check=True)
    generated = cached_lake(size, layout, days)
    if generated is None:
        raise SystemExit(f"generating lake {layout}-{size} left no lake.json")
    return generated


def cached_lake(size: str, layout: str, days: int) -> LakeInfo | None:
    marker = LAKES / f"{layout}-{size}" / "lake.json"
    if not marker.exists():
        return None
    info: LakeInfo = json.loads(marker.read_text())
    return info if info["config"] == lake_config(size, layout, days) else None


def generate(size: str, layout: str, days: int) -> LakeInfo:
    """Writes `.lakes/<layout>-<size>` (into a `.partial` folder renamed when complete)."""
    from trajectory_assets.lake.fs import Lake
    from trajectory_assets.synth import SynthConfig, generate_lake

    name = f"{layout}-{size}"
    config = lake_config(size, layout, days)
    folder = LAKES / name
    partial = LAKES / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    shutil.rmtree(folder, ignore_errors=True)
    partial.mkdir(parents=True)
    synth = SynthConfig(
        start=dt.date.fromisoformat(str(config["start"])),
        days=int(str(config["days"])),
        sessions_per_day=int(str(config["sessions_per_day"])),
        seed=SEED,
        files_per_session=LAYOUTS[layout].files_per_session,
        invalid_rate=LAYOUTS[layout].invalid_rate,
        duplicate_rate=LAYOUTS[layout].duplicate_rate,
    )
    log(f"lake {name}: generating {synth.days} day(s) x {synth.sessions_per_day:,} sessions")
    started = time.perf_counter()
    summary = generate_lake(Lake(str(partial)), synth, progress=lambda line: log(f"  {line}"))
    info = LakeInfo(
        name=name,
        size=size,
        layout=layout,
        path=str(folder),
        config=config,
        days=list(summary.days),
        sessions=summary.sessions,
        events=summary.events,
        files=summary.files,
        invalid_rows=summary.invalid_rows,
        duplicate_rows=summary.duplicate_rows,
        bytes=summary.bytes,
        generate_s=round(time.perf_counter() - started, 1),
    )
    (partial / "lake.json").write_text(json.dumps(info, indent=2))
    partial.rename(folder)
    log(f"lake {name}: {info['events']:,} events in {info['files']:,} files")
    return info


def fresh_work(name: str, lake: LakeInfo) -> Path:
    """`.lakes/_work/<name>`, emptied, with `raw_events` linked to the cached lake's."""
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "raw_events").symlink_to(Path(lake["path"]) / "raw_events", target_is_directory=True)
    return work


def raw_globs(root: Path) -> list[str]:
    """One glob per day and app of a lake's raw files, relative to `root`, for DuckDB.

    The peer and the floor read a lake one glob at a time: DuckDB keeps some reader state per
    file until a statement ends (~70 KB), which for the ~110k files of one day of the split
    10M-event lake would be ~8 GB at once."""
    raw = root / "raw_events"
    return [
        f"raw_events/{day.name}/{app.name}/*/*.parquet"
        for day in sorted(raw.iterdir())
        if day.name.startswith("dt=")
        for app in sorted(day.iterdir())
        if app.name.startswith("app_id=")
    ]


def fresh_folder(name: str) -> Path:
    """`.lakes/_work/<name>`, empty (a Dagster home, a trace)."""
    folder = WORK / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


if __name__ == "__main__":
    generate(sys.argv[1], sys.argv[2], int(sys.argv[3]))
