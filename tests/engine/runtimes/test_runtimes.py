"""Zero semantic drift: the in-process and Ray runtimes write identical tables."""

import os
import pickle
import shutil
import socket
import subprocess
from pathlib import Path

import pyarrow as pa
import pytest

from tests.lakes import DAY1, DAY2, SMALL_BATCHES
from tests.runs import lake_catalog, plan, run_all, run_operator
from trajectory_assets.batch import Batch
from trajectory_assets.engine.explore import apply
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.results import RunResult
from trajectory_assets.engine.runtimes.auto import AutoRuntime
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.engine.runtimes.ray import BatchWorker, RayRuntime
from trajectory_assets.errors import LostDataFileError, OperatorError, WorkersFailedError
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.layout import STAGING
from trajectory_assets.operator import OpContext
from trajectory_assets.operators import OPERATORS, TABLES, Sessionize, ToolStats
from trajectory_assets.processes import started_name

SESSIONIZE = Sessionize()


def materialize_all(lake: Lake, runtime: object) -> RunResult:
    """Every table in one run, as a materialization of every asset runs them."""
    return run_all(lake, [DAY1, DAY2], runtime, batch_bytes=SMALL_BATCHES)  # type: ignore[arg-type]


@pytest.mark.ray
def test_inline_and_ray_write_identical_tables(
    raw_lake_root: Path, tmp_path: Path, ray_session: None
) -> None:
    inline_lake = Lake(str(shutil.copytree(raw_lake_root, tmp_path / "inline")))
    ray_lake = Lake(str(shutil.copytree(raw_lake_root, tmp_path / "ray")))
    materialize_all(inline_lake, InlineRuntime())
    ray_results = materialize_all(ray_lake, RayRuntime())

    assert ray_results.operators["sessionize"].days[DAY1].batches > 2
    for table in TABLES:
        for day in (DAY1, DAY2):
            expected = lake_catalog(inline_lake).read(table, dt=day)
            actual = lake_catalog(ray_lake).read(table, dt=day)
            assert actual.schema == TABLES[table].schema
            assert actual.equals(expected), f"{table} dt={day} differs between runtimes"
    assert lake_catalog(ray_lake).read("sessions").num_rows == 240
    assert lake_catalog(ray_lake).read("eval_runs").num_rows > 0


@pytest.mark.ray
def test_batches_run_in_ray_worker_processes_not_the_driver(lake: Lake, ray_session: None) -> None:
    result = run_operator(SESSIONIZE, lake, [DAY1], RayRuntime(), batch_bytes=SMALL_BATCHES)
    workers = result.days[DAY1].workers
    assert workers, "no batch receipts"
    assert all(not w.endswith(f":{os.getpid()}") for w in workers), workers


