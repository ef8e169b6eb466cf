"""The dirt real producers leave, put into a generated day: invalid rows and producer retries.

Drawn from the day's own `corrupt` stream after all its sessions are built, so changing a
rate changes which rows are dirty but not the clean events around them.
"""

import datetime
import random

from trajectory_assets.synth.config import SynthConfig
from trajectory_assets.synth.events import Row
from trajectory_assets.synth.sessions import SessionRows

INVALID_KINDS = ("empty_event_id", "negative_latency", "negative_output_tokens", "bad_json")


def corrupt(
    config: SynthConfig, day: datetime.date, sessions: list[SessionRows]
) -> tuple[set[int], list[Row]]:
    """Turns a share of events into invalid rows in place, and picks valid events to re-emit.

    Returns the ids (`id(row)`) of the corrupted rows and the rows to duplicate. At least one of
    each when its rate is > 0, so a small lake still exercises both paths.
    """
    rng = random.Random(f"trajectory-synth:{config.seed}:{day.isoformat()}:corrupt")
    all_rows = [row for session in sessions for row in session.rows]
    if not all_rows:
        return set(), []
    llm = [r for r in all_rows if r["event_type"] == "llm_call" and "latency_ms" in r]
    llm_out = [r for r in llm if "output_tokens" in r]
    json_rows = [
        r for r in all_rows if r["event_type"] in ("decision", "eval_result") and "payload" in r
    ]
    eligible = {
        "empty_event_id": all_rows,
        "negative_latency": llm,
        "negative_output_tokens": llm_out,
        "bad_json": json_rows,
    }
    n_invalid = 0
    if config.invalid_rate > 0:
        n_invalid = min(len(all_rows), max(1, round(config.invalid_rate * len(all_rows))))
    kinds = list(INVALID_KINDS)
    rng.shuffle(kinds)
    corrupted: set[int] = set()
    for j in range(n_invalid):
        kind = kinds[j % len(kinds)]
        pool = eligible[kind]
        row = None
        for _ in range(20 if pool else 0):
            candidate = rng.choice(pool)
            if id(candidate) not in corrupted:
                row = candidate
                break
        if row is None:  # nothing (left) of that kind: fall back to an empty event_id
            kind = "empty_event_id"
            free = [r for r in all_rows if id(r) not in corrupted]
            if not free:
                break
            row = rng.choice(free)
        if kind == "empty_event_id":
            row["event_id"] = ""
        elif kind == "negative_latency":
            row["latency_ms"] = -row["latency_ms"] if rng.random() < 0.7 else -1.0
        elif kind == "negative_output_tokens":
            row["output_tokens"] = -max(1, row["output_tokens"]) if rng.random() < 0.5 else -1
        else:  # bad_json: cut before the closing brace, like a truncated write
            payload = row["payload"]
            row["payload"] = payload[: rng.randint(1, len(payload) - 1)]
        corrupted.add(id(row))

    duplicates: list[Row] = []
    if config.duplicate_rate > 0:
        valid = [r for r in all_rows if id(r) not in corrupted]
        n_dup = min(len(valid), max(1, round(config.duplicate_rate * len(valid))))
        duplicates = rng.sample(valid, n_dup)
    return corrupted, duplicates
