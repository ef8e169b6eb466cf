"""A deterministic generator of realistic Tier A raw lakes, for tests, demos and benchmarks.

Everything comes from seeded `random.Random` streams, one per (day, purpose), so identical
arguments give byte-identical event content and identical file names, and adding a day or
changing a rate does not reshuffle the other days or the clean events:

- `events`  : the sessions themselves (turns, llm and tool calls, errors, decisions, evals);
- `corrupt` : which events are turned into invalid rows or re-emitted as producer retries;
- `layout`  : where a session's events are split into several append-only files.

All rows of a day are generated serially first; only the Parquet writes go to a thread pool.

The data is shaped to exercise every table of SPEC.md with plausible numbers: heavy-tailed
latencies, context that grows over turns with prompt caching, tool loops with repeated tools,
errors (tool, llm, agent-level, terminal or not), a decision funnel, eval attempts with repeated
tasks, and the dirt real producers leave: invalid rows, duplicate event ids, unknown event
types, ts ties, missing `session_end`s and payloads without the expected keys.
"""

import bisect
import datetime
import json
import math
import os
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from trajectory_assets.lake.fs import Lake
from trajectory_assets.schema import RAW_EVENTS

Row = dict[str, Any]

_EPOCH = datetime.date(1970, 1, 1)
_US_PER_DAY = 86_400_000_000
_US_PER_MS = 1000


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Every field takes part in the output; `seed` makes it reproducible."""

    start: datetime.date
    days: int = 3
    apps: tuple[str, ...] = ("support-bot", "code-agent", "research-agent")
    sessions_per_day: int = 300
    seed: int = 7
    invalid_rate: float = 0.002
    duplicate_rate: float = 0.003
    files_per_session: int = 1

    def __post_init__(self) -> None:
        if self.days < 0 or self.sessions_per_day < 0:
            raise ValueError("days and sessions_per_day must be >= 0")
        if not self.apps or len(set(self.apps)) != len(self.apps):
            raise ValueError("apps must be a non-empty tuple of distinct names")
        for name in ("invalid_rate", "duplicate_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within [0, 1]")
        if self.files_per_session < 1:
            raise ValueError("files_per_session must be >= 1")


@dataclass(frozen=True)
class SynthSummary:
    """What was written. `events` counts every row written, invalid and duplicate rows included,
    so `events - invalid_rows - duplicate_rows` is the number of distinct valid events."""

    days: tuple[str, ...]
    sessions: int
    events: int
    files: int
    invalid_rows: int
    duplicate_rows: int
    bytes: int


# --------------------------------------------------------------------------------------------
# Catalogues: models, tools, apps, benchmarks. Plain data so the shapes are easy to tune.


@dataclass(frozen=True)
class _Model:
    ttft_scale: float  # multiplies the ~400 ms median time to first token
    tokens_per_s: float  # decode speed, median
    cache_hit: float  # probability that a later call reuses the cached prefix
    strength: float  # multiplies a task's pass probability
    context: int  # context window; the agent compacts its history near it


_MODELS: dict[str, _Model] = {
    "gpt-4o": _Model(1.0, 80.0, 0.85, 1.0, 128_000),
    "gpt-4o-mini": _Model(0.7, 110.0, 0.85, 0.7, 128_000),
    "claude-sonnet-4": _Model(1.15, 70.0, 0.8, 1.15, 200_000),
    "llama-3.1-70b": _Model(1.25, 50.0, 0.55, 0.75, 128_000),
}


@dataclass(frozen=True)
class _Tool:
    median_ms: float
    sigma: float
    output_tokens: float  # median tokens the result adds to the context
    artifact: tuple[str, ...]  # artifact kinds the tool may attach
    artifact_p: float
    error_codes: tuple[str, ...]  # error_code of a ToolError
    timeout_ms: float


_TOOLS: dict[str, _Tool] = {
    "search": _Tool(300, 0.8, 600, (), 0.0, ("429", "502"), 10_000),
    "read_file": _Tool(25, 1.0, 1500, (), 0.0, ("ENOENT", "EACCES"), 5_000),
    "edit_file": _Tool(40, 0.9, 120, ("diff",), 0.75, ("EPATCH", "ENOENT"), 5_000),
    "run_tests": _Tool(9000, 0.9, 900, ("stdout", "stderr"), 0.7, ("1", "2"), 120_000),
    "bash": _Tool(600, 1.3, 350, ("stdout", "stderr"), 0.5, ("1", "127", "137"), 60_000),
    "browser": _Tool(
        2500, 0.8, 2500, ("screenshot",), 0.5, ("403", "404", "ERR_TIMED_OUT"), 30_000
    ),
    "sql_query": _Tool(400, 1.1, 400, ("stdout",), 0.2, ("42P01", "57014"), 30_000),
    "search_kb": _Tool(250, 0.6, 700, (), 0.0, ("503",), 10_000),
    "lookup_order": _Tool(150, 0.7, 250, (), 0.0, ("404", "500"), 10_000),
    "create_ticket": _Tool(450, 0.6, 80, (), 0.0, ("400", "500"), 10_000),
    "send_email": _Tool(700, 0.7, 40, (), 0.0, ("550", "500"), 15_000),
}

_BENCHMARKS: dict[str, tuple[str, int]] = {
    # name: (task id style, pool size)
    "swe-bench-lite": ("swe", 24),
    "humaneval": ("humaneval", 30),
    "gaia": ("gaia", 20),
    "hotpotqa": ("hotpot", 30),
}


@dataclass(frozen=True)
class _AppProfile:
    weight: float  # share of the day's sessions
    agents: tuple[str, ...]  # agents[0] plans each turn; agents[-1] acts (tools, decisions)
    models: tuple[tuple[str, float], ...]
    tools: tuple[tuple[str, float], ...]
    mean_turns: float
    llm_weights: tuple[float, float, float, float]  # 1..4 llm calls per turn
    tool_weights: tuple[float, ...]  # 0..5 tool calls per turn
    repeat_tool: float  # probability a tool call repeats the previous tool
    system_tokens: float
    user_tokens: float
    think_ms: float  # median user think time between turns
    decision_rate: float
    eval_rate: float
    benchmarks: tuple[tuple[str, float], ...] = ()
    queries: tuple[str, ...] = field(default=())


_PROFILES: dict[str, _AppProfile] = {
    "support-bot": _AppProfile(
        weight=0.45,
        agents=("support-agent",),
        models=(("gpt-4o-mini", 0.6), ("gpt-4o", 0.3), ("claude-sonnet-4", 0.1)),
        tools=(
            ("search_kb", 0.45),
            ("lookup_order", 0.3),
            ("create_ticket", 0.1),
            ("send_email", 0.05),
            ("sql_query", 0.1),
        ),
        mean_turns=4.0,
        llm_weights=(0.55, 0.3, 0.1, 0.05),
        tool_weights=(0.35, 0.35, 0.2, 0.07, 0.02, 0.01),
        repeat_tool=0.15,
        system_tokens=1500,
        user_tokens=60,
        think_ms=25_000,
        decision_rate=0.0,
        eval_rate=0.0,
        queries=(
            "refund policy for damaged items",
            "how to reset two-factor authentication",
            "shipping times to canada",
            "cancel subscription before renewal",
            "invoice shows wrong vat number",
            "order stuck in processing",
        ),
    ),
    "code-agent": _AppProfile(
        weight=0.35,
        agents=("planner", "coder"),
        models=(("claude-sonnet-4", 0.45), ("gpt-4o", 0.35), ("llama-3.1-70b", 0.2)),
        tools=(
            ("read_file", 0.3),
            ("edit_file", 0.2),
            ("run_tests", 0.15),
            ("bash", 0.2),
            ("search", 0.15),
        ),
        mean_turns=3.0,
        llm_weights=(0.15, 0.35, 0.3, 0.2),
        tool_weights=(0.08, 0.17, 0.25, 0.22, 0.16, 0.12),
        repeat_tool=0.35,
        system_tokens=4000,
        user_tokens=250,
        think_ms=40_000,
        decision_rate=0.0,
        eval_rate=0.4,
        benchmarks=(("swe-bench-lite", 0.6), ("humaneval", 0.4)),
        queries=(
            "def parse_config",
            "TODO: handle timeout",
            "class RetryPolicy",
            "import asyncio",
            "raise ValueError(",
            "def test_",
        ),
    ),
    "research-agent": _AppProfile(
        weight=0.2,
        agents=("researcher",),
        models=(("gpt-4o", 0.5), ("claude-sonnet-4", 0.3), ("gpt-4o-mini", 0.2)),
        tools=(("search", 0.45), ("browser", 0.3), ("read_file", 0.1), ("sql_query", 0.15)),
        mean_turns=2.5,
        llm_weights=(0.2, 0.35, 0.3, 0.15),
        tool_weights=(0.1, 0.25, 0.25, 0.2, 0.12, 0.08),
        repeat_tool=0.3,
        system_tokens=2500,
        user_tokens=120,
        think_ms=30_000,
        decision_rate=0.3,
        eval_rate=0.2,
        benchmarks=(("gaia", 0.5), ("hotpotqa", 0.5)),
        queries=(
            "transformer scaling laws compute optimal",
            "retrieval augmented generation evaluation",
            "2024 lithium battery production by country",
            "who founded the first public library in boston",
            "kv cache quantization accuracy",
            "river with the largest discharge in europe",
        ),
    ),
}

_FILES = (
    "src/app/models.py",
    "src/app/views.py",
    "src/app/config.py",
    "src/utils/retry.py",
    "src/utils/cache.py",
    "tests/test_api.py",
    "tests/test_models.py",
    "pyproject.toml",
    "README.md",
)
_COMMANDS = ("pip install -e .", "git status", "ls -la src", "python -m mypy src", "git diff")
_URLS = (
    "https://arxiv.org/abs/2203.15556",
    "https://en.wikipedia.org/wiki/Boston_Public_Library",
    "https://www.iea.org/reports/global-ev-outlook-2024",
    "https://docs.python.org/3/library/asyncio.html",
    "https://github.com/vllm-project/vllm/issues",
)
_SQL = (
    "SELECT status, count(*) FROM orders WHERE customer_id = $1 GROUP BY 1",
    "SELECT * FROM refunds WHERE order_id = $1",
    "SELECT country, sum(gwh) FROM battery_production GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
)
_AGENT_ERRORS: tuple[tuple[str, str | None, str], ...] = (
    ("ContextWindowExceeded", "400", "prompt is too long: {n} tokens > {m} maximum"),
    ("MaxIterationsExceeded", None, "agent exceeded {k} iterations without a final answer"),
    ("GuardrailViolation", "content_filter", "response blocked by output guardrail"),
    ("AgentCrash", None, "KeyError: 'result' in tool output parser"),
    ("InvalidToolArguments", "422", "model produced arguments that do not match the schema"),
)
_SWE_REPOS = (
    "django__django",
    "sympy__sympy",
    "astropy__astropy",
    "psf__requests",
    "pytest-dev__pytest",
    "scikit-learn__scikit-learn",
    "matplotlib__matplotlib",
    "sphinx-doc__sphinx",
)


def _short(app: str) -> str:
    """`code-agent` -> `ca`: session ids stay readable and name their app."""
    parts = [p for p in app.replace("_", "-").split("-") if p]
    short = "".join(p[0] for p in parts if p[0].isalnum()).lower()
    return short or "app"


def _profiles(apps: tuple[str, ...]) -> dict[str, _AppProfile]:
    """Known apps get their own profile; any other name borrows one in turn (by position)."""
    templates = list(_PROFILES.values())
    return {app: _PROFILES.get(app, templates[i % len(templates)]) for i, app in enumerate(apps)}


@dataclass(frozen=True)
class _Task:
    task_id: str
    difficulty: float  # pass probability for a model of strength 1.0
    weight: float  # how often the task is drawn: popular tasks get several attempts


def _task_pools(seed: int) -> dict[str, tuple[_Task, ...]]:
    """Fixed per seed, not per day, so the same tasks come back every day and across runs."""
    rng = random.Random(f"trajectory-synth:{seed}:tasks")
    pools: dict[str, tuple[_Task, ...]] = {}
    for bench, (style, size) in _BENCHMARKS.items():
        ids: list[str] = []
        while len(ids) < size:
            if style == "swe":
                tid = f"{rng.choice(_SWE_REPOS)}-{rng.randint(1000, 25000)}"
            elif style == "humaneval":
                tid = f"HumanEval/{rng.randrange(164)}"
            elif style == "gaia":
                tid = f"gaia-L{rng.randint(1, 3)}-{rng.getrandbits(32):08x}"
            else:
                tid = f"hotpot-{rng.getrandbits(40):010x}"
            if tid not in ids:
                ids.append(tid)
        pools[bench] = tuple(
            _Task(tid, rng.betavariate(1.3, 1.4), 1.0 / (i + 1) ** 0.7) for i, tid in enumerate(ids)
        )
    return pools


class _EvalRuns:
    """Which tasks each of a day's eval runs attempts: a small subset of the benchmark's pool
    (popular tasks more likely), each attempted several times as pass@k harnesses do, so a
    (benchmark, model, run) group has repeated tasks and pass@1 differs from the pass rate."""

    def __init__(
        self, seed: int, day: datetime.date, pools: dict[str, tuple[_Task, ...]], sessions: int
    ) -> None:
        self.seed = seed
        self.day = day
        self.pools = pools
        self.size = max(4, sessions // 40)
        self.cache: dict[tuple[str, int], tuple[_Task, ...]] = {}

    def tasks(self, bench: str, run: int) -> tuple[_Task, ...]:
        key = (bench, run)
        if key not in self.cache:
            rng = random.Random(f"trajectory-synth:{self.seed}:{self.day}:{bench}:{run}:tasks")
            pool = self.pools[bench]
            # weighted sampling without replacement (Efraimidis-Spirakis keys)
            keyed = sorted(pool, key=lambda t: rng.random() ** (1.0 / t.weight), reverse=True)
            self.cache[key] = tuple(keyed[: min(len(pool), self.size)])
        return self.cache[key]


# --------------------------------------------------------------------------------------------
# One session.


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def _weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class _Session:
    """Builds one session's events in time order: `seq` is the emission order, ts never goes
    back, and the cursor advances by each call's latency plus framework overhead and think time.
    """

    def __init__(
        self,
        rng: random.Random,
        app: str,
        profile: _AppProfile,
        session_id: str,
        start_us: int,
        day_tag: str,
        evals: _EvalRuns,
    ) -> None:
        self.rng = rng
        self.app = app
        self.p = profile
        self.sid = session_id
        self.cursor = start_us
        self.day_tag = day_tag
        self.evals = evals
        self.rows: list[Row] = []
        self.model = _weighted(rng, profile.models)
        self.ctx = int(_lognormal(rng, profile.system_tokens, 0.2))
        self.system = self.ctx
        self.prev_llm_input: int | None = None
        self.prev_llm_end: int | None = None
        self.iterations = 0

    # -- emission ----------------------------------------------------------------------------

    def emit(self, event_type: str, ts: int | None = None, **cols: Any) -> Row:
        seq = len(self.rows)
        row: Row = {
            "event_id": f"{self.sid}-{seq:04d}",
            "app_id": self.app,
            "session_id": self.sid,
            "ts": self.cursor if ts is None else ts,
            "seq": seq,
            "event_type": event_type,
        }
        row.update({k: v for k, v in cols.items() if v is not None})
        self.rows.append(row)
        return row

    def advance_ms(self, ms: float) -> None:
        self.cursor += max(1, int(ms * _US_PER_MS))

    def overhead(self) -> None:
        """Framework time between two events: a few ms, sometimes tens."""
        self.advance_ms(_lognormal(self.rng, 8.0, 0.9))

    def agent(self, planning: bool) -> str:
        return self.p.agents[0] if planning else self.p.agents[-1]

    # -- calls ---------------------------------------------------------------------------------

    def llm_call(self, turn: int, planning: bool, allow_error: bool = True) -> None:
        rng = self.rng
        model = self.model if rng.random() > 0.1 else _weighted(rng, self.p.models)
        spec = _MODELS.get(model, _MODELS["gpt-4o"])
        if self.ctx > spec.context * 0.8:
            # the agent summarises its history rather than overflow the window
            self.ctx = int(self.ctx * 0.3) + self.system
        input_tokens = self.ctx
        request_id = f"req-{rng.getrandbits(64):016x}"
        tie = bool(self.rows) and rng.random() < 0.02
        ts = self.rows[-1]["ts"] if tie else self.cursor
        agent_id = self.agent(planning)

        if allow_error and rng.random() < 0.01:
            if rng.random() < 0.65:
                etype, code, latency = "RateLimitError", "429", _lognormal(rng, 120, 0.5)
            else:
                etype, code = "APIError", rng.choice(("500", "500", "503"))
                latency = _lognormal(rng, 1500, 1.2)
            self.emit(
                "llm_call",
                ts=ts,
                turn_index=turn,
                agent_id=agent_id,
                request_id=request_id,
                model=model,
                latency_ms=round(latency, 3),
                error_type=etype,
                error_code=code,
                payload=_dumps({"attempt": 1}),
            )
            self.cursor = max(self.cursor, ts + int(latency * _US_PER_MS))
            self.advance_ms(_lognormal(rng, 1500, 0.7))  # client backoff, then a clean retry
            self.llm_call(turn, planning, allow_error=False)
            return

        output = min(8192, max(1, int(_lognormal(rng, 200, 0.8))))
        ttft = _lognormal(rng, 400 * spec.ttft_scale, 0.55)
        if rng.random() < 0.03:  # queueing / cold start: the 10 s+ tail
            ttft += _lognormal(rng, 3000, 0.8)
        ttft += input_tokens * 0.008  # prefill grows with the prompt
        speed = spec.tokens_per_s * _lognormal(rng, 1.0, 0.25)
        latency = ttft + output / speed * 1000.0

        cache: int | None
        if self.prev_llm_input is None:
            cache = 0
        elif self.prev_llm_end is not None and ts - self.prev_llm_end > 300_000_000:
            cache = 0  # idle for more than 5 minutes: the provider's prompt cache expired
        elif rng.random() < spec.cache_hit:
            cache = min(input_tokens, int(self.prev_llm_input * rng.uniform(0.9, 1.0)))
        else:
            cache = rng.choice((0, int(self.system * 0.9)))

        ttft_out: float | None = None if rng.random() < 0.01 else round(ttft, 3)  # streaming off
        tokens: tuple[int | None, int | None, int | None] = (input_tokens, output, cache)
        if rng.random() < 0.005:
            tokens = (None, None, None)  # the provider did not report usage
        self.emit(
            "llm_call",
            ts=ts,
            turn_index=turn,
            agent_id=agent_id,
            request_id=request_id,
            model=model,
            ttft_ms=ttft_out,
            latency_ms=round(latency, 3),
            input_tokens=tokens[0],
            output_tokens=tokens[1],
            cache_tokens=tokens[2],
        )
        self.prev_llm_input = input_tokens
        self.cursor = max(self.cursor, ts + int(latency * _US_PER_MS))
        self.prev_llm_end = self.cursor
        self.ctx += output
        self.iterations += 1

    def tool_args(self, tool: str) -> dict[str, Any]:
        rng = self.rng
        if tool in ("search", "search_kb"):
            return {"query": rng.choice(self.p.queries or ("query",)), "k": rng.choice((5, 10, 20))}
        if tool == "read_file":
            return {"path": rng.choice(_FILES)}
        if tool == "edit_file":
            return {"path": rng.choice(_FILES), "lines_changed": rng.randint(1, 60)}
        if tool == "run_tests":
            return {"target": rng.choice(("tests/", "tests/test_api.py", "tests/test_models.py"))}
        if tool == "bash":
            return {"cmd": rng.choice(_COMMANDS)}
        if tool == "browser":
            return {"url": rng.choice(_URLS), "action": rng.choice(("open", "scroll", "click"))}
        if tool == "sql_query":
            return {"query": rng.choice(_SQL)}
        if tool == "lookup_order":
            return {"order_id": f"ord-{rng.randint(100000, 999999)}"}
        if tool == "create_ticket":
            return {"priority": rng.choice(("low", "normal", "high")), "queue": "tier2"}
        if tool == "send_email":
            return {"template": rng.choice(("refund_confirmation", "password_reset", "followup"))}
        return {}

    def tool_call(self, turn: int, tool: str) -> None:
        rng = self.rng
        spec = _TOOLS.get(tool, _TOOLS["search"])
        latency = _lognormal(rng, spec.median_ms, spec.sigma)
        etype: str | None = None
        code: str | None = None
        if rng.random() < 0.03:
            if rng.random() < 0.35:
                etype, code = "ToolTimeout", "timeout"
                latency = spec.timeout_ms + _lognormal(rng, 20, 0.5)
            else:
                etype, code = "ToolError", rng.choice(spec.error_codes)
                latency *= rng.uniform(0.2, 1.0)
        seq = len(self.rows)
        artifacts: list[dict[str, str]] | None = None
        kinds = [
            k for k in spec.artifact if k != "stderr" or etype is not None or rng.random() < 0.2
        ]
        if kinds and (rng.random() < spec.artifact_p or (etype is not None and "stderr" in kinds)):
            ext = {"stdout": "txt", "stderr": "txt", "diff": "patch", "screenshot": "png"}
            artifacts = [
                {"kind": k, "uri": f"s3://artifacts/{self.app}/{self.sid}/{seq:04d}-{k}.{ext[k]}"}
                for k in kinds
            ]
        self.emit(
            "tool_call",
            turn_index=turn,
            agent_id=self.agent(planning=False),
            tool_name=tool,
            tool_latency_ms=round(latency, 3),
            error_type=etype,
            error_code=code,
            payload=_dumps({"args": self.tool_args(tool)}),
            artifacts=artifacts,
        )
        self.advance_ms(latency)
        self.ctx += 60 if etype else int(_lognormal(rng, spec.output_tokens, 0.9))
        self.iterations += 1

    def error_event(self, turn: int) -> None:
        rng = self.rng
        etype, code, template = rng.choice(_AGENT_ERRORS)
        message = template.format(n=self.ctx + rng.randint(1, 5000), m=128_000, k=self.iterations)
        r = rng.random()
        if r < 0.06:
            payload: str | None = _dumps({"detail": "unhandled exception", "retryable": False})
        elif r < 0.1:
            payload = None
        else:
            payload = _dumps({"message": message})
        self.emit(
            "error",
            turn_index=turn,
            agent_id=self.agent(planning=False),
            error_type=etype,
            error_code=code,
            payload=payload,
        )
        self.overhead()

    def decisions(self, turn: int) -> None:
        """A retrieve -> rerank -> select funnel: the same items flow through the three steps."""
        rng = self.rng
        agent = self.agent(planning=False)
        n = rng.randint(6, 16)
        items = [f"doc-{rng.getrandbits(28):07x}" for _ in range(n)]
        scored = sorted(((rng.uniform(0.15, 0.95), i) for i in items), reverse=True)
        survivors: list[tuple[float, str]] = []
        for score, item in scored:
            dropped = score < 0.25
            self.emit(
                "decision",
                turn_index=turn,
                agent_id=agent,
                payload=_dumps(
                    {
                        "step": "retrieve",
                        "item_id": item,
                        "outcome": "eliminated" if dropped else "scored",
                        "score": round(score, 4),
                        "reason": "below similarity threshold" if dropped else "hybrid bm25+dense",
                    }
                ),
            )
            self.advance_ms(rng.uniform(0.05, 0.5))
            if not dropped:
                survivors.append((score, item))
        self.advance_ms(_lognormal(rng, 350, 0.5))  # the cross-encoder pass
        reranked = sorted(
            ((min(1.0, max(0.0, s + rng.gauss(0, 0.2))), i) for s, i in survivors), reverse=True
        )
        top_k = rng.randint(2, 6)
        kept = reranked[:top_k]
        for rank, (score, item) in enumerate(reranked):
            keep = rank < top_k
            self.emit(
                "decision",
                turn_index=turn,
                agent_id=agent,
                payload=_dumps(
                    {
                        "step": "rerank",
                        "item_id": item,
                        "outcome": "kept" if keep else "eliminated",
                        "score": round(score, 4),
                        "reason": f"top-{top_k} by cross-encoder"
                        if keep
                        else "below rerank cutoff",
                    }
                ),
            )
            self.advance_ms(rng.uniform(0.05, 0.5))
        self.advance_ms(_lognormal(rng, 5, 0.5))
        n_select = rng.randint(1, min(3, len(kept))) if kept else 0
        for rank, (score, item) in enumerate(kept):
            keep = rank < n_select
            reason = "cited in answer" if keep else rng.choice(("redundant", "low relevance"))
            self.emit(
                "decision",
                turn_index=turn,
                agent_id=agent,
                payload=_dumps(
                    {
                        "step": "select",
                        "item_id": item,
                        "outcome": "kept" if keep else "eliminated",
                        "score": round(score, 4),
                        "reason": reason,
                    }
                ),
            )
            self.advance_ms(rng.uniform(0.05, 0.5))

    def eval_result(self, failed: bool) -> None:
        rng = self.rng
        bench = _weighted(rng, self.p.benchmarks)
        run = rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0]
        task = rng.choice(self.evals.tasks(bench, run))
        strength = _MODELS.get(self.model, _MODELS["gpt-4o"]).strength
        passed = not failed and rng.random() < min(0.97, task.difficulty * strength)
        score = 1.0 if passed else round(rng.uniform(0.0, 0.9), 4)
        payload: dict[str, Any] = {"benchmark": bench, "task_id": task.task_id}
        if rng.random() > 0.05:  # sometimes the harness forgets the run id
            payload["run_id"] = f"run-{self.day_tag}-{run}"
        payload.update(passed=passed, score=score)
        self.advance_ms(_lognormal(rng, 8000, 0.8))  # grading: the hidden tests run
        self.emit(
            "eval_result",
            model=self.model if rng.random() > 0.05 else None,
            payload=_dumps(payload),
        )

    # -- the whole session -------------------------------------------------------------------

    def build(self) -> list[Row]:
        rng, p = self.rng, self.p
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
            start_payload = _dumps(
                {
                    "user": f"u-{rng.getrandbits(32):08x}",
                    "client": rng.choice(("web", "api", "cli")),
                }
            )
        self.emit("session_start", payload=start_payload)
        self.advance_ms(_lognormal(rng, 150, 0.8))

        failed = False
        for turn in range(n_turns):
            if turn > 0:
                think = _lognormal(rng, 600 if is_eval else p.think_ms, 1.0)
                self.advance_ms(think)
            user_tokens = int(_lognormal(rng, p.user_tokens * (3 if is_eval else 1), 0.8))
            self.emit("user_message", turn_index=turn, payload=_dumps({"tokens": user_tokens}))
            self.ctx += user_tokens
            self.advance_ms(_lognormal(rng, 40, 0.7))

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
                    self.llm_call(turn, planning)
                    planning = False
                else:
                    if prev_tool is not None and rng.random() < p.repeat_tool:
                        tool = prev_tool
                    else:
                        tool = _weighted(rng, p.tools)
                    self.tool_call(turn, tool)
                    prev_tool = tool
                self.overhead()
                if i == decision_at:
                    self.decisions(turn)
                    self.overhead()
                if i == err_at:
                    self.error_event(turn)
                    if terminal:
                        failed = True
                        break
            if failed:
                break
            self.emit(
                "agent_message",
                turn_index=turn,
                agent_id=self.agent(planning=True),
                payload=_dumps({"tokens": int(_lognormal(rng, 180, 0.7))}),
            )
            self.ctx += 20
            if turn == heartbeat_turn:
                self.advance_ms(_lognormal(rng, 5000, 0.5))
                self.emit("heartbeat", agent_id=self.agent(planning=False))

        if is_eval:
            self.eval_result(failed)
        if end_mode == "none":
            return self.rows
        if failed:
            status = "failure"
            self.overhead()
        else:
            status = rng.choices(("success", "abandoned", "failure"), (0.86, 0.08, 0.06))[0]
            if status == "abandoned":  # closed by the idle timeout, long after the last turn
                self.advance_ms(rng.uniform(15, 30) * 60_000)
            else:
                self.advance_ms(_lognormal(rng, 300, 0.8))
        if end_mode == "no_status":
            end_payload = _dumps({"reason": rng.choice(("client_disconnect", "shutdown"))})
        else:
            end_payload = _dumps({"status": status})
        self.emit("session_end", payload=end_payload)
        return self.rows


# --------------------------------------------------------------------------------------------
# One day: sessions, corruption, layout.


def _diurnal_offset_us(rng: random.Random) -> int:
    """A start time in the day, busier in the (UTC) afternoon than at night: rejection sampling
    against 0.25 + bump centred on 15:00 UTC."""
    while True:
        t = rng.random() * 24.0
        weight = 0.25 + math.exp(-(((t - 15.0) / 4.5) ** 2))
        if rng.random() * 1.25 < weight:
            return int(t * 3_600_000_000)


@dataclass
class _File:
    path: str
    rows: list[Row]


@dataclass
class _Day:
    sessions: int
    files: list[tuple[str, list[_File]]]  # (session folder, its files)
    invalid_rows: int
    duplicate_rows: int


def _generate_sessions(
    config: SynthConfig,
    day: datetime.date,
    profiles: dict[str, _AppProfile],
    tasks: dict[str, tuple[_Task, ...]],
) -> list[tuple[str, str, list[Row]]]:
    rng = random.Random(f"trajectory-synth:{config.seed}:{day.isoformat()}:events")
    apps = list(profiles)
    weights = [profiles[a].weight for a in apps]
    day_us = (day - _EPOCH).days * _US_PER_DAY
    starts = sorted(
        (day_us + _diurnal_offset_us(rng), i, rng.choices(apps, weights)[0])
        for i in range(config.sessions_per_day)
    )
    day_tag = day.strftime("%Y%m%d")
    evals = _EvalRuns(config.seed, day, tasks, config.sessions_per_day)
    counters = dict.fromkeys(apps, 0)
    sessions: list[tuple[str, str, list[Row]]] = []
    for start_us, _, app in starts:
        sid = f"s-{_short(app)}-{day_tag}-{counters[app]:05d}"
        counters[app] += 1
        rows = _Session(rng, app, profiles[app], sid, start_us, day_tag, evals).build()
        sessions.append((app, sid, rows))
    return sessions


_INVALID_KINDS = ("empty_event_id", "negative_latency", "negative_output_tokens", "bad_json")


def _corrupt(
    config: SynthConfig, day: datetime.date, sessions: list[tuple[str, str, list[Row]]]
) -> tuple[set[int], list[Row]]:
    """Turns a share of events into invalid rows in place, and picks valid events to re-emit.

    Returns the ids (`id(row)`) of the corrupted rows and the rows to duplicate. At least one of
    each when its rate is > 0, so a small lake still exercises both paths.
    """
    rng = random.Random(f"trajectory-synth:{config.seed}:{day.isoformat()}:corrupt")
    all_rows = [row for _, _, rows in sessions for row in rows]
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
    kinds = list(_INVALID_KINDS)
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


def _layout(
    lake: Lake,
    config: SynthConfig,
    day: datetime.date,
    sessions: list[tuple[str, str, list[Row]]],
    duplicates: list[Row],
) -> list[tuple[str, list[_File]]]:
    """Splits each session into `files_per_session` contiguous flushes (random cut points) and
    puts each re-emitted event in `part-retry-<n>.parquet` next to the part it came from."""
    rng = random.Random(f"trajectory-synth:{config.seed}:{day.isoformat()}:layout")
    dup_ids = {id(r) for r in duplicates}
    dt = day.isoformat()
    out: list[tuple[str, list[_File]]] = []
    for app, sid, rows in sessions:
        folder = lake.path("raw_events", f"dt={dt}", f"app_id={app}", f"session_id={sid}")
        k = min(config.files_per_session, len(rows))
        cuts = sorted(rng.sample(range(1, len(rows)), k - 1)) if k > 1 else []
        bounds = [0, *cuts, len(rows)]
        files = [
            _File(f"{folder}/part-{n}.parquet", rows[bounds[n] : bounds[n + 1]]) for n in range(k)
        ]
        retries: dict[int, list[Row]] = {}
        for i, row in enumerate(rows):
            if id(row) in dup_ids:
                part = bisect.bisect_right(bounds, i) - 1
                retries.setdefault(part, []).append(dict(row))
        files.extend(
            _File(f"{folder}/part-retry-{n}.parquet", rs) for n, rs in sorted(retries.items())
        )
        out.append((folder, files))
    return out


def _plan_day(
    lake: Lake,
    config: SynthConfig,
    day: datetime.date,
    profiles: dict[str, _AppProfile],
    tasks: dict[str, tuple[_Task, ...]],
) -> _Day:
    sessions = _generate_sessions(config, day, profiles, tasks)
    corrupted, duplicates = _corrupt(config, day, sessions)
    files = _layout(lake, config, day, sessions, duplicates)
    return _Day(len(sessions), files, len(corrupted), len(duplicates))


# --------------------------------------------------------------------------------------------
# Writing.


def _to_table(rows: list[Row]) -> pa.Table:
    columns = {name: [row.get(name) for row in rows] for name in RAW_EVENTS.names}
    return pa.Table.from_pydict(columns, schema=RAW_EVENTS)


def _write_day(lake: Lake, day: _Day) -> tuple[int, int]:
    """Writes the day's files with a thread pool; returns (files, bytes).

    One Arrow table is built for the whole day (one conversion instead of thousands) and each
    file is a zero-copy slice of it, so the threads spend their time in Parquet encoding and I/O.
    """
    ordered = [f for _, files in day.files for f in files]
    table = _to_table([row for f in ordered for row in f.rows])
    slices: dict[str, pa.Table] = {}
    offset = 0
    for f in ordered:
        slices[f.path] = table.slice(offset, len(f.rows))
        offset += len(f.rows)
    fs = lake.fs
    arrow_fs = lake.arrow_fs

    def write_session(item: tuple[str, list[_File]]) -> None:
        folder, files = item
        fs.makedirs(folder, exist_ok=True)
        for f in files:
            pq.write_table(slices[f.path], f.path, filesystem=arrow_fs)

    workers = min(32, 4 * (os.cpu_count() or 4))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for _ in pool.map(write_session, day.files):
            pass
    infos = arrow_fs.get_file_info([f.path for f in ordered])
    size = sum(i.size or 0 for i in infos if i.type == pafs.FileType.File)
    return len(ordered), size


def generate_lake(
    lake: Lake, config: SynthConfig, progress: Callable[[str], None] | None = None
) -> SynthSummary:
    """Writes `config.days` days of raw events under `<lake>/raw_events/` and says what it wrote.

    Files of the same name are overwritten and nothing else is deleted, so run it on an empty
    lake (or a fresh `start`) to get exactly the summary's contents.
    """
    profiles = _profiles(config.apps)
    tasks = _task_pools(config.seed)
    days: list[str] = []
    sessions = events = files = invalid = duplicate = size = 0
    for offset in range(config.days):
        day = config.start + datetime.timedelta(days=offset)
        plan = _plan_day(lake, config, day, profiles, tasks)
        n_files, n_bytes = _write_day(lake, plan)
        n_rows = sum(len(f.rows) for _, fs in plan.files for f in fs)
        days.append(day.isoformat())
        sessions += plan.sessions
        events += n_rows
        files += n_files
        invalid += plan.invalid_rows
        duplicate += plan.duplicate_rows
        size += n_bytes
        if progress is not None:
            line = f"{plan.sessions:,} sessions, {n_rows:,} events, {n_files:,} files"
            progress(f"{day.isoformat()}: {line}")
    return SynthSummary(tuple(days), sessions, events, files, invalid, duplicate, size)
