"""An in-process event logger for live agents: `log()` is a list append, storage is a thread's job.

    logger = EventLogger(lake="s3://bucket/lake", app_id="support-bot")
    with logger.session(agent_id="planner") as s:
        s.user_message("hi")
        s.llm_call("gpt-4o", input_tokens=812, output_tokens=64, latency_ms=930.0)
        s.tool_call("search", latency_ms=120.0)
        s.next_turn()
    logger.close()  # also runs at process exit

Guarantees
- The caller never blocks on storage and never sees an exception from the logger: `log()` builds
  one `LoggedEvent` and appends it under a lock; everything else runs on a daemon thread.
- Every event gets its id when it is logged: `<logger id>-<counter>`, the logger id random per
  logger. A flush writes each session's events to a file named by a hash of those ids, so a
  retried flush rewrites the same name (already there: skipped) and nothing is duplicated.
- Files are flushed when the buffer reaches `flush_events` events or about `flush_bytes`, and
  every `flush_interval_s` seconds. A failed write is kept and retried with exponential backoff
  (`retry_initial_s` doubling up to `retry_max_s`); failures are counted in `stats()` and
  reported through `logging`. Nothing is lost while storage is down unless the logger holds more
  than `max_buffered_events` events (new events are then dropped, counted, and logged once a
  minute) or `close()` runs
  out of time (the unwritten events are counted as `lost` and logged as an error).
- With `drop_existing=True`, events whose ids are already in their session's folder are not
  written again (a read of that folder per write): for producers that may send the same event
  again across restarts, like the OTLP receiver, which also passes its own stable `event_id`s.
  An id the folder holds with other content keeps the stored copy and is logged as a warning.
  The session's folder is looked for from `lookback_days` (7) before its first flushed event's
  day to the day after (a listing per day, once per session), so a restart that re-sends a
  session over midnight adds nothing under the next day; a session resumed later than that
  after its first day starts a folder of its own (two `sessions` rows): raise it for agents
  whose sessions last longer. `stats()` counts `written_events` and
  `existing_events` (found in the lake already) apart.
- All events of a session go under one `dt`: that of its folder found in the lake (with
  `drop_existing`), else of the earliest event of the first flush that held it, also when a
  session spans midnight. (Without `drop_existing`, a session continued by another process or
  logger is not known to this one, which starts from its own first flush's day.)
- `capture` chooses what is written: `full`, `sampled` or `metrics_only` (see `capture`).
- Forks, multiprocessing workers and SIGTERM: see `process`.

Modules: `api` (the caller's side: `EventLogger`), `session` (its per-session helpers,
`Session`), `turns` (the turn numbers handles of one session share), `capture` (the capture
policy), `flusher` (the flush thread: batching, writing, retries), `buffer` (what the two sides
share), `process` (forks and the process's end).
"""

from trajectory_assets.ingest.logger.api import EventLogger, LoggerStats
from trajectory_assets.ingest.logger.capture import CAPTURE_LEVELS, Capture
from trajectory_assets.ingest.logger.session import Session

__all__ = ["CAPTURE_LEVELS", "Capture", "EventLogger", "LoggerStats", "Session"]
