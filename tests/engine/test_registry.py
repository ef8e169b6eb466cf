"""Bad definitions fail when a code location loads, naming the operator and the problem."""

import dataclasses
import re
from pathlib import Path

import pyarrow as pa
import pytest

import trajectory_assets as ta
from trajectory_assets.engine.registry import Registry
from trajectory_assets.errors import DefinitionError
from trajectory_assets.operators import OPERATORS, Sessionize, ToolStats

GOOD = pa.schema([("dt", pa.string()), ("app_id", pa.string()), ("session_id", pa.string())])


def operator(name: str, outputs: tuple[ta.TableSpec, ...], inputs: tuple[str, ...]) -> ta.Operator:
    class Made(ta.Operator):
        pass

    Made.name, Made.version, Made.inputs = name, "1", inputs
    Made.outputs = outputs
    Made.output_names = tuple(t.name for t in outputs)
    return Made()


def table(
    name: str, schema: pa.Schema = GOOD, keys: tuple[str, ...] = ("app_id", "session_id")
) -> ta.TableSpec:
    return ta.TableSpec(name, schema, ("app_id",), keys, "test")


def test_the_built_in_operators_make_a_registry_in_dependency_order() -> None:
    registry = Registry.build(reversed(OPERATORS))
    names = [op.name for op in registry.operators]
    for op in registry.operators:  # every producer comes before its consumers
        for table in op.inputs:
            producer = registry.producer(table)
            assert producer is None or names.index(producer.name) < names.index(op.name)
    assert set(registry.tables) == {t for op in OPERATORS for t in op.output_names}


def test_an_operator_with_its_upstream_is_what_a_run_of_every_asset_computes_first() -> None:
    registry = Registry.build(OPERATORS)
    names = [op.name for op in registry.with_upstream(registry.operator("tool_stats"))]
    assert names == ["sessionize", "tool_stats"]
    assert [op.name for op in registry.with_upstream(registry.operator("sessions"))] == [
        "sessionize"
    ]
    comparisons = registry.with_upstream(registry.operator("model_comparisons"))
    assert comparisons[-1].name == "model_comparisons"
    for op in comparisons:  # every input is raw, or written earlier in the list
        earlier = {t for o in comparisons[: comparisons.index(op)] for t in o.output_names}
        assert all(i == "raw_events" or i in earlier for i in op.inputs), op.name


def test_an_output_that_collides_with_another_table() -> None:
    mine = operator("mine", (table("sessions"),), ("turns",))
    with pytest.raises(
        DefinitionError,
        match="operator 'mine': output 'sessions' is already written by 'sessionize'",
    ):
        Registry.build([mine], OPERATORS)


@pytest.mark.parametrize(
    ("name", "taken"),
    [
        ("raw_events", "the raw events' name"),
        ("events", "the raw events' name in a batch"),
        ("reports", "the lake's folder of the daily report pages"),
        ("daily_report", "the daily report's asset"),
        ("_staging", "a name of the lake's own (they start with `_`"),
        ("_partials", "a name of the lake's own"),
        ("Reports", "the lake's folder of the daily report pages"),
        ("EVENTS", "the raw events' name in a batch"),
        ("Sessions", "differs from the table 'sessions' only in case"),
    ],
)
def test_an_output_named_as_something_of_the_lake_is_refused(name: str, taken: str) -> None:
    """A table named `reports` lived in the report pages' folder (`vacuum --full` deleted the
    pages), `_staging` in the receipts', `events` was read in place of the raw events in a
    batch, and `daily_report` loaded, then every run failed on Dagster's duplicate key."""
    mine = operator("mine", (table(name),), ("turns",))
    said = taken if taken.startswith("differs") else f"is {taken}"
    with pytest.raises(DefinitionError, match=re.escape(f"output {name!r} {said}")):
        Registry.build([mine], OPERATORS)


