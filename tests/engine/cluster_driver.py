"""A driver that runs `sessionize` on an existing Ray cluster and reports where batches ran.

Usage: python -m tests.engine.cluster_driver LAKE DAY ADDRESS [WORKERS_START_TIMEOUT_S]
→ one JSON line on stdout (`{"error": ...}` when the run fails).
Run as its own process because a process joins one Ray cluster at a time.
"""

import json
import sys

from tests.lakes import SMALL_BATCHES
from tests.runs import run_operator
from trajectory_assets.engine.runtimes.ray import WORKERS_START_TIMEOUT_S, RayRuntime
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import Sessionize


def main() -> None:
    lake_uri, day, address, *timeout = sys.argv[1:]
    waits = int(timeout[0]) if timeout else WORKERS_START_TIMEOUT_S
    runtime = RayRuntime(address=address, workers_start_timeout_s=waits)
    try:
        result = run_operator(
            Sessionize(), Lake(lake_uri), [day], runtime, batch_bytes=SMALL_BATCHES
        )
    except RuntimeError as exc:
        print(json.dumps({"error": str(exc)}))
        return
    import ray

    nodes = [
        {"id": n["NodeID"], "cpus": n["Resources"].get("CPU", 0), "alive": n["Alive"]}
        for n in ray.nodes()
    ]
    runtime.stop()  # disconnects; the cluster keeps running
    print(
        json.dumps(
            {
                "batch_nodes": list(result.days[day].nodes),
                "batches": result.days[day].batches,
                "sessions": result.rows("sessions"),
                "nodes": nodes,
            }
        )
    )


if __name__ == "__main__":
    main()
