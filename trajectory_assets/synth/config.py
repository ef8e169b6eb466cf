"""What the generator is asked for (`SynthConfig`) and what it reports back (`SynthSummary`).

Kept apart from the generator itself so every stage (sessions, corruption, writing) reads the
same frozen settings without importing one another.
"""

import datetime
from dataclasses import dataclass


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Every field takes part in the output; `seed` makes it reproducible."""

    start: datetime.date
    days: int = 3
    apps: tuple[str, ...] = ("support-bot", "code-agent", "research-agent")
    sessions_per_day: int = 300
    seed: int = 7
    invalid_rate: float = 0.002
    duplicate_rate: float = 0.003
    files_per_session: int = 1

    def __post_init__(self) -> None:
        if self.days < 0 or self.sessions_per_day < 0:
            raise ValueError("days and sessions_per_day must be >= 0")
        if not self.apps or len(set(self.apps)) != len(self.apps):
            raise ValueError("apps must be a non-empty tuple of distinct names")
        for name in ("invalid_rate", "duplicate_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.files_per_session < 1:
            raise ValueError("files_per_session must be >= 1")


@dataclass(frozen=True)
class SynthSummary:
    """What was written. `events` counts every row written, invalid and duplicate rows included,
    so `events - invalid_rows - duplicate_rows` is the number of distinct valid events."""

    days: tuple[str, ...]
    sessions: int
    events: int
    files: int
    invalid_rows: int
    duplicate_rows: int
    bytes: int