def test_a_schema_without_a_key_or_partition_column() -> None:
    bad = ta.TableSpec("bad", GOOD, ("model",), ("app_id", "turn_index"), "test")
    mine = operator("mine", (bad,), ("turns",))
    with pytest.raises(
        DefinitionError,
        match=r"operator 'mine': output 'bad': keys or partition columns \['model', 'turn_index'\]",
    ):
        Registry.build([mine], OPERATORS)
    no_day = table("no_day", pa.schema([("app_id", pa.string()), ("session_id", pa.string())]))
    with pytest.raises(DefinitionError, match="has no `dt` column"):
        Registry.build([operator("mine", (no_day,), ("turns",))], OPERATORS)


def test_a_dt_that_is_not_a_string_and_misspelt_raw_columns() -> None:
    dated = GOOD.set(0, pa.field("dt", pa.date32()))
    with pytest.raises(
        DefinitionError, match=re.escape("`dt` column is date32[day], not a string")
    ):
        Registry.build([operator("mine", (table("mine", dated),), ("turns",))], OPERATORS)
    reads_raw = operator("mine", (table("mine"),), ("raw_events",))
    type(reads_raw).raw_columns = ("event_type", "event_typ")
    with pytest.raises(
        DefinitionError, match=r"operator 'mine': `raw_columns` \['event_typ'\] are not raw_events"
    ):
        Registry.build([reads_raw], OPERATORS)


def test_a_timestamp_in_another_unit_than_delta_holds() -> None:
    """Delta has one timestamp unit: days written in milliseconds beside days in microseconds
    were refused by the notebook API's reads (a lossy cast), and a change of unit was no change
    of the table's type to the schema guard."""
    coarse = (
        GOOD.append(pa.field("at", pa.timestamp("ms", tz="UTC")))
        .append(pa.field("calls", pa.list_(pa.struct([("ended", pa.timestamp("ns"))]))))
        .append(pa.field("pair", pa.list_(pa.timestamp("s"), 2)))
    )
    with pytest.raises(
        DefinitionError,
        match=re.escape(
            "output 'mine': timestamps at (timestamp[ms, tz=UTC]), calls (list<item: "
            "struct<ended: timestamp[ns]>>), pair (fixed_size_list<item: timestamp[s]>[2]) are "
            "not in microseconds"
        ),
    ):
        Registry.build([operator("mine", (table("mine", coarse),), ("turns",))], OPERATORS)
    fine = GOOD.append(pa.field("at", pa.timestamp("us", tz="UTC")))
    Registry.build([operator("mine", (table("mine", fine),), ("turns",))], OPERATORS)


def test_every_problem_is_reported_and_none_that_follows_from_another() -> None:
    unversioned = operator("unversioned", (table("first"),), ("turns",))
    type(unversioned).version = ""
    writer = operator("writer", (table("second"),), ("turns",))
    reader = operator("reader", (table("third"),), ("second",))
    with pytest.raises(DefinitionError) as caught:
        Registry.build([unversioned, writer, reader], OPERATORS)
    assert str(caught.value).splitlines()[1:] == [
        "- operator 'unversioned': it declares no `version`"
    ]
    own_sessionize = operator("sessionize", (table("mine"),), ("turns",))
    with pytest.raises(DefinitionError) as clash:  # the command line: everyone in one list
        Registry.build([*OPERATORS, own_sessionize])
    assert str(clash.value).splitlines()[1:] == [
        "- operator 'sessionize' (Made): Sessionize, which writes sessions, turns, errors, "
        "rejected_events, llm_calls, tool_calls, has the same name: give it a name of its own"
    ]
    with pytest.raises(DefinitionError) as upstream:  # a code location of its own
        Registry.build([own_sessionize], OPERATORS)
    assert "has the name of an upstream operator" in str(upstream.value)
    assert "is not raw_events nor a table" not in str(upstream.value)


