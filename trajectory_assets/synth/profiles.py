"""The catalogues the generator draws from: models, tools, app profiles, benchmarks and their
task pools. Plain data, apart from the session model, so the shapes are easy to tune.

`benchmarks/peer.py` reads `MODELS` to price the same models the generated lake names.
"""

import datetime
import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Model:
    ttft_scale: float  # multiplies the ~400 ms median time to first token
    tokens_per_s: float  # decode speed, median
    cache_hit: float  # probability that a later call reuses the cached prefix
    strength: float  # multiplies a task's pass probability
    context: int  # context window; the agent compacts its history near it


MODELS: dict[str, Model] = {
    "gpt-4o": Model(1.0, 80.0, 0.85, 1.0, 128_000),
    "gpt-4o-mini": Model(0.7, 110.0, 0.85, 0.7, 128_000),
    "claude-sonnet-4": Model(1.15, 70.0, 0.8, 1.15, 200_000),
    "llama-3.1-70b": Model(1.25, 50.0, 0.55, 0.75, 128_000),
}


@dataclass(frozen=True)
class Tool:
    median_ms: float
    sigma: float
    output_tokens: float  # median tokens the result adds to the context
    artifact: tuple[str, ...]  # artifact kinds the tool may attach
    artifact_p: float
    error_codes: tuple[str, ...]  # error_code of a ToolError
    timeout_ms: float


TOOLS: dict[str, Tool] = {
    "search": Tool(300, 0.8, 600, (), 0.0, ("429", "502"), 10_000),
    "read_file": Tool(25, 1.0, 1500, (), 0.0, ("ENOENT", "EACCES"), 5_000),
    "edit_file": Tool(40, 0.9, 120, ("diff",), 0.75, ("EPATCH", "ENOENT"), 5_000),
    "run_tests": Tool(9000, 0.9, 900, ("stdout", "stderr"), 0.7, ("1", "2"), 120_000),
    "bash": Tool(600, 1.3, 350, ("stdout", "stderr"), 0.5, ("1", "127", "137"), 60_000),
    "browser": Tool(2500, 0.8, 2500, ("screenshot",), 0.5, ("403", "404", "ERR_TIMED_OUT"), 30_000),
    "sql_query": Tool(400, 1.1, 400, ("stdout",), 0.2, ("42P01", "57014"), 30_000),
    "search_kb": Tool(250, 0.6, 700, (), 0.0, ("503",), 10_000),
    "lookup_order": Tool(150, 0.7, 250, (), 0.0, ("404", "500"), 10_000),
    "create_ticket": Tool(450, 0.6, 80, (), 0.0, ("400", "500"), 10_000),
    "send_email": Tool(700, 0.7, 40, (), 0.0, ("550", "500"), 15_000),
}

BENCHMARKS: dict[str, tuple[str, int]] = {
    # name: (task id style, pool size)
    "swe-bench-lite": ("swe", 24),
    "humaneval": ("humaneval", 30),
    "gaia": ("gaia", 20),
    "hotpotqa": ("hotpot", 30),
}


@dataclass(frozen=True)
class AppProfile:
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
    repeat_args: float = 0.5  # probability a repeated tool repeats its arguments too: a loop


PROFILES: dict[str, AppProfile] = {
    "support-bot": AppProfile(
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
    "code-agent": AppProfile(
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
    "research-agent": AppProfile(
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

FILES = (
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
COMMANDS = ("pip install -e .", "git status", "ls -la src", "python -m mypy src", "git diff")
URLS = (
    "https://arxiv.org/abs/2203.15556",
    "https://en.wikipedia.org/wiki/Boston_Public_Library",
    "https://www.iea.org/reports/global-ev-outlook-2024",
    "https://docs.python.org/3/library/asyncio.html",
    "https://github.com/vllm-project/vllm/issues",
)
SQL = (
    "SELECT status, count(*) FROM orders WHERE customer_id = $1 GROUP BY 1",
    "SELECT * FROM refunds WHERE order_id = $1",
    "SELECT country, sum(gwh) FROM battery_production GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
)
AGENT_ERRORS: tuple[tuple[str, str | None, str], ...] = (
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


def short_name(app: str) -> str:
    """`code-agent` -> `ca`: session ids stay readable and name their app."""
    parts = [p for p in app.replace("_", "-").split("-") if p]
    short = "".join(p[0] for p in parts if p[0].isalnum()).lower()
    return short or "app"


def profiles_for(apps: tuple[str, ...]) -> dict[str, AppProfile]:
    """Known apps get their own profile; any other name borrows one in turn (by position)."""
    templates = list(PROFILES.values())
    return {app: PROFILES.get(app, templates[i % len(templates)]) for i, app in enumerate(apps)}


@dataclass(frozen=True)
class Task:
    task_id: str
    difficulty: float  # pass probability for a model of strength 1.0
    weight: float  # how often the task is drawn: popular tasks get several attempts


def task_pools(seed: int) -> dict[str, tuple[Task, ...]]:
    """Fixed per seed, not per day, so the same tasks come back every day and across runs."""
    rng = random.Random(f"trajectory-synth:{seed}:tasks")
    pools: dict[str, tuple[Task, ...]] = {}
    for bench, (style, size) in BENCHMARKS.items():
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
            Task(tid, rng.betavariate(1.3, 1.4), 1.0 / (i + 1) ** 0.7) for i, tid in enumerate(ids)
        )
    return pools


class EvalRuns:
    """Which tasks each of a day's eval runs attempts: a small subset of the benchmark's pool
    (popular tasks more likely), each attempted several times as pass@k harnesses do, so a
    (benchmark, model, run) group has repeated tasks and pass@1 differs from the pass rate."""

    def __init__(
        self, seed: int, day: datetime.date, pools: dict[str, tuple[Task, ...]], sessions: int
    ) -> None:
        self.seed = seed
        self.day = day
        self.pools = pools
        self.size = max(4, sessions // 40)
        self.cache: dict[tuple[str, int], tuple[Task, ...]] = {}

    def tasks(self, bench: str, run: int) -> tuple[Task, ...]:
        key = (bench, run)
        if key not in self.cache:
            rng = random.Random(f"trajectory-synth:{self.seed}:{self.day}:{bench}:{run}:tasks")
            pool = self.pools[bench]
            # weighted sampling without replacement (Efraimidis-Spirakis keys)
            keyed = sorted(pool, key=lambda t: rng.random() ** (1.0 / t.weight), reverse=True)
            self.cache[key] = tuple(keyed[: min(len(pool), self.size)])
        return self.cache[key]
