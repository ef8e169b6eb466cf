"""A run after a failed or interrupted one reuses the batches that run finished only where they
are what this run would compute: the same code, their files still there, and no step before
them in the batch computed again."""

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.lakes import DAY1, SMALL_BATCHES
from tests.runs import lake_catalog, plan, run_operator, settings
from trajectory_assets.engine.materialize import run_operators
from trajectory_assets.engine.plan import plan_days
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.inline import InlineRuntime
from trajectory_assets.lake import delta_history
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.staging import RECEIPTS, finished_batches
from trajectory_assets.operator import Operator
from trajectory_assets.operators import OPERATORS, Sessionize, ToolStats, TurnFeatures

FIXED = """
from trajectory_assets.operators import Sessionize

class Fixed(Sessionize):
    def transform(self, ctx, batch):
        out = super().transform(ctx, batch)
        if BUGGY:  # the bug: a batch's turns lose their last half
            out["turns"] = out["turns"].slice(0, out["turns"].num_rows // 2)
        return out
"""


def _module(name: str, source: str, folder: Path) -> ModuleType:
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _registry(ops: list[Operator]) -> Registry:
    names = {op.name for op in ops}
    return Registry.build(ops, [op for op in OPERATORS if op.name not in names])


def test_a_fix_with_the_version_kept_computes_every_batch_again_downstream_too(
    lake: Lake, tmp_path: Path
) -> None:
    """Fail, fix, run again with the version kept: the fixed run reused the batches the failed
    one had finished, `sessionize`'s and then, in the same batches, `turn_features`' computed
    from the buggy `turns`, and committed a day of both codes without a word."""
    clean = Lake(str(shutil.copytree(lake.root, tmp_path / "clean")))
    good = _module("ops_good", FIXED + "BUGGY = False\n", tmp_path).Fixed()
    run_operators(
        [good, TurnFeatures()],
        clean,
        [DAY1],
        InlineRuntime(),
        registry=_registry([good, TurnFeatures()]),
        settings=settings(SMALL_BATCHES),
    )

    before = _module("ops_buggy", FIXED + "BUGGY = True\n", tmp_path).Fixed()
    after = _module("ops_fixed", FIXED + "BUGGY = False\n", tmp_path).Fixed()
    assert before.fingerprint == after.fingerprint and before.code_digest != after.code_digest
    assert after.code_digest == good.code_digest  # the same code, wherever it is loaded from
    ops: list[Operator] = [before, TurnFeatures()]
    catalog = Catalog(lake, _registry(ops).tables)
    ((day, _),) = plan_days(_registry(ops), ops, catalog, [DAY1], settings(SMALL_BATCHES))
    assert len(day.tasks) > 2
    finished = InlineRuntime().run(day.tasks[:2])  # the run that failed after two batches
    assert {r.code for r in finished if r.operator == "sessionize"} == {before.code_digest}

    ops = [after, TurnFeatures()]
    result = run_operators(
        ops,
        lake,
        [DAY1],
        InlineRuntime(),
        registry=_registry(ops),
        settings=settings(SMALL_BATCHES),
    )
    assert result.operators["sessionize"].days[DAY1].reused_batches == 0
    assert result.operators["turn_features"].days[DAY1].reused_batches == 0
    for table in ("turns", "turn_features"):
        assert (
            lake_catalog(lake).read(table, dt=DAY1).equals(lake_catalog(clean).read(table, dt=DAY1))
        ), table


NOTEBOOK = """
import functools

class Mixin:
    def scale(self):
        return 1

def logged(method):
    @functools.wraps(method)
    def wrapper(self, ctx, batch):
        return method(self, ctx, batch)
    return wrapper

class Mine(Sessionize, Mixin):
    kinds = {"a", "b"}

    @logged
    def transform(self, ctx, batch, limit=10):
        return super().transform(ctx, batch)

    class Helper:
        factor = 2
"""


@pytest.mark.parametrize(
    "fix",
    [
        ("return 1", "return 2"),  # a base class after Operator's place in the order
        ("limit=10", "limit=20"),  # a default argument
        ("return super().transform(ctx, batch)", "return {}"),  # under a decorator
        ('{"a", "b"}', '{"a", "c"}'),  # a set
        ("factor = 2", "factor = 3"),  # a nested class
    ],
)
def test_a_class_without_a_file_is_digested_by_its_code(fix: tuple[str, str]) -> None:
    """A notebook's operator (its module has no file) counted by its class name alone; then
    default arguments, decorated methods, sets, nested classes and bases placed after
    Operator went unseen."""

    def defined(source: str) -> Operator:
        namespace: dict[str, object] = {"Sessionize": Sessionize, "__name__": "notebook_cell"}
        exec(source, namespace)
        mine = namespace["Mine"]
        assert isinstance(mine, type) and issubclass(mine, Operator)
        return mine()

    assert "notebook_cell" not in sys.modules
    first, again = defined(NOTEBOOK), defined(NOTEBOOK)
    assert first.code_digest == again.code_digest  # another class object, the same code
    assert defined(NOTEBOOK.replace(*fix)).code_digest != first.code_digest