def test_a_second_run_over_the_same_inputs_computes_nothing(lake: Lake) -> None:
    """The committed day carries its attempt: the same inputs again run no batch, commit no
    version, and report the same rows."""
    first = run_operator(SESSIONIZE, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    second = run_operator(SESSIONIZE, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    catalog = lake_catalog(lake)
    assert first.rows("sessions") == second.rows("sessions") == catalog.read("sessions").num_rows
    assert first.days[DAY1].tables["sessions"].version == 1
    assert second.days[DAY1].up_to_date and second.days[DAY1].batches == 0
    assert second.days[DAY1].tables["sessions"].version is None
    assert catalog.snapshot("sessions").version == 1
    assert isinstance(catalog.read("sessions"), pa.Table)


@pytest.mark.ray
def test_ray_data_resource_limits_are_settings(lake: Lake, ray_session: None) -> None:
    import ray

    runtime = RayRuntime(data_cpus=1, data_object_store_bytes=256 * 1024 * 1024)
    result = run_operator(SESSIONIZE, lake, [DAY1], runtime, batch_bytes=SMALL_BATCHES)
    limits = ray.data.DataContext.get_current().execution_options.resource_limits
    assert (limits.cpu, limits.object_store_memory) == (1, 256 * 1024 * 1024)
    assert result.rows("sessions") == 120
    run_operator(SESSIONIZE, lake, [DAY2], RayRuntime(), batch_bytes=SMALL_BATCHES)  # no limits
    limits = ray.data.DataContext.get_current().execution_options.resource_limits
    assert limits.cpu is None or limits.cpu == float("inf")


@pytest.mark.parametrize("runtime", ["inline", pytest.param("ray", marks=pytest.mark.ray)])
def test_an_operators_own_error_is_named_alike_on_both_runtimes(
    lake: Lake, runtime: str, request: pytest.FixtureRequest
) -> None:
    """The operator, day and batch, the exception, and its traceback from where it ran: on Ray
    too, instead of Ray's task failure."""
    if runtime == "ray":
        request.getfixturevalue("ray_session")

    class Failing(Sessionize):  # defined here, so Ray ships it by value
        def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
            raise ValueError(f"no good on {ctx.day}")

    class Wrong(Sessionize):  # returns what it did not declare
        def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
            return pa.table({"n": [1]})

    chosen = InlineRuntime() if runtime == "inline" else RayRuntime()
    with pytest.raises(OperatorError) as raised:
        run_operator(Failing(), lake, [DAY1], chosen, batch_bytes=SMALL_BATCHES)
    assert raised.value.where.startswith(f"operator sessionize dt={DAY1} batch {DAY1}-")
    assert raised.value.error.startswith(f"ValueError: no good on {DAY1} (at {__file__}:")
    assert 'raise ValueError(f"no good on {ctx.day}")' in raised.value.detail
    with pytest.raises(OperatorError, match="OutputError: operator sessionize declares outputs"):
        run_operator(Wrong(), lake, [DAY1], chosen, batch_bytes=SMALL_BATCHES)
    assert lake_catalog(lake).state("sessions", DAY1) is None  # nothing committed
    with pytest.raises(OperatorError) as explored:  # a notebook's apply: Ray's wrapper taken off
        apply(Registry.build(OPERATORS), Failing(), lake, [DAY1], chosen)
    assert explored.value.where.startswith(f"operator sessionize dt={DAY1} batch {DAY1}-")


def test_a_batch_out_of_memory_says_what_to_do(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> None:
    """DuckDB's own advice (SET threads, SET memory_limit) is no setting of a command line, and
    the hint for Python's MemoryError never matched DuckDB's or Arrow's; reading the batch, too,
    may run out."""
    import duckdb

    from trajectory_assets.engine import execute

    for error in (
        duckdb.OutOfMemoryException(
            "Out of Memory Error: Failed to allocate block of 262144 bytes\n\nPossible "
            "solutions:\n* Reducing the number of threads (SET threads=X)"
        ),
        pa.ArrowMemoryError("malloc of size 4096 failed"),
    ):

        class Hungry(Sessionize):
            raised = error

            def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
                raise self.raised

        with pytest.raises(OperatorError) as raised:
            run_operator(Hungry(), lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
        said = raised.value.error
        assert said.startswith(f"out of memory ({type(error).__name__}: ")
        assert "--num-cpus 1" in said and "batch_bytes" in said and "SET threads" not in said

    def starved(task: object) -> None:
        raise MemoryError()

    monkeypatch.setattr(execute, "_read_raw", starved)
    with pytest.raises(OperatorError) as read:
        run_operator(Sessionize(), lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    assert read.value.where.startswith(f"reading batch {DAY1}-")
    assert read.value.error.startswith("out of memory (MemoryError): give the run more memory")


@pytest.mark.ray
def test_a_ray_worker_that_dies_is_one_line_naming_the_operator_and_day(
    lake: Lake, ray_session: None
) -> None:
    """Killed for memory (Ray's monitor, a container's limit), a worker's death past its
    retries ended the run with Ray's ActorDiedError, naming neither operator nor day."""

    class Dying(Sessionize):  # defined here, so Ray ships it by value
        def transform(self, ctx: OpContext, batch: Batch) -> pa.Table:
            import os

            os._exit(1)

    with pytest.raises(WorkersFailedError) as raised:
        run_operator(Dying(), lake, [DAY1], RayRuntime(max_task_retries=0))
    said = str(raised.value)
    assert said.startswith(f"Ray's batch workers running sessionize on {DAY1} failed (")
    assert "--num-cpus" in said and "\n" not in said


@pytest.mark.parametrize("runtime", ["inline", pytest.param("ray", marks=pytest.mark.ray)])
def test_a_lost_input_file_is_named_alike_on_both_runtimes(
    lake: Lake, runtime: str, request: pytest.FixtureRequest
) -> None:
    """A table's data file deleted by hand, read as an operator's input in a batch: the table,
    day, file and fix, not Ray's task failure."""
    if runtime == "ray":
        request.getfixturevalue("ray_session")
    run_operator(SESSIONIZE, lake, [DAY1], batch_bytes=SMALL_BATCHES)
    (lost,) = [f for f in lake_catalog(lake).files("tool_calls", DAY1) if f.rows][:1]
    os.remove(lake.path("tool_calls", lost.path))
    chosen = InlineRuntime() if runtime == "inline" else RayRuntime()
    named = rf"^tool_calls dt={DAY1}: a data file of the current version is gone .*--force"
    with pytest.raises(LostDataFileError, match=named) as raised:
        run_operator(ToolStats(), lake, [DAY1], chosen, batch_bytes=SMALL_BATCHES)
    assert lost.path in str(raised.value)


def test_an_error_in_an_operator_package_installed_as_a_library_is_located(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A team installs its operators as a package: its lines are its own code, not a
    library's, wherever pip put them (the error said no more than `ZeroDivisionError`)."""
    from trajectory_assets.engine import execute

    site = tmp_path / "site-packages"
    (site / "boomteam").mkdir(parents=True)
    (site / "boomteam" / "__init__.py").write_text("")
    code = "from trajectory_assets.operators import Sessionize\n\n\nclass Boom(Sessionize):\n"
    code += "    def transform(self, ctx, batch):\n        return 1 / 0\n"
    (site / "boomteam" / "ops.py").write_text(code)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(execute, "LIBRARIES", (*execute.LIBRARIES, str(site)))
    from boomteam.ops import Boom

    with pytest.raises(OperatorError) as raised:
        run_operator(Boom(), lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    at = site / "boomteam" / "ops.py"
    assert raised.value.error == f"ZeroDivisionError: division by zero (at {at}:6)"


def test_auto_says_it_chose_nothing_when_every_batch_was_finished_before(lake: Lake) -> None:
    """A re-execution that reused every batch was recorded as runtime `auto`, as if unsaid."""
    (day,) = plan(Sessionize(), lake, [DAY1])
    InlineRuntime().run(day.tasks)  # a run that died after its batches, before its commit
    auto = AutoRuntime(lambda: pytest.fail("started Ray for no batch"))
    result = run_operator(Sessionize(), lake, [DAY1], auto)
    assert result.days[DAY1].reused_batches == len(day.tasks)
    assert result.runtime == "auto: no batch to run"


def test_a_cluster_that_answers_and_refuses_the_driver_names_token_authentication(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A cluster with token authentication refused a driver without the token, and the run's
    error said only "Failed to connect"."""
    import socket

    import ray

    def refused(**kwargs: object) -> None:
        raise ConnectionError("Failed to connect to GCS at address")

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", refused)
    with socket.create_server(("127.0.0.1", 0)) as head:  # something answers there
        address = f"127.0.0.1:{head.getsockname()[1]}"
        with pytest.raises(ConnectionError) as raised:
            RayRuntime(address=address).start()
    said = str(raised.value)
    assert said.startswith(f"cannot reach the Ray cluster at '{address}'")
    assert "Failed to connect" in said and "RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH" in said
    for unrelated in ("bogus", "auto"):  # not a host:port that answered: no such hint
        with pytest.raises(ConnectionError) as raised:
            RayRuntime(address=unrelated).start()
        assert "RAY_AUTH_MODE" not in str(raised.value)


def test_a_sigterm_while_ray_starts_interrupts_as_the_runs_own_handler_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`ray.init` sets a SIGTERM handler of its own, a bare `sys.exit(15)`: a SIGTERM in the
    seconds Ray starts failed the run as "step tier_b: 15", not canceled (status 130)."""
    import signal

    import ray

    class Interrupted(BaseException):
        pass

    def dagsters(signum: int, frame: object) -> None:
        raise Interrupted

    def init_killed(**_: object) -> None:
        raise SystemExit(signal.SIGTERM)  # Ray's handler, on the signal mid-start

    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", init_killed)
    before = signal.signal(signal.SIGTERM, dagsters)
    try:
        noted: list[int] = []
        monkeypatch.setattr(ray, "shutdown", lambda: noted.append(0))
        with pytest.raises(Interrupted):
            RayRuntime().start()
        assert signal.getsignal(signal.SIGTERM) is dagsters and noted == [0]
        noted.clear()
        signal.signal(signal.SIGTERM, lambda signum, _: noted.append(signum))  # a program's own
        runtime = RayRuntime()
        with pytest.raises(KeyboardInterrupt):  # not a runtime that goes on as if started
            runtime.start()
        assert noted == [signal.SIGTERM, 0] and not runtime._started
    finally:
        signal.signal(signal.SIGTERM, before)


def test_a_worker_whose_run_was_killed_writes_nothing_more(lake: Lake, ray_session: None) -> None:
    """Ray's workers are no children of the run's process group: killed (SIGKILL), a run's
    workers went on for seconds writing receipts and data files into the lake, where a rerun or
    a `forget` may already have been at work."""
    (day,) = plan(SESSIONIZE, lake, [DAY1])
    batch = pa.table({"task": [pickle.dumps(day.tasks[0])]})
    running = subprocess.Popen(["sleep", "60"])
    worker = BatchWorker(started_name(running.pid))
    running.kill()
    running.wait()
    staging = Path(lake.root, STAGING)
    assert worker(batch).num_rows == 0
    assert not [p for p in staging.rglob("*") if p.is_file()]
    # a worker that cannot see its run's process (a container's own process ids) writes on
    unseen = BatchWorker(f"{socket.gethostname()}:{running.pid}:1")
    assert unseen(batch).num_rows == 1
    assert [p for p in staging.rglob("*") if p.is_file()]
