"""The turn numbers one logger hands out, per session.

Handles of one session (an orchestrator's and those of the sub-agents it runs, each with its own
`agent_id`) share the session's numbers: each handle's `next_turn()` takes the session's next
one, so a sub-agent's calls never land in the orchestrator's turn (`turns` has one row per
session and turn_index). A process that resumes a session begins where the last one stopped by
naming its first turn.
"""

import threading


class SessionTurns:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: dict[str, int] = {}

    def take(self, session_id: str, first: int | None = None) -> int:
        """The session's next turn (0 for a session new to this logger), or `first`."""
        with self._lock:
            last = self._last.get(session_id)
            turn = first if first is not None else 0 if last is None else last + 1
            self._last[session_id] = turn if last is None else max(turn, last)
            return turn

    def copy(self) -> "SessionTurns":
        """The numbers so far under a new lock (a forked child's: a lock held at the fork by
        another thread stays held there)."""
        copied = SessionTurns()
        copied._last = dict(self._last)
        return copied

    def forget(self, session_id: str) -> None:
        """The session ended: its numbers are no longer kept."""
        with self._lock:
            self._last.pop(session_id, None)
