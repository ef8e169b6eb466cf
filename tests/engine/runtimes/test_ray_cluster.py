"""RayRuntime(address=...) joins an existing cluster (a head and a worker node started with
`ray start`, on loopback), never starts one, and the batches run on the worker node."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.cli.helpers import generate, materialize, new_dagster_home
from tests.lakes import DAY1
from tests.servers import free_port, wait_for_port
from trajectory_assets.lake.fs import Lake

pytestmark = [pytest.mark.slow, pytest.mark.ray]

RAY = str(Path(sys.executable).parent / "ray")
# A private loopback cluster: token auth off (Ray 2.60 turns it on for `ray start`), and no 30 s
# drain when the fixture stops its nodes (a pause meant for Ray Serve replicas).
CLUSTER_ENV = {
    **os.environ,
    "RAY_AUTH_MODE": "disabled",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0",
}


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [RAY, "start", "--block", "--node-ip-address=127.0.0.1", "--disable-usage-stats", *args],
        stdout=open(log, "wb"),
        stderr=subprocess.STDOUT,
        env=CLUSTER_ENV,
        start_new_session=True,
    )


@contextmanager
def _cluster(logs: Path, worker_cpus: int) -> Iterator[str]:
    """A head with no CPUs for work and, with `worker_cpus`, a worker node."""
    port = free_port()
    head = _start(
        ["--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false"],
        logs / "head.log",
    )
    wait_for_port(port, timeout=120)
    nodes = [head]
    if worker_cpus:
        args = [f"--address=127.0.0.1:{port}", f"--num-cpus={worker_cpus}"]
        nodes.insert(0, _start(args, logs / "worker.log"))
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for process in nodes:  # stop exactly what we started, nothing else
            os.killpg(process.pid, signal.SIGTERM)
        for process in nodes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with _cluster(tmp_path_factory.mktemp("ray_cluster"), worker_cpus=2) as address:
        yield address


def _drive(lake: Lake, address: str, *timeout: str) -> dict[str, Any]:
    """The report of `tests.engine.cluster_driver` on the cluster at `address`."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.engine.cluster_driver", lake.root, DAY1, address, *timeout],
        capture_output=True,
        text=True,
        timeout=300,
        env=CLUSTER_ENV,
        cwd=Path(__file__).parents[3],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_a_cluster_without_workers_fails_the_run_instead_of_holding_it(
    lake: Lake, tmp_path: Path
) -> None:
    """Its worker nodes gone, a cluster has no CPU for the batch workers: Ray Data would wait
    for them forever (the run holding its pool slot); the run fails, saying so."""
    with _cluster(tmp_path, worker_cpus=0) as address:
        report = _drive(lake, address, "3")
    assert report["error"].startswith(f"the Ray cluster at {address} has had no CPU for the ")
    assert "for 3 s (its worker nodes gone, or not scaled up)" in report["error"]


def test_batches_run_on_the_clusters_worker_node(lake: Lake, cluster: str) -> None:
    report = _drive(lake, cluster)
    alive = [n for n in report["nodes"] if n["alive"]]
    assert len(alive) == 2, "the driver must join the cluster, not start a Ray of its own"
    assert report["sessions"] == 120
    workers = {n["id"] for n in report["nodes"] if n["alive"] and n["cpus"] > 0}
    head = {n["id"] for n in report["nodes"] if n["alive"] and n["cpus"] == 0}
    assert len(workers) == 1 and len(head) == 1
    assert report["batches"] > 1
    assert set(report["batch_nodes"]) == workers


def test_the_command_line_runs_even_a_small_day_on_the_cluster_it_is_given(
    tmp_path: Path, cluster: str
) -> None:
    """The default `auto` runtime keeps a small day in-process unless a cluster is given: then
    the batches belong on it (a deployment's Dagster process is no place for them)."""
    lake, home = tmp_path / "lake", new_dagster_home(tmp_path / "home")
    generate(lake, home)
    assets = ("--partition", DAY1, "--assets", "sessions", "--ray-address", cluster)
    done = materialize(lake, home, *assets, runtime=None, process=True, RAY_AUTH_MODE="disabled")
    assert done.returncode == 0, done.stderr[-3000:]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        record = instance.fetch_materializations(dg.AssetKey("sessions"), limit=1).records[0]
    metadata = record.asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["runtime"].value == "auto: ray"
    assert metadata["parallelism"].value == 2  # the worker node's CPUs (the head gives none)
