"""Ray Data runtime: a pool of Ray workers, one per CPU, runs the batch tasks, each of which
reads, computes and writes to staging. Only receipts (a few hundred bytes each) travel back to
the driver; the data never does. The engine's one module importing Ray, when a runtime starts.
"""

import json
import logging
import pickle
import signal
import socket
import threading
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final, TypedDict, final

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    from ray.data import Dataset as Dataset  # the notebook's read_ray returns one

import pyarrow as pa

from trajectory_assets.engine.execute import Outcome, Stopped, collect, compute_task, run_task
from trajectory_assets.engine.tasks import BatchTask
from trajectory_assets.errors import (
    BadRawFilesError,
    LostDataFileError,
    OperatorError,
    SettingError,
    WorkersFailedError,
)
from trajectory_assets.lake import delta
from trajectory_assets.lake.catalog import partitions_of_files
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.staging import BatchReceipt, ReceiptDocument
from trajectory_assets.processes import ended, this_process_started
from trajectory_assets.schema import TableSpec

log = logging.getLogger(__name__)

TRANSIENT_ERRORS = ["ConnectionError", "TimeoutError", "ReadTimeout", "SlowDown", "503"]
QUEUED_PER_WORKER = 2
"""Batch tasks handed to a worker at once: the one it runs and the next, so it starts the next
as soon as one ends. A pool of tasks (Ray Data's `TaskPoolStrategy`) leaves each worker idle
0.1-0.3 s between tasks (Ray Data's executor polls finished tasks every 0.1 s and only then
submits the next): 10 days of 100k events on 2 cores took 33.5-35.1 s of batches that way,
29.3-31.4 s with this pool. More would leave one worker with work at the end, another none."""


def _require_ray() -> None:
    """Ray is imported where it is used; this names the fix when it is missing."""
    try:
        import ray.data  # noqa: F401
    except ModuleNotFoundError as exc:  # ray is a core dependency: a broken install
        if exc.name not in ("ray", "ray.data"):
            raise  # something Ray imports: its own message says what
        raise ImportError(  # alone: a run's failure says an error chain's innermost message
            "the Ray runtime needs Ray Data: pip install 'ray[data]==2.60.0' "
            "(or use the inline runtime)"
        ) from None


WORKERS_START_TIMEOUT_S = 600
"""How long a run waits for a cluster without CPUs to have some: one scaling up from no worker
takes minutes, while one whose worker nodes are gone would leave the run waiting forever for
workers that cannot start, holding its pool slot."""
SETTINGS = "--ray-address, TRAJECTORY_ASSETS_RAY_ADDRESS or the compute resource's address"
CONNECT_TIMEOUT_S = 10.0
"""How long a cluster's GCS port may take to accept a connection: ray.init retries an address
nothing answers at for minutes (holding the run's pool slot) before it gives up."""


def ray_client_refusal(address: str) -> str | None:
    """Why `address` cannot work, when it is Ray Client's: Ray Data needs a driver that is part
    of the cluster (a core worker), which a Ray Client session is not (ray#42739)."""
    if not address.startswith("ray://"):
        return None
    return (
        f"{address!r} is a Ray Client address, and Ray Data does not run over Ray Client: give "
        "the head's GCS address (host:6379) from a machine on the cluster's network, or `auto` "
        "on one of its nodes"
    )


