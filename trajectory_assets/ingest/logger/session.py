"""The caller's per-session helpers, `Session`: one method per Tier A event type, filling its
columns, each a call of `EventLogger.log`, so they never raise either.
"""

import asyncio
import math
import numbers
import sys
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, Literal, Protocol, get_args

from trajectory_assets.ingest.logger.turns import SessionTurns
from trajectory_assets.ingest.logger.usage import usage_counts, with_counts

Outcome = Literal["kept", "eliminated", "scored"]
DECISION_OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
INVALID = object()
"""What `_verdict` returns for a `passed` that is no verdict."""


def _verdict(passed: Any) -> Any:
    """True, False or None; numpy's bool (no `bool` subclass) and a number 1 or 0 as a bool;
    anything else INVALID, a whole column (`df["passed"]`, whose truth is ambiguous) too: the
    logger never raises."""
    if passed is None or isinstance(passed, bool):
        return passed
    if getattr(passed, "ndim", 0) != 0:
        return INVALID
    if type(passed).__name__ == "NAType" or (isinstance(passed, float) and math.isnan(passed)):
        return None  # a DataFrame's missing verdict: no verdict, as None is
    try:
        if getattr(getattr(passed, "dtype", None), "kind", None) == "b" or (
            isinstance(passed, numbers.Real) and passed in (0, 1)
        ):
            return bool(passed)
    except (TypeError, ValueError):
        return INVALID
    return INVALID


class Recorder(Protocol):
    """What the helpers need of the logger that made them (`api.EventLogger`): its module
    imports this one, never the other way round."""

    @property
    def turns(self) -> SessionTurns: ...

    @property
    def log(self) -> Callable[..., str | None]: ...

    def _invalid(self, reason: str) -> None: ...


STOPPED_FROM_OUTSIDE = (asyncio.CancelledError, KeyboardInterrupt, GeneratorExit)
"""What ends a session's block without the agent failing: a task cancelled (the client went
away, an `asyncio.wait_for` timed out), Ctrl+C, a generator closed. The session is `abandoned`,
with no error: counted as failures, they raised error rates with what no agent did."""


