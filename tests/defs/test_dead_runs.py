"""A run whose process died outside Dagster (its container restarted, SIGKILL) stayed STARTED
for good with the default run launcher, holding the pool's slot: every later run queued."""

import socket
import subprocess
from pathlib import Path

import dagster as dg
import pytest

import trajectory_assets as ta
from tests.cli.helpers import new_dagster_home
from tests.dagster_assets import assets_of, inline_resources
from tests.lakes import DAY1
from trajectory_assets.defs.assets import POOL
from trajectory_assets.defs.dead_runs import WORKER_TAG, fail_dead_runs, worker
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.wal_owners import this_machine
from trajectory_assets.processes import ended, this_process_started


def _ended_process() -> str:
    killed = subprocess.Popen(["sleep", "60"])
    killed.kill()
    killed.wait()
    return f"{socket.gethostname()}:{killed.pid}:123"


def _started(
    instance: dg.DagsterInstance, run_id: str, worker: str, machine: str = this_machine()
) -> None:
    run = dg.DagsterRun(
        job_name="tier_b_job",
        run_id=run_id,
        status=dg.DagsterRunStatus.STARTED,
        tags={WORKER_TAG: f"{run_id} {worker} {machine}", "dagster/partition": DAY1},
    )
    instance.add_run(run)
    storage = instance.event_log_storage
    storage.initialize_concurrency_limit_to_default(POOL)
    storage.claim_concurrency_slot(POOL, run_id, "tier_b")


def test_a_run_whose_process_ended_fails_and_frees_the_pool(tmp_path: Path) -> None:
    home = new_dagster_home(tmp_path / "home")
    me = this_process_started()
    host, pid, _start = me.split(":")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        dead = _ended_process()
        _started(instance, "dead", dead)
        gone = dead.rsplit(":", 1)[0]
        assert fail_dead_runs(instance) == [
            f"run dead failed: its process ({gone}) ended outside Dagster"
        ]
        failed = instance.get_run_by_id("dead")
        assert failed is not None and failed.status == dg.DagsterRunStatus.FAILURE
        assert not instance.event_log_storage.get_concurrency_info(POOL).claimed_slots
        _started(instance, "reused", f"{host}:{pid}:not-its-start")  # a later process's id
        _started(instance, "live", me)  # this very process: running
        _started(instance, "elsewhere", "another-host:1:2")  # another machine's: not judged
        _started(instance, "twin", _ended_process(), machine="other-boot ns")  # its host name
        retried = dg.DagsterRun(  # a retry of a dead run copies its tags, the process too
            job_name="tier_b_job",
            run_id="retry",
            status=dg.DagsterRunStatus.STARTING,
            tags={WORKER_TAG: f"dead {dead} {this_machine()}"},
        )
        instance.add_run(retried)
        said = fail_dead_runs(instance)
        assert said == [f"run reused failed: its process ({host}:{pid}) ended outside Dagster"]
        statuses = {r.run_id: r.status for r in instance.get_runs()}
        assert statuses["live"] == statuses["elsewhere"] == dg.DagsterRunStatus.STARTED
        assert statuses["twin"] == dg.DagsterRunStatus.STARTED
        assert statuses["retry"] == dg.DagsterRunStatus.STARTING


def test_a_command_waiting_for_the_pool_frees_a_dead_daemon_run(tmp_path: Path) -> None:
    """`materialize` waited for a dead daemon run's slot ("a run killed on another machine
    holds it until it is terminated"): only a command's own runs named their process."""
    from trajectory_assets.cli.pool import wait_for_pool

    home = new_dagster_home(tmp_path / "home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _started(instance, "dead", _ended_process())
        wait_for_pool(instance, POOL)  # at once
        failed = instance.get_run_by_id("dead")
        assert failed is not None and failed.status == dg.DagsterRunStatus.FAILURE


def test_a_run_names_the_process_its_steps_run_in(lake: Lake) -> None:
    """The in-process executor's run is its steps' process: what the sensor watches."""
    defs = ta.build_definitions(ta.BUILTIN_OPERATORS, name="tier_b", report=True)
    instance = dg.DagsterInstance.ephemeral()
    keys = ["sessions", "daily_report"]
    result = dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.assets(*keys).upstream(),
        partition_key=DAY1,
        resources=inline_resources(lake),
        instance=instance,
    )
    assert result.success
    run = instance.get_run_by_id(result.run_id)
    assert run is not None and worker(run) == this_process_started()


def test_a_process_whose_start_cannot_be_read_is_not_taken_for_ended(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """/proc mounted with hidepid: a live process's start unreadable read as another process
    given its id, and a healthy run was failed."""
    me = this_process_started()
    assert not ended(me)
    monkeypatch.setattr("trajectory_assets.processes._started", lambda pid: "")
    assert not ended(me)


def test_each_location_fails_its_own_runs(tmp_path: Path) -> None:
    """The sensors of two code locations failed one dead run at the same tick, twice."""
    from dagster._core.remote_origin import (
        GrpcServerCodeLocationOrigin,
        RemoteJobOrigin,
        RemoteRepositoryOrigin,
    )

    location = GrpcServerCodeLocationOrigin(host="localhost", port=4000, location_name="team")
    repository = RemoteRepositoryOrigin(location, "__repository__")
    home = new_dagster_home(tmp_path / "home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        dead = _ended_process()
        run = dg.DagsterRun(
            job_name="team_daily",
            run_id="teams",
            status=dg.DagsterRunStatus.STARTED,
            tags={WORKER_TAG: f"teams {dead} {this_machine()}"},
            remote_job_origin=RemoteJobOrigin(repository, "team_daily"),
        )
        instance.add_run(run)
        assert fail_dead_runs(instance, "tier_b_location") == []  # another location's
        assert len(fail_dead_runs(instance, "team")) == 1


def test_a_run_killed_while_it_waited_for_the_pool_leaves_no_place_in_its_queue(
    tmp_path: Path,
) -> None:
    """A run killed while its step waited for the slot kept its place in Dagster's queue: the
    slot, given back, went to that step, which no process would take, and every later
    `materialize` waited behind it for good (a core spinning, SIGTERM unheeded)."""
    from trajectory_assets.cli.pool import wait_for_pool

    home = new_dagster_home(tmp_path / "home")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _started(instance, "holder", this_process_started())  # this process: alive
        _started(instance, "waiter", _ended_process())  # queued behind it, then killed
        storage = instance.event_log_storage
        queue = storage.get_concurrency_info(POOL).pending_steps
        assert [(s.run_id, bool(s.assigned_timestamp)) for s in queue] == [
            ("holder", True),
            ("waiter", False),
        ]
        storage.free_concurrency_slots_for_run("holder")  # the holder ends: the slot goes on
        wait_for_pool(instance, POOL)  # at once, the dead waiter's place given back
        info = storage.get_concurrency_info(POOL)
        assert not info.pending_steps and not info.claimed_slots
        failed = instance.get_run_by_id("waiter")
        assert failed is not None and failed.status == dg.DagsterRunStatus.FAILURE
        assert storage.claim_concurrency_slot(POOL, "next", "tier_b").is_claimed