def check_address(address: str) -> bool:
    """Refuse, in seconds, an existing cluster's address that cannot work or that nothing
    answers at; what Ray refuses quickly itself (`auto` with no cluster, text that is no
    address) is left to it. True when something answered at a `host:port`."""
    refusal = ray_client_refusal(address)
    if refusal is not None:
        raise SettingError(f"{refusal} ({SETTINGS})")
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit() or not host:
        return False
    try:
        socket.create_connection((host.strip("[]"), int(port)), CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConnectionError(f"nothing answers at {address} ({exc})") from None
    return True


class RayRuntime:
    """Runs batch tasks on Ray Data.

    address=None starts a private local Ray (`address="local"`, never a leftover cluster);
    `auto` or the head's `host:port` connects to an existing cluster and never starts one.
    Ray is started lazily, once, and only what this runtime started is shut down by `stop`.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        num_cpus: int | None = None,
        object_store_memory: int | None = None,
        max_task_retries: int = 3,
        max_map_retries: int = 2,
        data_cpus: float | None = None,
        data_object_store_bytes: int | None = None,
        workers_start_timeout_s: int = WORKERS_START_TIMEOUT_S,
    ) -> None:
        self.address = address
        self.workers_start_timeout_s = workers_start_timeout_s
        self.num_cpus = num_cpus
        self.object_store_memory = object_store_memory
        self.max_task_retries = max_task_retries
        self.max_map_retries = max_map_retries
        self.data_cpus = data_cpus
        self.data_object_store_bytes = data_object_store_bytes
        self._started = False
        self.start_seconds = 0.0  # how long starting (or joining) Ray took in this process
        self.parallelism = 0  # batch workers of the last run: its CPUs, or the cluster's

    def start(self) -> None:
        _require_ray()
        import ray

        if ray.is_initialized():
            return
        kwargs: dict[str, Any] = {"ignore_reinit_error": True, "log_to_driver": False}
        if self.address:
            kwargs["address"] = self.address
        else:
            kwargs["address"] = "local"
            kwargs["include_dashboard"] = False
            if self.num_cpus:
                kwargs["num_cpus"] = self.num_cpus
            if self.object_store_memory:
                kwargs["object_store_memory"] = self.object_store_memory
        log.info("starting Ray (%s)", kwargs.get("address"))
        started = time.perf_counter()
        # ray.init makes SIGTERM a bare sys.exit(15) in the driver, which a run reports as a
        # failure "15"; the handler it replaces (Dagster's: an interrupt, the run canceled, as
        # without Ray) is put back
        on_sigterm = signal.getsignal(signal.SIGTERM)
        answered = terminated = False
        try:
            if self.address:
                answered = check_address(self.address)
            ray.init(**kwargs)
        except SystemExit as exc:  # a SIGTERM while Ray starts, through the handler it set
            if exc.code != signal.SIGTERM or not callable(on_sigterm):
                raise
            terminated = True
        except SettingError:
            raise
        except (ConnectionError, ValueError, TimeoutError) as exc:
            if not self.address:
                raise
            auth = (  # one cause among others (another Ray version, a port not the head's)
                "; if the cluster uses token authentication (what `ray start` turns on), a "
                "driver needs RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH (deploy/README.md)"
                if answered and isinstance(exc, ConnectionError)
                else ""
            )
            raise ConnectionError(
                f"cannot reach the Ray cluster at {self.address!r} (the runtime's address: "
                f"{SETTINGS}): {exc}{auth}"
            ) from None
        finally:
            if threading.current_thread() is threading.main_thread() and on_sigterm is not None:
                signal.signal(signal.SIGTERM, on_sigterm)
        if terminated and callable(on_sigterm):
            try:
                on_sigterm(signal.SIGTERM, None)  # as the handler Ray replaced would have
            finally:
                ray.shutdown()  # Ray half started is no runtime
            raise KeyboardInterrupt  # (a handler that only noted it)
        self.start_seconds = time.perf_counter() - started
        self._started = True

    def stop(self) -> None:
        if self._started:
            import ray

            ray.shutdown()
            self._started = False

    def run(self, tasks: Sequence[BatchTask]) -> list[BatchReceipt]:
        if not tasks:
            return []
        self.start()
        import ray.data

        ctx = ray.data.DataContext.get_current()
        ctx.retried_map_errors = TRANSIENT_ERRORS
        ctx.max_map_retries = self.max_map_retries
        ctx.enable_progress_bars = False
        # None means no limit; set every time, since the context outlives this runtime
        ctx.execution_options.resource_limits = ray.data.ExecutionResources.for_limits(
            cpu=self.data_cpus, object_store_memory=self.data_object_store_bytes
        )
        self.parallelism = max(1, int(self.data_cpus or self._cluster_cpus()))
        # Each block carries its own pickled task, so a task never deserializes the file lists
        # of every other batch (which grows with the square of the lake's size).
        items = [{"task": ray.cloudpickle.dumps(task)} for task in tasks]
        pool = ray.data.ActorPoolStrategy(
            size=min(self.parallelism, len(tasks)), max_tasks_in_flight_per_actor=QUEUED_PER_WORKER
        )
        with warnings.catch_warnings():
            # Bounded retries of a dying worker (Ray Data's default is -1: restart it and retry
            # its tasks forever) have no named parameter in Ray 2.60 yet; the generic remote
            # args still apply them.
            warnings.filterwarnings("ignore", message="`ray_remote_args` is deprecated")
            dataset = ray.data.from_items(items, override_num_blocks=len(tasks)).map_batches(
                BatchWorker,
                fn_constructor_kwargs={"driver": this_process_started()},
                batch_size=1,
                batch_format="pyarrow",
                compute=pool,
                num_cpus=1,
                max_restarts=self.max_task_retries,
                max_task_retries=self.max_task_retries,
            )
        died = (  # a worker's process, or its node, gone past its retries
            ray.exceptions.RayActorError,
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.OutOfMemoryError,
            ray.exceptions.NodeDiedError,
        )
        try:  # an operator's own error comes back as a row; another raises as it was
            rows = dataset.take_all()
        except died as exc:
            # from None: a run's one line says the innermost error, here Ray's own
            operators = {step.operator.name for task in tasks for step in task.steps}
            days = {task.day for task in tasks}
            raise WorkersFailedError.of(sorted(operators), sorted(days), exc) from None
        outcomes: list[Outcome] = []
        for row in rows:
            # the documents are @final TypedDicts, so `in` tells them apart
            data: BadFilesRow | OperatorErrorRow | LostFileRow | ReceiptDocument = json.loads(
                row["receipt"]
            )
            if BAD_FILES in data:
                bad = [(path, reason) for path, reason in data[BAD_FILES]]
                outcomes.append(BadRawFilesError(bad))
            elif OPERATOR_ERROR in data:
                outcomes.append(OperatorError(*data[OPERATOR_ERROR]))
            elif LOST_FILE in data:
                outcomes.append(LostDataFileError(data[LOST_FILE]))
            else:
                outcomes.append([BatchReceipt.from_json(row["receipt"])])
        return collect(outcomes)

    def _cluster_cpus(self) -> float:
        """The cluster's CPUs (of its live nodes), once it has some: a pool of batch workers on
        a cluster without any (its worker nodes gone) would wait for them forever. A busy
        cluster is not waited for: its workers start as its CPUs come free."""
        import ray

        deadline = time.monotonic() + self.workers_start_timeout_s
        while (cpus := float(ray.cluster_resources().get("CPU", 0))) <= 0:
            if time.monotonic() >= deadline:
                raise RuntimeError(
                    f"the Ray cluster at {self.address or 'this machine'} has had no CPU for the "
                    f"batches for {self.workers_start_timeout_s} s (its worker nodes gone, or "
                    "not scaled up): start a worker node, or run with --runtime inline"
                )
            time.sleep(1.0)
        return cpus

    def compute(self, tasks: Sequence[BatchTask]) -> list[dict[str, pa.Table]]:
        """Outputs come back through Ray's object store: for exploring, not for large runs."""
        if not tasks:
            return []
        self.start()
        import ray

        remote = ray.remote(num_cpus=1, max_retries=self.max_task_retries)(_compute)
        try:
            found: list[dict[str, pa.Table]] = ray.get(
                [remote.remote(ray.cloudpickle.dumps(task)) for task in tasks]
            )
        except ray.exceptions.RayTaskError as exc:
            if type(exc.cause).__module__ == OperatorError.__module__:  # ours: one line, as inline
                raise exc.cause from None
            raise
        return found


def _compute(blob: bytes) -> dict[str, pa.Table]:
    return compute_task(pickle.loads(blob))


class BatchWorker:
    """A worker of the job's pool (a Ray actor, one CPU) running its batch tasks in turn. Once
    the `driver` (`host:pid:start`) has ended (killed, its workers ran on for seconds), one of
    its machine writes nothing more into a lake where a rerun or a `forget` may be at work."""

    def __init__(self, driver: str) -> None:  # not seen now (a container's own processes): None
        self.driver = None if ended(driver) else driver

    def __call__(self, batch: pa.Table) -> pa.Table:
        return _run_batch_tasks(batch, lambda: self.driver is not None and ended(self.driver))


def _run_batch_tasks(batch: pa.Table, stopped: Callable[[], bool]) -> pa.Table:
    """A task's receipts as rows, and unreadable raw files, an operator's error or a lost input
    file as a row each: the job runs every batch, the driver names every bad file, and raises an
    operator's mistake as one error, not Ray's tracebacks. Nothing once `stopped`."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    rows: list[str] = []
    for blob in batch.column("task").to_pylist():
        try:
            rows += [replace(r, node=node).to_json() for r in run_task(pickle.loads(blob), stopped)]
        except Stopped:  # no driver reads the rows
            break
        except BadRawFilesError as exc:
            rows.append(json.dumps(BadFilesRow(bad_raw_files=[list(b) for b in exc.bad])))
        except OperatorError as exc:
            error = [exc.where, exc.error, exc.detail]
            rows.append(json.dumps(OperatorErrorRow(operator_error=error)))
        except LostDataFileError as exc:
            rows.append(json.dumps(LostFileRow(lost_data_file=str(exc))))
    return pa.table({"receipt": pa.array(rows, pa.string())})


BAD_FILES: Final = "bad_raw_files"
OPERATOR_ERROR: Final = "operator_error"
LOST_FILE: Final = "lost_data_file"


@final
class BadFilesRow(TypedDict):
    """What a batch task returns instead of its receipts when raw files cannot be read."""

    bad_raw_files: list[list[str]]  # [path, reason] pairs


@final
class OperatorErrorRow(TypedDict):
    """What a batch task returns instead of its receipts when its operator raised."""

    operator_error: list[str]  # OperatorError's where, error, detail


@final
class LostFileRow(TypedDict):
    """What a batch task returns instead of its receipts when an input table's file is gone."""

    lost_data_file: str  # the LostDataFileError's message


def dataset_from_arrow(table: pa.Table) -> "Dataset":
    """Rows already read by this process, as a Ray Dataset (on the local or configured Ray)."""
    RayRuntime().start()
    import ray.data

    return ray.data.from_arrow(table)


def dataset_of(
    lake: Lake, spec: TableSpec, where: "ds.Expression | None", columns: list[str] | None
) -> "Dataset":
    """A table's rows as a Ray Dataset: only the files of the partitions `where` selects, read
    by Ray tasks, with the partition columns (kept in the Delta log) filled in."""
    RayRuntime().start()
    import ray.data

    by_path = partitions_of_files(lake, spec, where)
    names = columns or spec.schema.names
    schema = pa.schema([spec.schema.field(c) for c in names])
    if not by_path:
        return ray.data.from_arrow(schema.empty_table())  # the columns asked for, no rows
    inside = [c for c in names if c not in delta.partition_columns(spec)]

    def fill(batch: pa.Table) -> pa.Table:
        paths = batch.column("path").to_pylist()
        for column in names:
            if column not in inside:
                batch = batch.append_column(column, pa.array([by_path[p][column] for p in paths]))
        return batch.select(names).cast(schema)

    return ray.data.read_parquet(
        sorted(by_path), columns=inside, include_paths=True, filesystem=lake.arrow_fs
    ).map_batches(fill, batch_format="pyarrow")
