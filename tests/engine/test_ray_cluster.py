"""RayRuntime(address=...) joins an existing cluster (a head and a worker node started with
`ray start`, on loopback), never starts one, and the batches run on the worker node."""

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    logs = tmp_path_factory.mktemp("ray_cluster")
    port = free_port()
    head = _start(
        ["--head", f"--port={port}", "--num-cpus=0", "--include-dashboard=false"],
        logs / "head.log",
    )
    wait_for_port(port, timeout=120)
    worker = _start([f"--address=127.0.0.1:{port}", "--num-cpus=2"], logs / "worker.log")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for process in (worker, head):  # stop exactly what we started, nothing else
            os.killpg(process.pid, signal.SIGTERM)
        for process in (worker, head):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def test_batches_run_on_the_clusters_worker_node(lake: Lake, cluster: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.engine.cluster_driver", lake.root, DAY1, cluster],
        capture_output=True,
        text=True,
        timeout=300,
        env=CLUSTER_ENV,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
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
