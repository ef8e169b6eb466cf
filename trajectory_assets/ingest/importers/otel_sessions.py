"""Turn numbers of a session whose requests are traces of their own.

A chat served over HTTP is one trace per request, the traces tied together by
`gen_ai.conversation.id` (OpenInference `session.id`). `turns` has one row per (session,
turn_index), so each trace counts its model calls on from where the session's traces before it
stopped, in the order the traces reach the lake (in one file: the order they started). Each
trace numbering from 0 put every request's first call in turn 0.

A trace keeps the number it began at, and says it (`first_turn` in its `session_start`
payload, when not 0): spans of it that come late, or the trace sent or imported again, number
as before, also in another process, which reads what the lake holds (`sessions_so_far`).
"""

import json
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field

from trajectory_assets.ingest.common import Row
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.raw_write import known_session_days, session_rows

MAX_SESSIONS = 200_000  # remembered by a long-running receiver; older ones are read again


@dataclass
class SessionSoFar:
    """The turn a session's next trace begins at, and where each of its traces began."""

    next_turn: int = 0
    first_turns: dict[str, int] = field(default_factory=dict)  # trace id → its first turn

    def add(self, trace_id: str, first: int, rows: Iterable[Row]) -> None:
        self.first_turns.setdefault(trace_id, first)
        turns = [int(r["turn_index"]) for r in rows if r.get("turn_index") is not None]
        self.next_turn = max(self.next_turn, max(turns, default=first - 1) + 1)


# sessions as the lake holds them, looked for on the given days (None: every day)
Stored = Callable[[list[str], set[str] | None], dict[str, SessionSoFar]]


class TraceTurns:
    """Where each trace of a session begins its turns, for one app: from the traces numbered
    here, and for a session first met, from `stored` (none: a file on its own)."""

    def __init__(self, stored: Stored | None = None) -> None:
        self.stored = stored
        self.sessions: OrderedDict[str, SessionSoFar] = OrderedDict()

    def recall(
        self, session_ids: Iterable[str], days: set[str] | None = None, *, read: bool = True
    ) -> None:
        """Read the sessions not met yet from the lake, all at once (a listing per day); with
        `read` off (the lake cannot be read), take them as new."""
        new = sorted({s for s in session_ids if s not in self.sessions})
        if not new:
            return
        found = self.stored(new, days) if self.stored is not None and read else {}
        for session_id in new:
            self._keep(session_id, found.get(session_id, SessionSoFar()))

    def first_turn(self, session_id: str, trace_id: str) -> int:
        self.recall([session_id])
        so_far = self.sessions[session_id]
        self.sessions.move_to_end(session_id)
        return so_far.first_turns.get(trace_id, so_far.next_turn)

    def numbered(self, session_id: str, trace_id: str, first: int, rows: list[Row]) -> None:
        self.sessions.setdefault(session_id, SessionSoFar()).add(trace_id, first, rows)

    def _keep(self, session_id: str, so_far: SessionSoFar) -> None:
        self.sessions[session_id] = so_far
        while len(self.sessions) > MAX_SESSIONS:
            self.sessions.popitem(last=False)


def sessions_so_far(
    lake: Lake, app_id: str, session_ids: list[str], days: Collection[str] | None = None
) -> dict[str, SessionSoFar]:
    """Where the traces of each given session that the lake holds began their turns, and the
    turn its next trace begins at (`importers.otel_sessions`): the sessions found, each
    folder's files read for their turn numbers and their traces' `session_start`."""
    found: dict[str, SessionSoFar] = {}
    for session_id, day in known_session_days(lake, app_id, session_ids, days).items():
        so_far = found[session_id] = SessionSoFar()
        columns = ["event_type", "turn_index", "payload"]
        for row in session_rows(lake, day, app_id, session_id, columns):
            if row["turn_index"] is not None:
                so_far.next_turn = max(so_far.next_turn, row["turn_index"] + 1)
            elif row["event_type"] == "session_start":
                _trace_began(so_far, row["payload"])
    return found


def _trace_began(so_far: SessionSoFar, payload: str | None) -> None:
    try:
        start = json.loads(payload or "{}")
    except ValueError:
        return
    if isinstance(start, dict) and isinstance(start.get("trace_id"), str):
        first = start.get("first_turn", 0)
        so_far.first_turns[start["trace_id"]] = first if isinstance(first, int) else 0
