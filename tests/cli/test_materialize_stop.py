"""`materialize` stopped: Ctrl+C or SIGTERM while a batch runs or while the run waits for the
pool, on either runtime."""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.cli.defs_sources import DUPLICATE_KEYS
from tests.cli.helpers import CLI, generate, materialize, new_dagster_home
from tests.lakes import DAY1
from tests.runs import lake_catalog
from trajectory_assets.cli.instance import INSTANCE_SETTINGS
from trajectory_assets.defs.assets import POOL
from trajectory_assets.defs.stops import PROCESS_TAG
from trajectory_assets.lake.fs import Lake


@pytest.mark.slow
def test_a_run_waiting_for_the_pool_stops_on_ctrl_c_and_frees_a_slot_whose_process_is_gone(
    tmp_path: Path, home: Path
) -> None:
    """A slot held by a run elsewhere: the command says what it waits for, and Ctrl+C stops it
    at once (Dagster's own wait ignored it). A slot held by a run of this machine whose process
    was killed: freed, that run marked failed, and the command goes on."""
    lake = tmp_path / "lake"
    generate(lake, home, sessions_per_day=5)
    shutil.copy(INSTANCE_SETTINGS, home / "dagster.yaml")
    args = ["materialize", "--lake", str(lake), "--partition", DAY1, "--assets", "sessions"]
    command = [*CLI, *args, "--runtime", "inline"]
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    with dg.DagsterInstance.from_config(str(home)) as instance:
        storage = instance.event_log_storage
        storage.initialize_concurrency_limit_to_default(POOL)
        assert storage.claim_concurrency_slot(POOL, "elsewhere", "tier_b").is_claimed
        waiting = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
        assert waiting.stderr is not None
        deadline = threading.Timer(180, waiting.kill)  # a silent wait fails the test, not CI
        deadline.daemon = True
        deadline.start()
        for line in waiting.stderr:
            if "waiting for the trajectory_assets pool" in line:
                break
        assert "run elsewhere of this instance holds its slot" in line
        assert "Ctrl+C stops waiting" in line
        waiting.send_signal(signal.SIGINT)
        assert waiting.wait(timeout=30) == 130
        assert "error: interrupted" in waiting.stderr.read()
        deadline.cancel()
        storage.free_concurrency_slots_for_run("elsewhere")

        killed = subprocess.Popen(["sleep", "60"])
        killed.kill()
        killed.wait()
        process = f"{socket.gethostname()}:{killed.pid}"
        run = instance.add_run(
            dg.DagsterRun(job_name="tier_b_job", run_id="killed", tags={PROCESS_TAG: process})
        )
        assert storage.claim_concurrency_slot(POOL, run.run_id, "tier_b").is_claimed
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
        assert done.returncode == 0, done.stderr
        assert "freed the trajectory_assets pool's slot of run killed, whose process is gone" in (
            done.stderr
        )
        marked = instance.get_run_by_id("killed")
        assert marked is not None and marked.status == dg.DagsterRunStatus.FAILURE
    assert lake_catalog(Lake(str(lake))).state("sessions", DAY1) is not None


SLOW = DUPLICATE_KEYS.replace(
    "        return batch.sql",
    "        import time\n        from pathlib import Path\n\n"
    "        Path(__file__).with_name('started').touch()  # a batch is in the operator\n"
    "        time.sleep(60)\n        return batch.sql",
)


