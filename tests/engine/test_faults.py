"""Kill anything at any moment: readers only ever see complete versions, re-runs resume and end
with the tables of a clean run, and Ray retries a batch whose worker was killed. A data file
deleted by hand is named where the table is read, and a forced run repairs the day."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa
import pytest

from tests.lakes import DAY1, DAY2, SMALL_BATCHES
from tests.runs import lake_catalog, run_operator
from trajectory_assets.defs.checks import duplicate_keys
from trajectory_assets.engine import commit
from trajectory_assets.engine.explain import explain
from trajectory_assets.engine.materialize import run_operators
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.engine.tasks import BatchTask
from trajectory_assets.errors import ConcurrentWriterError, LostDataFileError, MissingDataFileError
from trajectory_assets.lake import delta, delta_commit, delta_history
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.staging import BatchReceipt
from trajectory_assets.operators import OPERATORS, TABLES, Sessionize


def _run(lake: Lake, point: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.engine.killable_run", lake.root, DAY1, point],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).parents[2],
    )


class Reader(threading.Thread):
    """Polls the day of every sessionize table through Delta, as any engine reading the table
    would: it must always see one complete version, never a partial or doubled day."""

    def __init__(self, lake: Lake, expected: dict[str, pa.Table]) -> None:
        super().__init__(daemon=True)
        self.lake, self.expected = lake, expected
        self.stop = threading.Event()
        self.reads = 0
        self.violations: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            for table, expected in self.expected.items():
                try:
                    seen = lake_catalog(self.lake).read(table, dt=DAY1)
                except Exception as exc:
                    self.violations.append(f"{table}: unreadable ({exc})")
                    continue
                self.reads += 1
                keys = TABLES[table].keys
                if seen.num_rows != expected.num_rows or duplicate_keys(seen, keys):
                    self.violations.append(
                        f"{table}: {seen.num_rows} rows, a complete version has {expected.num_rows}"
                    )


@pytest.mark.slow
@pytest.mark.parametrize("point", ["batches", "staged", "intent", "commit"])
def test_sigkill_at_any_point_then_rerun(lake: Lake, point: str) -> None:
    op = Sessionize()
    run_operator(op, lake, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)  # a previous version
    catalog = lake_catalog(lake)
    clean = {t: catalog.read(t, dt=DAY1) for t in op.output_names}

    reader = Reader(lake, clean)
    reader.start()
    killed = _run(lake, point)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    resumed = _run(lake, "none")
    time.sleep(0.2)
    reader.stop.set()
    reader.join()

    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    if point in ("batches", "staged"):
        assert summary["reused"] >= 3, summary  # the killed run's batches were kept
    assert not reader.violations, reader.violations[:5]
    assert reader.reads > 0
    catalog = lake_catalog(lake)
    for table in op.output_names:
        assert catalog.read(table, dt=DAY1).equals(clean[table]), table
        assert not orphans(lake, table), table
    assert len({catalog.state(t, DAY1).attempt for t in op.output_names}) == 1  # type: ignore[union-attr]
    assert not Path(lake.root, "_staging", op.name, f"dt={DAY1}").exists()


def test_a_forced_run_computes_again_what_is_current_or_staged(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = Sessionize()

    def stop(*args: object, **kwargs: object) -> None:
        raise RuntimeError("stopped before the commit intent")

    with monkeypatch.context() as patched:  # a run that staged every batch, then stopped
        patched.setattr(commit, "write_intent", stop)
        with pytest.raises(RuntimeError, match="stopped before the commit intent"):
            run_operator(op, lake, [DAY1], batch_bytes=SMALL_BATCHES)
    staged = Path(lake.root, "_staging", op.name, f"dt={DAY1}")
    assert len(list(staged.glob("*/_batches/*.json"))) >= 3  # their receipts
    forced = run_operator(op, lake, [DAY1], batch_bytes=SMALL_BATCHES, force=True)
    assert forced.days[DAY1].reused_batches == 0 and forced.days[DAY1].batches >= 3

    catalog = lake_catalog(lake)
    clean = catalog.read("sessions", dt=DAY1)
    lost = catalog.files("sessions", DAY1)[0]
    os.remove(lake.path("sessions", lost.path))  # by hand, outside the lake's commands
    named = rf"^sessions dt={DAY1}: a data file of the current version is gone .* --force"
    with pytest.raises(LostDataFileError, match=named):
        lake_catalog(lake).read("sessions", dt=DAY1)
    with pytest.raises(LostDataFileError, match=named):
        lake_catalog(lake).day_rows("sessions", DAY1, ["session_id"])
    assert run_operator(op, lake, [DAY1], batch_bytes=SMALL_BATCHES).days[DAY1].up_to_date
    repaired = run_operator(op, lake, [DAY1], batch_bytes=SMALL_BATCHES, force=True)
    assert not repaired.days[DAY1].up_to_date
    catalog = lake_catalog(lake)
    assert catalog.read("sessions", dt=DAY1).equals(clean)
    assert lost.path not in {f.path for f in catalog.files("sessions", DAY1)}


class VacuumingRuntime(InlineRuntime):
    """Runs its batches, then deletes every file no version of `tables` references, as
    `vacuum --full` run by someone else during the run does."""

    def __init__(self, lake: Lake, tables: Sequence[str]) -> None:
        super().__init__()
        self.lake, self.tables = lake, tables

    def run(self, tasks: Sequence[BatchTask]) -> list[BatchReceipt]:
        receipts = super().run(tasks)
        for table in self.tables:
            delta_history.vacuum(self.lake, table, retention_hours=0, full=True)
        return receipts


def test_a_run_whose_files_were_deleted_under_it_leaves_nothing_that_fails_the_next(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its intent and receipts stayed: every later run of the day tried to complete the commit
    with the files gone, and failed the same way (forget of the day too)."""
    op = Sessionize()
    run_operator(op, lake, [DAY1])
    clean = lake_catalog(lake).read("sessions", dt=DAY1)
    with pytest.raises(MissingDataFileError, match="Run it again: it computes the day anew"):
        run_operator(op, lake, [DAY1], VacuumingRuntime(lake, op.output_names), force=True)
    assert not run_operator(op, lake, [DAY1], force=True).days[DAY1].up_to_date
    assert lake_catalog(lake).read("sessions", dt=DAY1).equals(clean)
    with pytest.raises(MissingDataFileError) as partly:  # its first table committed, not the next
        run_operator(op, lake, [DAY1], VacuumingRuntime(lake, ["turns"]), force=True)
    assert f"Its sessions dt={DAY1} were committed just before; the operator's other" in str(
        partly.value
    )
    run_operator(op, lake, [DAY1], force=True)
    assert lake_catalog(lake).read("turns", dt=DAY1).num_rows > 0

    def killed(*args: object, **kwargs: object) -> None:
        raise RuntimeError("killed after the intent")

    with monkeypatch.context() as patched:  # an intent left behind, its files then vacuumed
        patched.setattr(delta_commit, "commit_day", killed)
        with pytest.raises(RuntimeError, match="killed after the intent"):
            run_operator(op, lake, [DAY1], force=True)
    plan = explain(Registry.build([op], OPERATORS), [op], lake, [DAY1], "inline")
    pending = "  sessionize: first completes the commit an interrupted run decided on (attempt "
    assert pending in plan
    for table in op.output_names:
        delta_history.vacuum(lake, table, retention_hours=0, full=True)
    lines: list[str] = []
    run_operators([op], lake, [DAY1], InlineRuntime(), progress=lines.append)
    dropped = [line for line in lines if "The interrupted commit is dropped" in line]
    assert dropped and dropped[0].startswith(f"sessions dt={DAY1}: ")
    assert lake_catalog(lake).read("sessions", dt=DAY1).equals(clean)
    assert not Path(lake.root, "_staging", op.name, f"dt={DAY1}").exists()