def test_an_input_that_no_operator_writes() -> None:
    mine = operator("mine", (table("mine"),), ("tickets",))
    with pytest.raises(
        DefinitionError, match="operator 'mine': input 'tickets' is not raw_events nor a table"
    ):
        Registry.build([mine], OPERATORS)


def test_every_cycle_is_named() -> None:
    a = operator("a", (table("ta"),), ("tb",))
    b = operator("b", (table("tb"),), ("ta",))
    c = operator("c", (table("tc"),), ("tc",))  # reads its own table
    with pytest.raises(DefinitionError) as raised:
        Registry.build([a, b, c])
    assert "- operators a -> b -> a: their inputs form a cycle" in str(raised.value)
    assert "- operators c -> c: their inputs form a cycle" in str(raised.value)


def test_a_partial_schema_needs_a_merge() -> None:
    mine = operator("mine", (table("mine"),), ("turns",))
    type(mine).partial_schema = GOOD
    with pytest.raises(DefinitionError) as caught:
        Registry.build([mine], OPERATORS)
    assert "has a `partial_schema` but no `merge`" in str(caught.value)


class Windowed(ta.Operator):
    """`params` that name no constructor argument, and an argument left out of them."""

    name, version, inputs = "windowed", "1", ("sessions",)
    outputs = (ta.TableSpec("windowed", GOOD, ("app_id",), ("app_id", "session_id"), "test"),)

    def __init__(self, window_days: int = 2, note: str = "") -> None:
        self.window_days, self.note = window_days, note
        self.lookback_days = window_days - 1

    @property
    def params(self) -> dict[str, object]:
        return {"threshold": self.window_days}


def test_params_must_be_the_constructor_s_arguments_and_a_window_not_negative() -> None:
    """A `params` naming no constructor argument loaded, and every run failed (even one without
    run config); an argument left out made no day stale when it changed; a window of no days
    committed empty days."""
    with pytest.raises(DefinitionError) as caught:
        Registry.build([Windowed(window_days=0)], OPERATORS)
    problems = str(caught.value)
    assert (
        "- operator 'windowed': `params` names threshold, which its constructor does not take "
        "(window_days, note): a run with parameters could not build it"
    ) in problems
    assert (
        "- operator 'windowed': constructor argument(s) window_days, note are not in `params`"
    ) in problems
    assert "- operator 'windowed': `lookback_days` is -1: 0 or more" in problems
    assert Registry.build([Fixed()], OPERATORS).operator("windowed").params["window_days"] == 2
    assert Registry.build([Structural(note="x")], OPERATORS).operator("windowed").params == {}
    with pytest.raises(ValueError, match=re.escape("window_days=0 makes lookback_days -1")):
        Fixed().configure(window_days=0)


class Fixed(Windowed):
    @property
    def params(self) -> dict[str, object]:
        return {"window_days": self.window_days, "note": self.note}


class Structural(Windowed):
    """No parameters: never rebuilt from them, so its arguments are its own business."""

    @property
    def params(self) -> dict[str, object]:
        return {}


def test_a_definitions_module_that_fails_names_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    from trajectory_assets.project import load

    cannot = "cannot import the definitions module 'no_such_module' (named by {})"
    with pytest.raises(DefinitionError, match=re.escape(cannot.format("--defs or defs="))):
        load(["no_such_module"])
    with pytest.raises(DefinitionError) as from_lake:
        load(lake_defs=["no_such_module"])
    assert cannot.format("the lake's trajectory_assets.json") in str(from_lake.value)
    assert "install it in this Python environment" in str(from_lake.value)
    monkeypatch.setenv("TRAJECTORY_ASSETS_DEFS", "no_such_module")
    with pytest.raises(DefinitionError, match=re.escape(cannot.format("TRAJECTORY_ASSETS_DEFS"))):
        load(lake_defs=["no_such_module"])
    monkeypatch.setenv("TRAJECTORY_ASSETS_DEFS", "trajectory_assets.schema")
    with pytest.raises(DefinitionError, match="has no `operators` list"):
        load()


