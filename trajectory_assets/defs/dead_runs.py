"""Runs whose process died outside Dagster (its container restarted, SIGKILL, out of memory):
Dagster's run monitoring cannot tell with the default run launcher, which reports no worker
health, so such a run stayed STARTED for good, holding the pool's one slot, and every later
run queued behind it until someone terminated it by hand. Each run's step names its process
(`WORKER_TAG`); the raw-changes sensor and the command line fail a run whose process of their
machine has ended (run retries then launch it again) and free its slot."""

import multiprocessing

import dagster as dg

from trajectory_assets.defs.stops import PROCESS_TAG
from trajectory_assets.lake.wal_owners import this_machine
from trajectory_assets.processes import ended, this_process_started

WORKER_TAG = "trajectory_assets/worker"  # "<run id> host:pid:start <machine>" of the process
# running the run's step: a retry of the run, which copies its tags, is not taken for the dead
# one, nor a process of another machine of the same host name (another pid namespace)
IN_FLIGHT = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED]
"""A run CANCELING is Dagster's: its monitoring ends it after `cancel_timeout_seconds`."""


def worker_tags(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The tag a step adds to its run, naming the process that runs it when that is the run's
    own: under the in-process executor (the project's; the run worker the default launcher
    starts is a multiprocessing child of the code server), or in a process no multiprocessing
    started (a command's or a notebook's `execute_in_process`); none for a step in a child of
    the run (the multiprocess executor's), which ends while the run goes on."""
    in_process = context.job_def.executor_def.name == dg.in_process_executor.name
    if not in_process and multiprocessing.parent_process() is not None:
        return {}
    return {WORKER_TAG: f"{context.run.run_id} {this_process_started()} {this_machine()}"}


def worker(run: dg.DagsterRun) -> str:
    """`host:pid:start` of the process the run's own step named on this machine; '' when it
    named none, or one of another machine."""
    named_by, _, rest = run.tags.get(WORKER_TAG, "").partition(" ")
    process, _, machine = rest.partition(" ")
    same = named_by == run.run_id and machine == this_machine() != ""
    return process if same else ""


def worker_ended(run: dg.DagsterRun) -> bool:
    """The run's step ran in a process of this machine that has ended."""
    return ended(worker(run))


def fail_dead_runs(instance: dg.DagsterInstance, location: str | None = None) -> list[str]:
    """Fail the runs in flight whose step's process of this machine has ended, freeing their
    pool slots; a line for each. `location`: the code location judging, which leaves another
    location's runs to that one's sensor (two sensors failed one run, at the same tick, twice)."""
    said = []
    for listed in instance.get_runs(filters=dg.RunsFilter(statuses=IN_FLIGHT)):
        origin = listed.remote_job_origin
        if location and origin is not None and origin.location_name != location:
            continue
        if not worker_ended(listed):
            continue
        run = instance.get_run_by_id(listed.run_id)  # its process gone, its end is stored:
        if run is None or run.is_finished:  # a run that ended meanwhile keeps its status
            continue
        process = fail_dead_run(instance, run)
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        said.append(f"run {run.run_id} failed: its process ({process}) ended outside Dagster")
    return said


def fail_dead_run(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """Record the run failed, its process gone (run retries launch it again); that process,
    `host:pid`, as the command that ran it (`PROCESS_TAG`) or its step named it."""
    named = run.tags.get(PROCESS_TAG) or worker(run)
    process = ":".join(named.split(":")[:2])
    ended_how = "a restart, a kill, out of memory"
    instance.report_run_failed(run, f"its process ({process}) ended outside Dagster: {ended_how}")
    return process