class Session:
    """Helpers that fill the columns of each Tier A event type for one session.

    Methods return the event id (None if the event was dropped). `turn_index` defaults to the
    handle's current turn, which `next_turn()` sets to the session's next (`turns`: handles of
    one session share its numbers); session-level events carry no turn.
    """

    def __init__(
        self,
        logger: Recorder,
        session_id: str,
        agent_id: str | None = None,
        turn: int | None = None,
    ):
        self.logger = logger
        self.id = session_id
        self.agent_id = agent_id
        self.turn = logger.turns.take(session_id, turn)
        self.ended = False
        self._logged_error: BaseException | None = None  # the exception an `error()` was in

    def next_turn(self) -> int:
        self.turn = self.logger.turns.take(self.id)
        return self.turn

    def _log(self, event_type: str, turn: bool, **fields: Any) -> str | None:
        if turn and fields.get("turn_index") is None:
            fields["turn_index"] = self.turn
        if fields.get("agent_id") is None:
            fields["agent_id"] = self.agent_id
        return self.logger.log(self.id, event_type, **fields)

    def start(self, payload: Mapping[str, Any] | None = None, **fields: Any) -> str | None:
        return self._log("session_start", False, payload=payload, **fields)

    def user_message(self, text: str | None = None, **fields: Any) -> str | None:
        payload = fields.pop("payload", None) or ({"text": text} if text is not None else None)
        return self._log("user_message", True, payload=payload, **fields)

    def agent_message(self, text: str | None = None, **fields: Any) -> str | None:
        payload = fields.pop("payload", None) or ({"text": text} if text is not None else None)
        return self._log("agent_message", True, payload=payload, **fields)

    def llm_call(
        self,
        model: str | None,
        *,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_tokens: int | None = None,
        latency_ms: float | None = None,
        ttft_ms: float | None = None,
        usage: Any = None,
        **fields: Any,
    ) -> str | None:
        """`input_tokens`: every input token, the cached ones (`cache_tokens`) and those written
        to the cache (`payload={"cache_write_tokens": n}`) included: Anthropic's usage counts
        them apart. `usage`: the provider's usage record as it comes (Anthropic's, OpenAI's,
        Gemini's or Bedrock's; the SDK's object or its JSON), for the counts not given, added up
        as Tier A counts them."""
        if usage is not None:
            try:
                counts = usage_counts(usage)
            except (TypeError, ValueError) as exc:  # never raises: counted, named
                self.logger._invalid(f"llm_call usage not understood: {exc}")
                return None
            input_tokens = counts.input_tokens if input_tokens is None else input_tokens
            output_tokens = counts.output_tokens if output_tokens is None else output_tokens
            cache_tokens = counts.cache_tokens if cache_tokens is None else cache_tokens
            if kept := counts.payload_counts():
                fields["payload"] = with_counts(fields.get("payload"), kept)
        return self._log(
            "llm_call",
            True,
            model=model,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_tokens=cache_tokens,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            **fields,
        )

    def tool_call(
        self,
        tool_name: str,
        *,
        arguments: Any = None,
        latency_ms: float | None = None,
        error_type: str | None = None,
        **fields: Any,
    ) -> str | None:
        """`arguments` (any JSON value) go to the payload's `arguments`, which the loop columns
        compare: the same tool with the same arguments again is a repeat."""
        if arguments is not None:
            payload = fields.pop("payload", None)
            extra = payload if isinstance(payload, Mapping) else {}
            fields["payload"] = {**extra, "arguments": arguments}
        return self._log(
            "tool_call",
            True,
            tool_name=tool_name,
            tool_latency_ms=latency_ms,
            error_type=error_type,
            **fields,
        )

    def error(self, error_type: str, message: str | None = None, **fields: Any) -> str | None:
        payload = fields.pop("payload", None) or {"message": message}
        self._logged_error = sys.exc_info()[1]  # in its handler: the block's exit logs it not again
        return self._log("error", True, error_type=error_type, payload=payload, **fields)

    def decision(
        self,
        step: str,
        item_id: str,
        outcome: Outcome | str,
        score: float | None = None,
        reason: str | None = None,
        **fields: Any,
    ) -> str | None:
        """`outcome` is one of SPEC's three, case and surrounding spaces aside (`Kept`, written
        `kept`, as the tables read it): another would be counted in no column of
        `decision_steps`, so it is left out as invalid, like any event no table can use."""
        written = outcome.strip().lower() if isinstance(outcome, str) else None  # a column too
        if written not in DECISION_OUTCOMES:
            self.logger._invalid(f"decision outcome {outcome!r} is not one of {DECISION_OUTCOMES}")
            return None
        payload = {"step": step, "item_id": item_id, "outcome": written, "score": score}
        if reason is not None:
            payload["reason"] = reason
        return self._log("decision", True, payload=payload, **fields)

    def eval_result(
        self,
        benchmark: str,
        task_id: str,
        passed: bool | None,
        score: float | None = None,
        run_id: str | None = None,
        model: str | None = None,
        **fields: Any,
    ) -> str | None:
        """One attempt at an eval task. `passed` is True, False or None (no verdict: a graded
        task, judged by `score`; `eval_runs.pass_rate` counts it as not passed, `mean_score`
        averages the scores); numpy's bools and a number 1 or 0 (`1.0`, from a DataFrame) are
        taken as True and False, as the tables read them from files. Anything else ("pass",
        0.5) would be read as no verdict without a word, so it is left out and counted
        `invalid`. `model` is the model under test (`unknown` without one)."""
        verdict = _verdict(passed)
        if verdict is INVALID:
            self.logger._invalid(f"eval_result passed {passed!r} is not True, False or None")
            return None
        payload = {
            "benchmark": benchmark,
            "task_id": task_id,
            "run_id": run_id,
            "passed": verdict,
            "score": score,
        }
        return self._log("eval_result", False, payload=payload, model=model, **fields)

    def end(self, status: str = "success", **fields: Any) -> str | None:
        self.ended = True
        self.logger.turns.forget(self.id)
        extra = fields.pop("payload", None)
        payload = {**extra, "status": status} if isinstance(extra, Mapping) else {"status": status}
        return self._log("session_end", False, payload=payload, **fields)

    def __enter__(self) -> "Session":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.ended:
            return
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            self.end("success")  # sys.exit(0) ends a program that did what it should
        elif isinstance(exc, STOPPED_FROM_OUTSIDE):
            self.end("abandoned", payload={"stopped_by": type(exc).__name__})
        else:
            if not _same(exc, self._logged_error):
                self.error(type(exc).__name__, str(exc))
            self.end("failure")


def _same(leaving: BaseException, logged: BaseException | None) -> bool:
    """The exception leaving the block is the one `error()` was logged in: itself, or (an
    `except*` handler sees a group of its own) a group of the same exceptions."""
    if logged is None or leaving is logged:
        return leaving is logged
    if isinstance(leaving, BaseExceptionGroup) and isinstance(logged, BaseExceptionGroup):
        return {id(e) for e in _leaves(logged)} <= {id(e) for e in _leaves(leaving)}
    return False


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for inner in group.exceptions:
        found += _leaves(inner) if isinstance(inner, BaseExceptionGroup) else [inner]
    return found
