"""The session model: which events one session has, turn by turn, and a day's sessions.

A session opens with `session_start`, then has 1-12 turns (evals mostly one): a user message,
one to four llm calls with tool calls between them, sometimes a decision funnel, an error
(terminal or not) or a heartbeat, and an agent message. Eval sessions end with an
`eval_result`; most sessions end with a `session_end`, some without a status or none at all.
The events themselves are drawn by `events.Session`.
"""

import datetime
import math
import random
from dataclasses import dataclass

from trajectory_assets.synth.config import SynthConfig
from trajectory_assets.synth.events import Row, Session, dumps, lognormal, weighted
from trajectory_assets.synth.profiles import AppProfile, EvalRuns, Task, short_name

EPOCH = datetime.date(1970, 1, 1)
US_PER_DAY = 86_400_000_000


@dataclass
class SessionRows:
    """One generated session: its app, its id and its events in emission order."""

    app: str
    session_id: str
    rows: list[Row]


def build_session(session: Session) -> list[Row]:
    """Draws the whole session into `session.rows` and returns them."""
    rng, p = session.rng, session.p
    is_eval = bool(p.benchmarks) and rng.random() < p.eval_rate
    mean_turns = 1.4 if is_eval else p.mean_turns
    n_turns = 1
    while n_turns < 12 and rng.random() > 1.0 / mean_turns:
        n_turns += 1
    err_turn = rng.randrange(n_turns) if rng.random() < 0.04 else None
    terminal = err_turn is not None and rng.random() < 0.5
    decision_turns = set()
    if rng.random() < p.decision_rate:
        decision_turns = set(rng.sample(range(n_turns), min(n_turns, rng.choice((1, 1, 2)))))
    heartbeat_turn = rng.randrange(n_turns) if rng.random() < 0.015 else None
    r = rng.random()
    end_mode = "none" if r < 0.05 else "no_status" if r < 0.06 else "status"

    start_payload = None
    if rng.random() < 0.8:
        start_payload = dumps(
            {
                "user": f"u-{rng.getrandbits(32):08x}",
                "client": rng.choice(("web", "api", "cli")),
            }
        )
    session.emit("session_start", payload=start_payload)
    session.advance_ms(lognormal(rng, 150, 0.8))

    failed = False
    for turn in range(n_turns):
        if turn > 0:
            think = lognormal(rng, 600 if is_eval else p.think_ms, 1.0)
            session.advance_ms(think)
        user_tokens = int(lognormal(rng, p.user_tokens * (3 if is_eval else 1), 0.8))
        session.emit("user_message", turn_index=turn, payload=dumps({"tokens": user_tokens}))
        session.ctx += user_tokens
        session.advance_ms(lognormal(rng, 40, 0.7))

        n_llm = rng.choices((1, 2, 3, 4), weights=p.llm_weights)[0]
        n_tools = rng.choices(range(len(p.tool_weights)), weights=p.tool_weights)[0]
        gaps = max(1, n_llm - 1)  # tools run between llm calls; the last call answers
        per_gap = [0] * gaps
        for _ in range(n_tools):
            per_gap[rng.randrange(gaps)] += 1
        steps: list[str] = []
        for i in range(n_llm):
            steps.append("llm")
            if i < gaps:
                steps.extend(["tool"] * per_gap[i])
        err_at = rng.randrange(len(steps)) if turn == err_turn else None
        decision_at = (
            (steps.index("tool") if "tool" in steps else 0) if turn in decision_turns else None
        )

        prev_tool: str | None = None
        planning = True
        for i, step in enumerate(steps):
            if step == "llm":
                session.llm_call(turn, planning)
                planning = False
            else:
                same_args = False
                if prev_tool is not None and rng.random() < p.repeat_tool:
                    tool = prev_tool
                    same_args = rng.random() < p.repeat_args
                else:
                    tool = weighted(rng, p.tools)
                session.tool_call(turn, tool, same_args=same_args)
                prev_tool = tool
            session.overhead()
            if i == decision_at:
                session.decisions(turn)
                session.overhead()
            if i == err_at:
                session.error_event(turn)
                if terminal:
                    failed = True
                    break
        if failed:
            break
        session.emit(
            "agent_message",
            turn_index=turn,
            agent_id=session.agent(planning=True),
            payload=dumps({"tokens": int(lognormal(rng, 180, 0.7))}),
        )
        session.ctx += 20
        if turn == heartbeat_turn:
            session.advance_ms(lognormal(rng, 5000, 0.5))
            session.emit("heartbeat", agent_id=session.agent(planning=False))

    if is_eval:
        session.eval_result(failed)
    if end_mode == "none":
        return session.rows
    if failed:
        status = "failure"
        session.overhead()
    else:
        status = rng.choices(("success", "abandoned", "failure"), (0.86, 0.08, 0.06))[0]
        if status == "abandoned":  # closed by the idle timeout, long after the last turn
            session.advance_ms(rng.uniform(15, 30) * 60_000)
        else:
            session.advance_ms(lognormal(rng, 300, 0.8))
    if end_mode == "no_status":
        end_payload = dumps({"reason": rng.choice(("client_disconnect", "shutdown"))})
    else:
        end_payload = dumps({"status": status})
    session.emit("session_end", payload=end_payload)
    return session.rows


def _diurnal_offset_us(rng: random.Random) -> int:
    """A start time in the day, busier in the (UTC) afternoon than at night: rejection sampling
    against 0.25 + bump centred on 15:00 UTC."""
    while True:
        t = rng.random() * 24.0
        weight = 0.25 + math.exp(-(((t - 15.0) / 4.5) ** 2))
        if rng.random() * 1.25 < weight:
            return int(t * 3_600_000_000)


def generate_sessions(
    config: SynthConfig,
    day: datetime.date,
    profiles: dict[str, AppProfile],
    tasks: dict[str, tuple[Task, ...]],
) -> list[SessionRows]:
    """The day's sessions in start order, all drawn from the day's `events` stream."""
    rng = random.Random(f"trajectory-synth:{config.seed}:{day.isoformat()}:events")
    apps = list(profiles)
    weights = [profiles[a].weight for a in apps]
    day_us = (day - EPOCH).days * US_PER_DAY
    starts = sorted(
        (day_us + _diurnal_offset_us(rng), i, rng.choices(apps, weights)[0])
        for i in range(config.sessions_per_day)
    )
    day_tag = day.strftime("%Y%m%d")
    evals = EvalRuns(config.seed, day, tasks, config.sessions_per_day)
    counters = dict.fromkeys(apps, 0)
    sessions: list[SessionRows] = []
    for start_us, _, app in starts:
        sid = f"s-{short_name(app)}-{day_tag}-{counters[app]:05d}"
        counters[app] += 1
        session = Session(rng, app, profiles[app], sid, start_us, day_tag, evals)
        sessions.append(SessionRows(app, sid, build_session(session)))
    return sessions
