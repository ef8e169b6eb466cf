"""One writer per (operator, day): a live lease refuses a second writer, a dead one expires."""

import datetime as dt
import json
import subprocess
import sys

import pytest

from tests.lakes import DAY1
from trajectory_assets.engine.job import run_operator
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.lease import LeaseHeldError, acquire, held, release
from trajectory_assets.operators import Sessionize


def test_second_writer_is_refused_with_the_holder_named(tmp_path: object) -> None:
    lake = Lake(str(tmp_path))
    first = acquire(lake, "sessionize", DAY1, "run-A")
    with pytest.raises(LeaseHeldError, match=r"sessionize dt=2026-11-18 is being written by run-A"):
        acquire(lake, "sessionize", DAY1, "run-B")
    release(first)
    second = acquire(lake, "sessionize", DAY1, "run-B")
    assert second.owner == "run-B"


def test_materialization_refuses_while_another_run_holds_the_day(lake: Lake) -> None:
    with held(lake, "sessionize", [DAY1], "someone-else"), pytest.raises(LeaseHeldError):
        run_operator(Sessionize(), lake, [DAY1], InlineRuntime())
    result = run_operator(Sessionize(), lake, [DAY1], InlineRuntime())
    assert result.rows("sessions") == 120


def _write_lease(lake: Lake, **record: object) -> None:
    path = lake.path("_staging", "sessionize", f"dt={DAY1}", "_lease.json")
    lake.fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    lake.fs.pipe_file(path, json.dumps(record).encode())


def test_expired_lease_of_a_dead_writer_is_taken_over(tmp_path: object) -> None:
    lake = Lake(str(tmp_path))
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    _write_lease(lake, owner="ghost", host="elsewhere", pid=1, expires_at=past.isoformat())
    assert acquire(lake, "sessionize", DAY1, "run-B").owner == "run-B"


def test_lease_of_a_killed_process_on_this_host_is_taken_over_before_expiry(
    tmp_path: object,
) -> None:
    lake = Lake(str(tmp_path))
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
    import socket

    _write_lease(
        lake,
        owner="crashed",
        host=socket.gethostname(),
        pid=int(dead.stdout),
        expires_at=future.isoformat(),
    )
    assert acquire(lake, "sessionize", DAY1, "run-B").owner == "run-B"


def test_held_leases_are_released_and_renewed(tmp_path: object) -> None:
    lake = Lake(str(tmp_path))
    with held(lake, "g", [DAY1, "2026-11-19"], "me", ttl_s=0.3) as leases:
        first = json.loads(lake.fs.cat_file(leases[0].path))["renewed_at"]
        import time

        time.sleep(0.5)
        assert json.loads(lake.fs.cat_file(leases[0].path))["renewed_at"] != first
    assert not lake.fs.exists(leases[0].path)
    assert not lake.fs.exists(leases[1].path)
