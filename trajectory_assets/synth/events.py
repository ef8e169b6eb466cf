"""One session's events, one method per event kind: how each is drawn from the catalogues.

`Session` holds what a session carries from one event to the next (its clock, the context
size, the previous llm call, the rows so far); `sessions.build_session` decides which events
happen, turn by turn, and calls these methods in that order. Every draw comes from the one
`rng` passed in, in a fixed order, which is what keeps a seed's output byte-identical.
"""

import json
import math
import random
from typing import Any

from trajectory_assets.synth.profiles import (
    AGENT_ERRORS,
    COMMANDS,
    FILES,
    MODELS,
    SQL,
    TOOLS,
    URLS,
    AppProfile,
    EvalRuns,
)

Row = dict[str, Any]

US_PER_MS = 1000


def lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


def weighted(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class Session:
    """One session being drawn, in time order: `seq` is the emission order, ts never goes back,
    and the cursor advances by each call's latency plus framework overhead and think time.
    """

    def __init__(
        self,
        rng: random.Random,
        app: str,
        profile: AppProfile,
        session_id: str,
        start_us: int,
        day_tag: str,
        evals: EvalRuns,
    ) -> None:
        self.rng = rng
        self.app = app
        self.p = profile
        self.sid = session_id
        self.cursor = start_us
        self.day_tag = day_tag
        self.evals = evals
        self.rows: list[Row] = []
        self.model = weighted(rng, profile.models)
        self.ctx = int(lognormal(rng, profile.system_tokens, 0.2))
        self.system = self.ctx
        self.prev_llm_input: int | None = None
        self.prev_llm_end: int | None = None
        self.prev_args: dict[str, Any] = {}
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
        self.cursor += max(1, int(ms * US_PER_MS))

    def overhead(self) -> None:
        """Framework time between two events: a few ms, sometimes tens."""
        self.advance_ms(lognormal(self.rng, 8.0, 0.9))

    def agent(self, planning: bool) -> str:
        return self.p.agents[0] if planning else self.p.agents[-1]

    # -- calls ---------------------------------------------------------------------------------

    def llm_call(self, turn: int, planning: bool, allow_error: bool = True) -> None:
        rng = self.rng
        model = self.model if rng.random() > 0.1 else weighted(rng, self.p.models)
        spec = MODELS.get(model, MODELS["gpt-4o"])
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
                etype, code, latency = "RateLimitError", "429", lognormal(rng, 120, 0.5)
            else:
                etype, code = "APIError", rng.choice(("500", "500", "503"))
                latency = lognormal(rng, 1500, 1.2)
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
                payload=dumps({"attempt": 1}),
            )
            self.cursor = max(self.cursor, ts + int(latency * US_PER_MS))
            self.advance_ms(lognormal(rng, 1500, 0.7))  # client backoff, then a clean retry
            self.llm_call(turn, planning, allow_error=False)
            return

        output = min(8192, max(1, int(lognormal(rng, 200, 0.8))))
        ttft = lognormal(rng, 400 * spec.ttft_scale, 0.55)
        if rng.random() < 0.03:  # queueing / cold start: the 10 s+ tail
            ttft += lognormal(rng, 3000, 0.8)
        ttft += input_tokens * 0.008  # prefill grows with the prompt
        speed = spec.tokens_per_s * lognormal(rng, 1.0, 0.25)
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
        self.cursor = max(self.cursor, ts + int(latency * US_PER_MS))
        self.prev_llm_end = self.cursor
        self.ctx += output
        self.iterations += 1

    def tool_args(self, tool: str) -> dict[str, Any]:
        rng = self.rng
        if tool in ("search", "search_kb"):
            return {"query": rng.choice(self.p.queries or ("query",)), "k": rng.choice((5, 10, 20))}
        if tool == "read_file":
            return {"path": rng.choice(FILES)}
        if tool == "edit_file":
            return {"path": rng.choice(FILES), "lines_changed": rng.randint(1, 60)}
        if tool == "run_tests":
            return {"target": rng.choice(("tests/", "tests/test_api.py", "tests/test_models.py"))}
        if tool == "bash":
            return {"cmd": rng.choice(COMMANDS)}
        if tool == "browser":
            return {"url": rng.choice(URLS), "action": rng.choice(("open", "scroll", "click"))}
        if tool == "sql_query":
            return {"query": rng.choice(SQL)}
        if tool == "lookup_order":
            return {"order_id": f"ord-{rng.randint(100000, 999999)}"}
        if tool == "create_ticket":
            return {"priority": rng.choice(("low", "normal", "high")), "queue": "tier2"}
        if tool == "send_email":
            return {"template": rng.choice(("refund_confirmation", "password_reset", "followup"))}
        return {}

    def tool_call(self, turn: int, tool: str, *, same_args: bool = False) -> None:
        """`same_args`: the call repeats the previous one exactly (the caller's loop)."""
        rng = self.rng
        args = self.prev_args if same_args else self.tool_args(tool)
        self.prev_args = args
        spec = TOOLS.get(tool, TOOLS["search"])
        latency = lognormal(rng, spec.median_ms, spec.sigma)
        etype: str | None = None
        code: str | None = None
        if rng.random() < 0.03:
            if rng.random() < 0.35:
                etype, code = "ToolTimeout", "timeout"
                latency = spec.timeout_ms + lognormal(rng, 20, 0.5)
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
            payload=dumps({"arguments": args}),
            artifacts=artifacts,
        )
        self.advance_ms(latency)
        self.ctx += 60 if etype else int(lognormal(rng, spec.output_tokens, 0.9))
        self.iterations += 1

    def error_event(self, turn: int) -> None:
        rng = self.rng
        etype, code, template = rng.choice(AGENT_ERRORS)
        window = 128_000  # a context window the prompt went past
        too_long = max(self.ctx, window) + rng.randint(1, 5000)
        message = template.format(n=too_long, m=window, k=self.iterations)
        r = rng.random()
        if r < 0.06:
            payload: str | None = dumps({"detail": "unhandled exception", "retryable": False})
        elif r < 0.1:
            payload = None
        else:
            payload = dumps({"message": message})
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
                payload=dumps(
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
        self.advance_ms(lognormal(rng, 350, 0.5))  # the cross-encoder pass
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
                payload=dumps(
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
        self.advance_ms(lognormal(rng, 5, 0.5))
        n_select = rng.randint(1, min(3, len(kept))) if kept else 0
        for rank, (score, item) in enumerate(kept):
            keep = rank < n_select
            reason = "cited in answer" if keep else rng.choice(("redundant", "low relevance"))
            self.emit(
                "decision",
                turn_index=turn,
                agent_id=agent,
                payload=dumps(
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
        bench = weighted(rng, self.p.benchmarks)
        run = rng.choices((1, 2, 3), (0.6, 0.3, 0.1))[0]
        task = rng.choice(self.evals.tasks(bench, run))
        strength = MODELS.get(self.model, MODELS["gpt-4o"]).strength
        passed = not failed and rng.random() < min(0.97, task.difficulty * strength)
        score = 1.0 if passed else round(rng.uniform(0.0, 0.9), 4)
        payload: dict[str, Any] = {"benchmark": bench, "task_id": task.task_id}
        if rng.random() > 0.05:  # sometimes the harness forgets the run id
            payload["run_id"] = f"run-{self.day_tag}-{run}"
        payload.update(passed=passed, score=score)
        self.advance_ms(lognormal(rng, 8000, 0.8))  # grading: the hidden tests run
        self.emit(
            "eval_result",
            model=self.model if rng.random() > 0.05 else None,
            payload=dumps(payload),
        )
