"""Waiting for the instance's pool slot before a run starts.

Every Tier B step runs in one pool of one slot per instance. Dagster waits for the slot inside
the run, where Ctrl+C and SIGTERM are deferred until the step starts (and its wait spins a core),
so the command waits here first, where Ctrl+C stops it at once. A slot held by a run of this
machine whose process is gone (killed outside Dagster, it never gave the slot back) is freed and
that run marked failed, as Dagster's daemon would do; a command line without the daemon would
otherwise wait forever. So is the place in Dagster's queue of a run killed while it waited: the
slot, once given back, went to that run's step, which no process would ever take, and every
later run waited behind it for good.
"""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import dagster as dg

from trajectory_assets.cli.common import tell
from trajectory_assets.defs.dead_runs import fail_dead_run, worker_ended
from trajectory_assets.defs.stops import PROCESS_TAG
from trajectory_assets.processes import gone, this_process

if TYPE_CHECKING:
    from dagster._core.storage.event_log.base import EventLogStorage

HOLDER_PREFIX = "command "  # the slot's holder is a command itself: "command host:pid"
POLL_S = 1.0


def wait_for_pool(instance: dg.DagsterInstance, pool: str) -> None:
    """Return once the pool has a free slot (at once when it has one, or no limit)."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits:
        return
    if _limit(storage, pool) is None:
        tell(
            f"note: this Dagster instance sets no limit for the {pool} pool, so runs of the lake "
            "may write at once and forget may delete files under a run: "
            f"`dagster instance concurrency set {pool} 1` sets one (or `concurrency: pools: "
            "default_limit: 1` in DAGSTER_HOME/dagster.yaml, as the project's own settings do)"
        )
        return
    waiting_for: set[str] = set()
    freed: set[str] = set()  # once each: a place the storage kept would be freed for good
    while True:
        info = storage.get_concurrency_info(pool)
        if info.limit is None:
            return
        claimed = {slot.run_id for slot in info.claimed_slots}
        queued = {step.run_id for step in info.pending_steps}  # the holders' steps too
        dead = [r for r in sorted((claimed | queued) - freed) if _gone(instance, r)]
        for run_id in dead:  # its slot, or its place in the queue (given the slot next)
            freed.add(run_id)
            storage.free_concurrency_slots_for_run(run_id)
            what = "slot" if run_id in claimed else "place in the queue"
            tell(f"freed the {pool} pool's {what} of {_named(run_id)}, whose process is gone")
        if dead:
            continue
        if len(info.claimed_slots) < info.limit:
            return
        holders = sorted(claimed)
        if set(holders) != waiting_for:
            waiting_for = set(holders)
            named = ", ".join(map(_named, holders))
            tell(
                f"waiting for the {pool} pool: {named} of this instance holds its slot (one step "
                "at a time); Ctrl+C stops waiting. A run killed on another machine holds it "
                "until it is terminated (the UI: Runs, that run, Terminate); a command killed on "
                "another machine, until its slot is freed (GraphQL: freeConcurrencySlotsForRun "
                "with its id, `command host:pid`)"
            )
        time.sleep(POLL_S)


@contextmanager
def holding_pool(instance: dg.DagsterInstance, pool: str, why: str) -> Iterator[None]:
    """Hold the pool's slot while the command changes what runs read or write (`forget`
    deleting raw files, or files no table version references): a run in flight ends first, and
    none starts before the block ends. The holder is this process, not a run: a later command
    frees the slot if the process is killed before it gives it back."""
    storage = instance.event_log_storage
    if not storage.supports_global_concurrency_limits or _limit(storage, pool) is None:
        yield
        return
    holder = f"{HOLDER_PREFIX}{this_process()}"
    try:  # the claim keeps its place in Dagster's queue of steps waiting for the slot
        while not storage.claim_concurrency_slot(pool, holder, why).is_claimed:
            wait_for_pool(instance, pool)  # says who holds it, frees a dead holder's slot
            time.sleep(POLL_S)
        yield
    finally:
        storage.free_concurrency_slots_for_run(holder)  # the slot, or the place in the queue


def _limit(storage: "EventLogStorage", pool: str) -> int | None:
    """The pool's limit, set to the instance's default first where the pool has none yet, as a
    run's first step does (None: the instance limits neither)."""
    if pool not in {p.name for p in storage.get_pool_limits()}:
        storage.initialize_concurrency_limit_to_default(pool)
    return storage.get_concurrency_info(pool).limit


def _gone(instance: dg.DagsterInstance, run_id: str) -> bool:
    """The run has finished, or ran in a process of this machine that no longer exists; the
    run, unfinished, is then marked failed."""
    if run_id.startswith(HOLDER_PREFIX):  # a command holding the slot itself
        return gone(run_id.removeprefix(HOLDER_PREFIX))
    run = instance.get_run_by_id(run_id)
    if run is None:
        return False  # not a run of this instance's storage: nothing to judge it by
    if run.is_finished:
        return True
    process = run.tags.get(PROCESS_TAG, "")
    if not gone(process) and not worker_ended(run):  # a command's run, or the daemon's
        return False
    fail_dead_run(instance, run)
    return True


def _named(holder: str) -> str:
    return holder if holder.startswith(HOLDER_PREFIX) else f"run {holder}"