def test_batches_whose_files_a_vacuum_deleted_are_computed_again(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run stopped before its commit (a full disk), then `vacuum --full --retention-hours 0`
    to free space: the next run reused the finished batches without their files and failed,
    and so did each run after it, one table and day at a time."""
    op = Sessionize()
    run_operator(op, lake, [DAY1])

    def stop(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patched:
        patched.setattr(commit, "write_intent", stop)
        with pytest.raises(OSError, match="No space left"):
            run_operator(op, lake, [DAY2], batch_bytes=SMALL_BATCHES)
    for table in op.output_names:
        delta_history.vacuum(lake, table, retention_hours=0, full=True)
    again = run_operator(op, lake, [DAY2], batch_bytes=SMALL_BATCHES)
    assert again.days[DAY2].reused_batches == 0 and again.days[DAY2].batches >= 3
    computed = lake_catalog(lake).read("sessions", dt=DAY2)
    run_operator(op, lake, [DAY2], batch_bytes=SMALL_BATCHES, force=True)
    assert computed.num_rows > 0 and lake_catalog(lake).read("sessions", dt=DAY2).equals(computed)


def orphans(lake: Lake, table: str) -> set[str]:
    """Data files in the table's folder that no version of the table ever referenced."""
    latest = lake_catalog(lake).snapshot(table).version
    referenced = {f.path for v in range(latest + 1) for f in delta.snapshot(lake, table, v).files}
    on_disk = {
        str(p.relative_to(Path(lake.root, table)))
        for p in Path(lake.root, table).rglob("*.parquet")
    }
    return on_disk - referenced


@pytest.mark.ray
def test_ray_worker_killed_mid_batch_is_retried(
    lake: Lake, tmp_path: Path, ray_session: None
) -> None:
    from trajectory_assets.engine.runtimes.ray import RayRuntime

    markers = tmp_path / "markers"
    markers.mkdir()
    victim = markers / "victim"

    class SlowSessionize(Sessionize):
        """Sessionize whose first batch names itself and its worker's pid, then waits to be
        killed; every other batch, and the retried one, runs at once."""

        def transform(self, ctx, batch):
            (markers / f"{ctx.batch_id}-{os.getpid()}").write_text("")
            try:
                fd = os.open(victim, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return super().transform(ctx, batch)
            os.write(fd, f"{ctx.batch_id} {os.getpid()}".encode())
            os.close(fd)
            time.sleep(120)  # killed long before
            raise AssertionError("the worker was not killed")

    outcome: dict[str, object] = {}

    def materialize() -> None:
        try:
            outcome["result"] = run_operator(
                SlowSessionize(), lake, [DAY1], RayRuntime(), batch_bytes=SMALL_BATCHES
            )
        except Exception as exc:  # surfaced by the assertion below
            outcome["error"] = exc

    thread = threading.Thread(target=materialize)
    thread.start()
    deadline = time.monotonic() + 120
    while not (victim.exists() and victim.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    batch_id, pid = victim.read_text().split()
    os.kill(int(pid), signal.SIGKILL)
    thread.join(timeout=300)

    assert "error" not in outcome, outcome.get("error")
    attempts = [m for m in markers.iterdir() if m.name.startswith(batch_id + "-")]
    assert len(attempts) >= 2, "the killed batch was not retried"

    expected = Lake(str(tmp_path / "clean"))
    import shutil

    shutil.copytree(Path(lake.root) / "raw_events", Path(expected.root) / "raw_events")
    run_operator(Sessionize(), expected, [DAY1], InlineRuntime(), batch_bytes=SMALL_BATCHES)
    for table in Sessionize.output_names:
        assert (
            lake_catalog(lake)
            .read(table, dt=DAY1)
            .equals(lake_catalog(expected).read(table, dt=DAY1))
        )


@pytest.mark.slow
def test_a_commit_another_process_is_making_now_is_not_completed_as_interrupted(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run of another DAGSTER_HOME paused between its tables' commits: a second run took its
    intent for an interrupted one, committed the rest of its tables, then its own result, and
    the first went on over it (a day of sessions and turn_features of different raw data)."""
    op = Sessionize()

    def killed(*args: object, **kwargs: object) -> None:
        raise RuntimeError("paused after the intent")

    with monkeypatch.context() as patched:
        patched.setattr(delta_commit, "commit_day", killed)
        with pytest.raises(RuntimeError, match="paused after the intent"):
            run_operator(op, lake, [DAY1])
    (intent_file,) = Path(lake.root, "_staging", op.name, f"dt={DAY1}").glob("*/_commit.json")
    other = subprocess.Popen(["sleep", "60"])  # stands for the run still committing
    try:
        intent = json.loads(intent_file.read_text())
        host, _, _ = intent["writer"].split(":")
        started = Path(f"/proc/{other.pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        intent["writer"] = f"{host}:{other.pid}:{started}"
        intent_file.write_text(json.dumps(intent))
        plan = explain(Registry.build([op], OPERATORS), [op], lake, [DAY1], "inline")
        assert f"  sessionize: a run is committing the day now (process {other.pid}, " in plan
        with pytest.raises(ConcurrentWriterError, match=f"process {other.pid} of this machine"):
            run_operator(op, lake, [DAY1])
        assert intent_file.exists()  # nothing of it completed, nothing of its own committed
        assert lake_catalog(lake).read("sessions", dt=DAY1).num_rows == 0
    finally:
        other.kill()
        other.wait()
    assert run_operator(op, lake, [DAY1]).days[DAY1].up_to_date  # the ended run's, completed
    assert lake_catalog(lake).read("sessions", dt=DAY1).num_rows > 0
