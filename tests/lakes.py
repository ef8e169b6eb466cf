"""Small generated lakes shared by the tests."""

import datetime as dt
from pathlib import Path

from trajectory_assets.lake.fs import Lake
from trajectory_assets.synth import SynthConfig, generate_lake

DAY1 = "2026-11-18"
DAY2 = "2026-11-19"


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
