"""Where each conversation's turns stand, per app, for the OTLP receiver.

Kept apart from the receiver: a conversation's earlier requests may have been written before
the receiver started, so the turn a trace begins at is read back from the lake
(`importers.otel_sessions`), once per app and batch of traces.
"""

import datetime as dt
import logging
from functools import partial

from trajectory_assets.ingest.importers.otel import conversation_of, started
from trajectory_assets.ingest.importers.otel_sessions import TraceTurns, sessions_so_far
from trajectory_assets.ingest.otlp_traces import Mapped
from trajectory_assets.ingest.times import EPOCH
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw_write import near_days

log = logging.getLogger("trajectory_assets.ingest.otlp")


class AppTurns:
    """Each app's `TraceTurns`, made when the app is first met."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake
        self._turns: dict[str, TraceTurns] = {}

    def of(self, app: str) -> TraceTurns:
        if app not in self._turns:
            self._turns[app] = TraceTurns(partial(sessions_so_far, self._lake, app))
        return self._turns[app]

    def forget(self, app: str) -> None:
        """The app's turns are read again if it returns."""
        self._turns.pop(app, None)

    def recall(self, traces: list[Mapped]) -> None:
        """The sessions of these traces not met before, read from the lake at once per app
        near the traces' days: a conversation's earlier requests, written before a restart,
        give the turn its next trace begins at."""
        by_app: dict[str, dict[str, str]] = {}
        for (app, _trace_id), snapshot, _trace in traces:
            conversation = conversation_of(snapshot.spans)
            if conversation is None:  # a session of its own trace: nothing to continue
                continue
            day = (EPOCH + dt.timedelta(microseconds=started(snapshot.spans)[0] // 1000)).date()
            by_app.setdefault(app, {})[conversation] = day.isoformat()
        for app, sessions in by_app.items():
            turns = self.of(app)
            try:  # (a day of the year 9999 has no next one)
                days = set().union(*(near_days(day) for day in sessions.values()))
                turns.recall(sessions, days)
            except Exception as exc:  # storage down: the logger retries its writes
                log.warning(
                    "OTLP receiver: app %s: cannot read the lake for %d session(s) (%s): a "
                    "conversation continued from before this receiver started numbers its "
                    "turns from 0 again",
                    app,
                    len(sessions),
                    exc,
                )
                turns.recall(sessions, read=False)