def test_a_forced_run_computes_a_merge_an_interrupted_one_finished(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `--force` run killed after its merges, then a vacuum (or a forget's purge) deleting the
    files no version names: every later `--force` run reused the merge's receipt and failed
    with "files to commit are gone", one two-phase operator after another."""
    run_operator(Sessionize(), lake, [DAY1])  # tool_stats reads tool_calls
    run_operator(ToolStats(), lake, [DAY1])
    expected = lake_catalog(lake).read("tool_stats", dt=DAY1)

    def killed(*_: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr("trajectory_assets.engine.materialize.commit_day", killed)
        with pytest.raises(KeyboardInterrupt):
            run_operator(ToolStats(), lake, [DAY1], force=True)
    assert delta_history.vacuum(lake, "tool_stats", retention_hours=0, full=True).files
    result = run_operator(ToolStats(), lake, [DAY1], force=True)
    assert result.days[DAY1].reused_batches == 0
    assert lake_catalog(lake).read("tool_stats", dt=DAY1).equals(expected)
    assert plan(ToolStats(), lake, [DAY1])[0].current  # and the day is current again


def test_a_merge_is_computed_again_when_one_of_its_map_batches_is(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The merge of an interrupted run was reused whatever its map batches: merged from
    partials that a map batch computed again no longer matches."""
    run_operator(Sessionize(), lake, [DAY1])  # tool_stats reads tool_calls

    def killed(*_: object) -> None:
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr("trajectory_assets.engine.materialize.commit_day", killed)
        with pytest.raises(KeyboardInterrupt):
            run_operator(ToolStats(), lake, [DAY1])
    (day,) = plan(ToolStats(), lake, [DAY1])
    attempt = day.attempt(ToolStats())
    receipts = finished_batches(attempt)
    merged = {f.path for f in receipts[day.merge_id(ToolStats())].tables("tool_stats")}
    a_map = next(b for b in receipts if b != day.merge_id(ToolStats()))
    lake.fs.rm(f"{attempt.path}/{RECEIPTS}/{a_map}.json")  # its batch runs again
    result = run_operator(ToolStats(), lake, [DAY1])
    assert result.days[DAY1].reused_batches == len(day.map_ids(ToolStats())) - 1
    committed = {f.path for f in lake_catalog(lake).snapshot("tool_stats").day_files(DAY1)}
    assert committed and not committed & merged  # the merge's own files, made again


def test_an_interrupted_commit_of_other_code_is_computed_anew(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run killed as it committed, then the code fixed with the version kept (or the release
    upgraded): the next run completed the commit the old code had computed, and the day was
    current with the bug in it."""
    from trajectory_assets.lake.staging import pending_attempts

    def killed(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    clean = Lake(str(shutil.copytree(lake.root, tmp_path / "clean")))
    good = _module("ops_good_commit", FIXED + "BUGGY = False\n", tmp_path).Fixed()
    run_operators([good], clean, [DAY1], InlineRuntime(), registry=_registry([good]))
    buggy = _module("ops_buggy_commit", FIXED + "BUGGY = True\n", tmp_path).Fixed()
    with monkeypatch.context() as patched:  # killed before its first table's commit
        patched.setattr("trajectory_assets.lake.delta_commit.commit_day", killed)
        with pytest.raises(KeyboardInterrupt):
            run_operators([buggy], lake, [DAY1], InlineRuntime(), registry=_registry([buggy]))
    assert pending_attempts(lake, "sessionize", DAY1)  # it had decided to commit
    fixed = _module("ops_fixed_commit", FIXED + "BUGGY = False\n", tmp_path).Fixed()
    lines: list[str] = []
    run_operators(
        [fixed], lake, [DAY1], InlineRuntime(), registry=_registry([fixed]), progress=lines.append
    )
    assert any("was computed by other code than the operator's now: dropped" in x for x in lines)
    turns = lake_catalog(lake).read("turns", dt=DAY1)
    assert turns.equals(lake_catalog(clean).read("turns", dt=DAY1))


def test_an_interrupted_commit_of_other_code_begun_is_completed_and_says_so(
    lake: Lake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after its first table's commit: the rest must agree with it, so the commit is
    completed whatever computed it, and the run says so, where `--force` computes it anew."""
    from trajectory_assets.lake import delta_commit

    real = delta_commit.commit_day
    calls: list[str] = []

    def killed_after_one(*args: object, **kwargs: object) -> object:
        calls.append("commit")
        if len(calls) > 1:
            raise KeyboardInterrupt
        return real(*args, **kwargs)  # type: ignore[arg-type]

    buggy = _module("ops_buggy_begun", FIXED + "BUGGY = True\n", tmp_path).Fixed()
    with monkeypatch.context() as patched:
        patched.setattr("trajectory_assets.lake.delta_commit.commit_day", killed_after_one)
        with pytest.raises(KeyboardInterrupt):
            run_operators([buggy], lake, [DAY1], InlineRuntime(), registry=_registry([buggy]))
    fixed = _module("ops_fixed_begun", FIXED + "BUGGY = False\n", tmp_path).Fixed()
    lines: list[str] = []
    run_operators(
        [fixed], lake, [DAY1], InlineRuntime(), registry=_registry([fixed]), progress=lines.append
    )
    assert any(
        "completing the interrupted commit" in x and "computed by other code" in x for x in lines
    ), lines
    halved = lake_catalog(lake).read("turns", dt=DAY1).num_rows  # the buggy run's, completed
    forced = settings(force=True)
    registry = _registry([fixed])
    run_operators([fixed], lake, [DAY1], InlineRuntime(), registry=registry, settings=forced)
    assert lake_catalog(lake).read("turns", dt=DAY1).num_rows > halved
