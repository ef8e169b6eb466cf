"""Who is below whom in one trace of OTel spans: the kinds, the wrappers of each call (spans
of a call's kind stacked around it by instrumentations), and the agent run each span is in."""

from collections.abc import Callable

from trajectory_assets.ingest.importers.otel_spans import Kind, Span, kind

CALLS: tuple[Kind, ...] = ("llm_call", "tool_call")


def _openinference_agent(span: Span) -> bool:
    own = str(span.attrs.get("openinference.span.kind") or "").upper() == "AGENT"
    return bool(span.attrs.get("agent.name") or (own and span.name))


class Tree:
    """Who is below whom in one trace: the kinds, and the innermost calls under each span."""

    def __init__(self, spans: list[Span]) -> None:
        self.by_id = {s.span_id: s for s in spans}
        self.named_agents = any(s.attrs.get("gen_ai.agent.name") for s in spans)
        self.kinds: dict[str, Kind] = {s.span_id: kind(s) for s in spans}
        self.parent: dict[str, str] = {
            s.span_id: s.parent_id
            for s in spans
            if s.parent_id in self.by_id and s.parent_id != s.span_id
        }
        # the innermost calls of each kind below each span, not looking into agent spans
        self.leaves: dict[str, dict[Kind, list[str]]] = {
            s.span_id: {k: [] for k in CALLS} for s in spans
        }
        for span_id in self._children_first():
            own = self.kinds[span_id]
            parent = self.parent.get(span_id)
            if parent is None or own == "agent":
                continue
            for k in CALLS:
                below = self.leaves[span_id][k]
                if own == k and not below:
                    self.leaves[parent][k].append(span_id)
                else:
                    self.leaves[parent][k].extend(below)

    def _children_first(self) -> list[str]:
        depth: dict[str, int] = {}
        for start in self.by_id:
            path: list[str] = []
            current: str | None = start
            while current is not None and current not in depth and current not in path:
                path.append(current)
                current = self.parent.get(current)
            base = depth.get(current, -1) if current is not None else -1
            if current is not None and current in path:  # a cycle: cut it here
                base = -1
            for offset, span_id in enumerate(reversed(path)):
                depth[span_id] = base + 1 + offset
        return sorted(depth, key=lambda s: -depth[s])

    def is_wrapper(self, span: Span) -> bool:
        own = self.kinds[span.span_id]
        return own in CALLS and bool(self.leaves[span.span_id][own])

    def wrappers_of(self, span: Span) -> list[Span]:
        """The wrapper spans directly above a call that wrap nothing else, nearest first."""
        own = self.kinds[span.span_id]
        out: list[Span] = []
        current = self.parent.get(span.span_id)
        seen = {span.span_id}
        while current is not None and current not in seen and self.kinds[current] != "agent":
            seen.add(current)
            if self.kinds[current] == own:
                if len(self.leaves[current][own]) != 1:
                    break
                out.append(self.by_id[current])
            current = self.parent.get(current)
        return out

    def agent_of(self, span: Span) -> str | None:
        """The agent's name of the nearest span naming one: `gen_ai.agent.name`; in a trace
        naming none so, OpenInference's `agent.name` or its AGENT span's own name (OpenAI Agents
        SDK traces through OpenInference name an agent so alone; a LangGraph node marked AGENT
        beside the conventions' names would split one agent in two)."""
        named = self._nearest(span, lambda s: bool(s.attrs.get("gen_ai.agent.name")))
        if named is not None:
            return str(self.by_id[named].attrs["gen_ai.agent.name"])
        if self.named_agents:
            return None
        named = self._nearest(span, _openinference_agent)
        if named is None:
            return None
        agent = self.by_id[named]
        return str(agent.attrs.get("agent.name") or agent.name)

    def agent_run(self, span: Span) -> str | None:
        """Whose turns the span's event counts in: the agent span (itself or its nearest
        ancestor, `invoke_agent` or kind AGENT) it runs in, told apart from another run of the
        same agent beside it; else the agent's name (call spans may carry it themselves)."""
        run = self._nearest(span, lambda s: self.kinds[s.span_id] == "agent")
        return run if run is not None else self.agent_of(span)

    def _nearest(self, span: Span, wanted: Callable[[Span], bool]) -> str | None:
        seen: set[str] = set()
        current: str | None = span.span_id
        while current is not None and current not in seen:
            if wanted(self.by_id[current]):
                return current
            seen.add(current)
            current = self.parent.get(current)
        return None

    def event_order(self) -> list[Span]:
        """The spans in the order their events are numbered: by start, then end (a wrapper's
        error after the call it wraps), except that a span starting with the call it is in
        comes right after that call (at a clock's millisecond a retry's failed HTTP span
        started with its call, and its error went to the turn before)."""

        def key(span: Span) -> tuple[int, int, str, int, int, str]:
            own = (span.end_ns or 0, span.span_id)
            call = self._call_starting_with(span)
            if call is None:
                return (span.start_ns, *own, 0, *own)
            return (span.start_ns, call.end_ns or 0, call.span_id, 1, *own)

        return sorted(self.by_id.values(), key=key)

    def _call_starting_with(self, span: Span) -> Span | None:
        """The nearest call event above the span (a call span wrapping none) that starts when
        it does, if any."""
        seen = {span.span_id}
        current = self.parent.get(span.span_id)
        while current is not None and current not in seen:
            above = self.by_id[current]
            if above.start_ns != span.start_ns:
                return None
            if self.kinds[current] in CALLS and not self.is_wrapper(above):
                return above
            seen.add(current)
            current = self.parent.get(current)
        return None