@pytest.fixture(scope="module")
def slow_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A day of 10 sessions with `sessions` materialized, and `slow_defs.py` beside the lake:
    what each Ctrl+C test copies (making it took each test ~7 s)."""
    root = tmp_path_factory.mktemp("slow_lake")
    home = new_dagster_home(root / "home")
    generate(root / "lake", home, sessions_per_day=10)
    (root / "slow_defs.py").write_text(SLOW)
    args = ("--defs", "slow_defs", "--partition", DAY1, "--assets", "sessions")
    done = materialize(root / "lake", home, *args, process=True, PYTHONPATH=str(root))
    assert done.returncode == 0, done.stderr[-3000:]
    return root


@pytest.mark.parametrize(
    ("runtime", "stop"),
    [
        ("inline", signal.SIGINT),
        ("inline", signal.SIGTERM),
        pytest.param("ray", signal.SIGINT, marks=pytest.mark.slow),
        # what a scheduler or `kill` sends; Ray's driver made it a failure "15"
        pytest.param("ray", signal.SIGTERM, marks=pytest.mark.slow),
    ],
)
def test_ctrl_c_stops_the_run_with_one_line_and_status_130(
    slow_lake: Path, tmp_path: Path, home: Path, runtime: str, stop: signal.Signals
) -> None:
    """Ctrl+C (SIGINT) or SIGTERM mid-run: at once, one line saying what stays and what is
    reused, status 130, the run canceled, and no process of a private Ray left behind. A
    terminal's Ctrl+C reaches every process of the command's process group, children too."""
    lake = shutil.copytree(slow_lake / "lake", tmp_path / "lake")
    shutil.copy(slow_lake / "slow_defs.py", tmp_path / "slow_defs.py")
    ray_tmp = tempfile.mkdtemp(prefix="ray-", dir="/tmp")  # short: Ray's sockets live there
    args = ("--defs", "slow_defs", "--partition", DAY1, "--runtime", runtime, "--num-cpus", "1")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "PYTHONPATH": str(tmp_path),
        "RAY_TMPDIR": ray_tmp,
    }
    command = [*CLI, "materialize", "--lake", str(lake), *args, "--assets", "per_app"]
    running = subprocess.Popen(
        command, env=env, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    assert running.stderr is not None
    for line in running.stderr:  # per_app's batches are under way once this line is out
        if f" to run) for per_app on {runtime}" in line:
            break
    _wait_for(lambda: (tmp_path / "started").exists(), "a batch to enter the operator", step=0.1)
    if stop == signal.SIGINT:
        os.killpg(running.pid, stop)  # the terminal's Ctrl+C: the whole foreground group
    else:
        running.send_signal(stop)  # `kill`, a scheduler: the command alone
    started = time.monotonic()
    rest = _without_ray_core_lines(running.stderr.read())
    assert running.wait(timeout=120) == 130, rest[-3000:]
    assert time.monotonic() - started < 30  # not after the batch's minute of sleep
    assert rest.startswith("error: interrupted: run ") and "Traceback" not in rest
    assert "the batches it finished are reused" in rest
    with dg.DagsterInstance.from_config(str(home)) as instance:  # the UI: Canceled
        (last,) = instance.get_run_records(limit=1)
        assert last.dagster_run.status == dg.DagsterRunStatus.CANCELED
        logged = instance.all_logs(last.dagster_run.run_id)  # not a failure first, then Canceled
        kinds = [e.dagster_event.event_type for e in logged if e.dagster_event is not None]
        assert dg.DagsterEventType.RUN_FAILURE not in kinds
        assert kinds.count(dg.DagsterEventType.RUN_CANCELED) == 1
    _wait_for(lambda: _processes_under(ray_tmp) == 0, "Ray's processes to stop")
    shutil.rmtree(ray_tmp, ignore_errors=True)


def _processes_under(folder: str) -> int:
    """Processes whose command line names `folder` (a private Ray's daemons and workers)."""
    found = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            found += folder in cmdline.read_bytes().decode(errors="replace")
        except OSError:  # gone meanwhile
            continue
    return found


RAY_CORE_LINE = re.compile(r"^\[[\d\- :,]+ [DIWEF] \d+ \d+\] \w+\.cc:\d+: .*\n?", re.MULTILINE)


def _without_ray_core_lines(text: str) -> str:
    """Ray core's C++ writes one line of its own straight to stderr when Ray Data creates its
    workers (README: `core_worker.cc … max_restarts > 0`, ray#57733), whenever that happens
    to be: no filter of ours sees it, so the run's own lines are checked without it."""
    return RAY_CORE_LINE.sub("", text)


def _wait_for(
    condition: Callable[[], bool], what: str, timeout: float = 60, step: float = 0.5
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout} s for {what}"
        time.sleep(step)


@pytest.mark.parametrize("created", [True, False])
def test_ctrl_c_while_dagster_creates_the_run_records_it_canceled(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch, created: bool
) -> None:
    """Ctrl+C about 4 s into a command, as Dagster created the run: the run stayed Not started
    for good (the day shown in progress in the UI), and the output was a traceback of closing a
    SQLite connection before `error: interrupted`."""
    lake = tmp_path / "lake"
    generate(lake, home, sessions_per_day=2)
    create = dg.DagsterInstance.create_run_for_job

    def interrupted(self: dg.DagsterInstance, *args: object, **kwargs: object) -> Any:
        if created:
            create(self, *args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    monkeypatch.setattr(dg.DagsterInstance, "create_run_for_job", interrupted)
    stopped = materialize(lake, home, "--partition", DAY1, "--assets", "sessions")
    assert stopped.returncode == 130
    monkeypatch.undo()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
    if not created:
        assert (
            stopped.stderr
            == "error: interrupted before Dagster created the run: nothing of it ran\n"
        )
        assert runs == []
        return
    assert re.fullmatch(r"error: interrupted: run \S+ stopped; the days .*\n", stopped.stderr)
    (run,) = runs
    assert run.status == dg.DagsterRunStatus.CANCELED
    assert run.run_id in stopped.stderr


TERMINATED_AS_THE_RUN_IS_CREATED = """
import os, signal
import dagster as dg

create = dg.DagsterInstance.create_run_for_job

def terminated(self, *args, **kwargs):
    run = create(self, *args, **kwargs)
    os.kill(os.getpid(), signal.SIGTERM)  # `kill`, a scheduler's stop, as Dagster makes it
    return run

dg.DagsterInstance.create_run_for_job = terminated
"""


def test_sigterm_while_dagster_creates_the_run_records_it_canceled(
    tmp_path: Path, home: Path
) -> None:
    """SIGTERM before Dagster set its handlers (the first seconds of a command) killed the
    process at once: status 143, no word, and the run it created Not started for good."""
    lake = tmp_path / "lake"
    generate(lake, home, sessions_per_day=2)
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(TERMINATED_AS_THE_RUN_IS_CREATED)
    path = os.pathsep.join([str(hook), os.environ.get("PYTHONPATH", os.getcwd())])
    args = ("--partition", DAY1, "--assets", "sessions")
    stopped = materialize(lake, home, *args, process=True, PYTHONPATH=path)
    assert stopped.returncode == 130, stopped.stderr[-2000:]
    assert re.fullmatch(r"error: interrupted: run \S+ stopped; the days .*\n", stopped.stderr)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        (run,) = instance.get_runs()
    assert run.status == dg.DagsterRunStatus.CANCELED


def test_the_sigterm_handler_is_given_back_when_the_command_ends(tmp_path: Path) -> None:
    """`main` called from a program of its own (a notebook, a test) left SIGTERM as Ctrl+C for
    the rest of that program."""
    from trajectory_assets.cli import main

    before = signal.getsignal(signal.SIGTERM)
    assert main(["materialize", "--lake", str(tmp_path / "none"), "--partition", DAY1]) == 1
    assert signal.getsignal(signal.SIGTERM) is before
