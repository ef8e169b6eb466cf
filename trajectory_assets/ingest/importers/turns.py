"""Turn numbers of one session whose agents interleave: an orchestrator and the sub-agents it
runs at the same time, each making its own calls.

`turns` has one row per (session, turn_index), so a session has one counter; but each event
goes to its own agent's turn, never to the turn another agent opened meanwhile (a sub-agent's
tool call was counted in its sibling's turn):

- an llm_call opens the session's next turn, its agent's turn from then on;
- a tool call, message or error belongs to its agent's latest turn (the session's latest while
  the agent has made no call);
- a user message, or the error of a request that is retried, belongs to the turn that the
  agent's next call opens: the row waits for that call, and rows no call follows (the last
  prompt of a session) get a turn of their own.

A session of one agent numbers as "each llm_call opens the next turn" always did. Turns of
agents running at once overlap in time, so `think_time_ms` (SPEC: from the end of the turn
before by turn_index) is negative between them.
"""

from collections.abc import Hashable

from trajectory_assets.ingest.common import Row


class Turns:
    def __init__(self, first: int = 0) -> None:
        self.first = first  # a trace continuing its session's turns (`otel_sessions`)
        self.last = first - 1
        self.latest: dict[Hashable, int] = {}
        self.waiting: dict[Hashable, list[Row]] = {}

    def open(self, agent: Hashable) -> int:
        """The turn of the agent's new llm_call; rows waiting for it join it."""
        self.last += 1
        self.latest[agent] = self.last
        for row in self.waiting.pop(agent, []):
            row["turn_index"] = self.last
        return self.last

    @property
    def opened(self) -> bool:
        return self.last >= self.first

    def current(self, agent: Hashable) -> int:
        return self.latest.get(agent, max(self.last, self.first))

    def next_of(self, agent: Hashable, row: Row) -> Row:
        """`row` joins the turn of the agent's next llm_call."""
        row["turn_index"] = self.last + 1  # until that call comes
        self.waiting.setdefault(agent, []).append(row)
        return row

    def close(self) -> None:
        """Rows that no call followed: a turn of their own for each agent's."""
        for agent in list(self.waiting):
            self.open(agent)
