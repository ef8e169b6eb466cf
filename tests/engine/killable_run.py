"""Run `sessionize` for one day in this process and SIGKILL it at a chosen point.

Usage: python -m tests.engine.killable_run LAKE DAY POINT, POINT one of
  none     run to the end, print a JSON summary
  batches  after the third batch has been staged
  staged   after every batch is staged, before the commit intent is written
  intent   after the commit intent is written, before any table is committed
  commit   after the first table (sessions) is committed, before its siblings
The fault is injected from outside the package, by wrapping the functions at those points.
It runs `sessionize` under another version than the library's, so that it recomputes a day the
library's version already committed (same rows, another attempt).
"""

import json
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

import trajectory_assets.engine.commit as commit
import trajectory_assets.engine.execute as execute
import trajectory_assets.lake.delta_commit as delta_commit
from tests.lakes import SMALL_BATCHES
from tests.runs import run_one
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.engine.settings import RunSettings
from trajectory_assets.lake import staging
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import Sessionize


class Rerun(Sessionize):
    version = Sessionize.version + "-rerun"


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def after_calls(fn: Callable[..., Any], n: int) -> Callable[..., Any]:
    calls = 0

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        result = fn(*args, **kwargs)
        calls += 1
        if calls == n:
            die()
        return result

    return wrapped


def before(fn: Callable[..., Any]) -> Callable[..., Any]:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        die()
        return fn(*args, **kwargs)

    return wrapped


def main() -> None:
    lake_uri, day, point = sys.argv[1:4]
    # each replaces the name the engine module looks up when it calls it
    if point == "batches":
        setattr(execute, "stage_batch", after_calls(staging.stage_batch, 3))  # noqa: B010
    elif point == "staged":
        setattr(commit, "write_intent", before(staging.write_intent))  # noqa: B010
    elif point == "intent":
        setattr(commit, "write_intent", after_calls(staging.write_intent, 1))  # noqa: B010
    elif point == "commit":
        setattr(delta_commit, "commit_day", after_calls(delta_commit.commit_day, 1))  # noqa: B010
    result = run_one(
        Rerun(), Lake(lake_uri), [day], InlineRuntime(1), settings=RunSettings(SMALL_BATCHES)
    )
    summary = result.days[day]
    print(json.dumps({"batches": summary.batches, "reused": summary.reused_batches}))


if __name__ == "__main__":
    main()
