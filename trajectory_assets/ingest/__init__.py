"""Ways into the raw lake: a live event logger and importers for existing trajectory formats.

Both write the Tier A layout, append-only and idempotent (see `lake/raw_write`).
"""

from trajectory_assets.ingest.logger import CAPTURE_LEVELS, EventLogger, Session

__all__ = ["CAPTURE_LEVELS", "EventLogger", "Session"]
