"""Ways into the raw lake: a live event logger and importers for existing trajectory formats.

Both write the Tier A layout of Tier A, append-only and idempotent (see `writer`).
"""

from trajectory_assets.ingest.logger import CAPTURE_LEVELS, EventLogger, Session

__all__ = ["CAPTURE_LEVELS", "EventLogger", "Session"]