def test_an_unimportable_module_is_told_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trajectory_assets.project import load

    (tmp_path / "needs_more.py").write_text("import no_such_dependency\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DefinitionError) as dependency:
        load(["needs_more"])
    assert "the module imports 'no_such_dependency', which is not installed" in str(
        dependency.value
    )
    with pytest.raises(DefinitionError) as path:
        load(["team/metrics.py"])
    assert "name a module as Python imports it (e.g. 'team.metrics'), not a file path" in str(
        path.value
    )


def test_a_definitions_module_whose_code_fails_says_where(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trajectory_assets.project import load

    (tmp_path / "broken_syntax.py").write_text("x = (\n")
    (tmp_path / "raises_at_import.py").write_text("import os\n\nraise RuntimeError('no config')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DefinitionError) as syntax:
        load(["broken_syntax"])
    assert str(syntax.value).startswith(
        "the definitions module 'broken_syntax' failed while importing: SyntaxError: "
    )
    assert "broken_syntax.py, line 1" in str(syntax.value)
    with pytest.raises(DefinitionError) as raised:
        load(["raises_at_import"])
    assert str(raised.value) == (
        "the definitions module 'raises_at_import' failed while importing: "
        f"{tmp_path / 'raises_at_import.py'}:3: RuntimeError: no config"
    )


def test_a_definitions_module_listing_classes_or_failing_on_a_setting_is_told_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`operators = [ToolUse]` said the module had no `operators` list; a typo in the lake's
    params, read as the module built its definitions, blamed the module's code, with a frame of
    the project's own."""
    from trajectory_assets.errors import SettingError
    from trajectory_assets.project import load

    (tmp_path / "lists_classes.py").write_text(
        "from trajectory_assets.operators import Sessionize, ToolStats\n\n"
        "operators = [Sessionize(), ToolStats]\n"
    )
    (tmp_path / "bad_setting.py").write_text(
        "from trajectory_assets.errors import SettingError\n\n"
        "raise SettingError(\"the lake's params: sessionize has no parameter 'thresold'\")\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(DefinitionError) as classes:
        load(["lists_classes"])
    assert str(classes.value) == (
        "module 'lists_classes': in its `operators` list, item 2 is the class ToolStats: list "
        "instances, as `MyOperator()`"
    )
    (tmp_path / "names_a_class.py").write_text(
        "from trajectory_assets.operators import ToolStats\n\noperators = ToolStats\n"
    )
    with pytest.raises(DefinitionError) as one_class:
        load(["names_a_class"])
    assert str(one_class.value) == (
        "module 'names_a_class': `operators` is the class ToolStats: make it a list of "
        "instances, as `operators = [ToolStats()]`"
    )
    with pytest.raises(SettingError) as setting:
        load(["bad_setting"])
    assert str(setting.value) == (
        "the definitions module 'bad_setting': the lake's params: sessionize has no parameter "
        "'thresold'"
    )


def test_reconfigured_operators_replace_their_defaults() -> None:
    registry = Registry.build(OPERATORS)
    strict = Sessionize().configure(identical_run_threshold=2)
    assert registry.configured([strict]).operator("sessions").params["identical_run_threshold"] == 2
    with pytest.raises(TypeError, match="sessionize has no parameter"):
        Sessionize().configure(nope=1)


def test_an_operator_named_like_an_upstream_one_is_refused() -> None:
    """It used to replace the upstream operator silently: two locations then defined the same
    asset, and a run failed deep in Arrow."""

    class MyToolStats(ToolStats):
        outputs = (dataclasses.replace(ToolStats.outputs[0], name="my_tool_stats"),)

    with pytest.raises(DefinitionError, match=r"'tool_stats' \(MyToolStats\) has the name of an "):
        Registry.build([MyToolStats()], OPERATORS)
    assert Registry.build([ToolStats()], OPERATORS)  # the same operator: a reconfigured copy
