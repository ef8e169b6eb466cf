"""A deterministic generator of realistic Tier A raw lakes, for tests, demos and benchmarks.

    generate_lake(Lake("demo/lake"), SynthConfig(start=datetime.date(2026, 11, 19)))

Everything comes from seeded `random.Random` streams, one per (day, purpose), so identical
arguments give byte-identical event content and identical file names, and adding a day or
changing a rate does not reshuffle the other days or the clean events:

- `events`  : the sessions themselves (turns, llm and tool calls, errors, decisions, evals);
- `corrupt` : which events are turned into invalid rows or re-emitted as producer retries;
- `layout`  : where a session's events are split into several append-only files.

The data is shaped to exercise every table of docs/tables.md with plausible numbers: heavy-tailed
latencies, context that grows over turns with prompt caching, tool loops with repeated tools,
errors (tool, llm, agent-level, terminal or not), a decision funnel, eval attempts with repeated
tasks, and the dirt real producers leave: invalid rows, duplicate event ids, unknown event
types, ts ties, missing `session_end`s and payloads without the expected keys.

Modules, in the order a day is made: `profiles` (the catalogues: models, tools, apps, tasks),
`sessions` (which events a session has, turn by turn) and `events` (how each event is drawn),
`corrupt` (the dirt), `write` (files and Parquet); `config` holds the settings and summary.
"""

from trajectory_assets.synth.config import SynthConfig, SynthSummary
from trajectory_assets.synth.write import generate_lake

__all__ = ["SynthConfig", "SynthSummary", "generate_lake"]
