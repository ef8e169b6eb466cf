"""Small generated lakes shared by the tests."""

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from trajectory_assets.lake.fs import Lake
from trajectory_assets.schema import RAW_EVENTS
from trajectory_assets.synth import SynthConfig, generate_lake

DAY1 = "2026-11-18"
DAY2 = "2026-11-19"
SMALL_BATCHES = 256 * 1024
"""About 11 batches for a day of `make_lake`: merges, ordering and resumes cross batch edges.
Smaller batches test nothing more and cost more: each pays every operator's DuckDB planning."""


def make_lake(root: Path, days: int = 2, sessions_per_day: int = 120, seed: int = 11) -> Lake:
    lake = Lake(str(root))
    generate_lake(
        lake,
        SynthConfig(
            start=dt.date.fromisoformat(DAY1),
            days=days,
            sessions_per_day=sessions_per_day,
            seed=seed,
            invalid_rate=0.01,
            duplicate_rate=0.01,
            files_per_session=2,
        ),
    )
    return lake


def write_lake(root: Path, sessions: list[list[dict[str, object]]]) -> Lake:
    """Hand-given sessions of app `app` on DAY1, each written in two raw files."""
    lake = Lake(str(root))
    for i, events in enumerate(sessions):
        folder = root / "raw_events" / f"dt={DAY1}" / "app_id=app" / f"session_id=s{i}"
        folder.mkdir(parents=True)
        rows = [
            {**dict.fromkeys(RAW_EVENTS.names), **e, "app_id": "app", "session_id": f"s{i}"}
            for e in events
        ]
        half = len(rows) // 2
        for n, part in enumerate((rows[:half], rows[half:])):
            if part:
                pq.write_table(
                    pa.Table.from_pylist(part, schema=RAW_EVENTS), folder / f"{n}.parquet"
                )
    return lake


def write_session_file(
    root: Path,
    day: str,
    session: str,
    events: list[dict[str, object]],
    name: str = "part-0.parquet",
    app: str = "app",
) -> None:
    """One raw file of session `session` of app `app` under `day`: each event's given columns
    (`event_id` and `ts` at least), `user_message` events unless they say otherwise."""
    folder = root / "raw_events" / f"dt={day}" / f"app_id={app}" / f"session_id={session}"
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        {
            **dict.fromkeys(RAW_EVENTS.names),
            "app_id": app,
            "session_id": session,
            "event_type": "user_message",
            **e,
        }
        for e in events
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=RAW_EVENTS), folder / name)


def break_day(lake: Lake, day: str, tmp_path: Path) -> Path:
    """A session folder of the day that links to a disk no longer there."""
    app = next(Path(lake.root, "raw_events", f"dt={day}").glob("app_id=*"))
    link = app / "session_id=on-a-gone-disk"
    link.symlink_to(tmp_path / "gone")
    return link
