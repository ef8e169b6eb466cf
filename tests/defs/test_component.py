"""The OperatorAssets component: a defs.yaml loaded the way `dg` and `dagster dev` load a
project gives the same assets, job and schedule as `build_definitions`, materializes the same
table, and a bad import path fails the load naming the path."""

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import team_metrics.definitions as team  # installed beside the package by `make test`
import yaml
from dagster.components.testing import create_defs_folder_sandbox

from tests.dagster_assets import inline_resources
from tests.lakes import DAY1
from tests.runs import run_all
from trajectory_assets.defs.component import BUILTIN, OperatorAssets, configure
from trajectory_assets.defs.definitions import build_definitions
from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.defs.settings import LAKE
from trajectory_assets.engine.registry import Registry
from trajectory_assets.engine.runtimes.names import RUNTIME
from trajectory_assets.errors import DefinitionError
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS

PROJECT = Path(__file__).parent / "component_project"
TABLES = {"slow_turns", "model_usage", "model_switches"}
TYPE = "trajectory_assets.defs.component.OperatorAssets"


@pytest.fixture()
def env_lake(lake: Lake, monkeypatch: pytest.MonkeyPatch) -> Lake:
    """The lake and runtime the code location's resources read from the environment."""
    monkeypatch.setenv(LAKE, lake.uri)
    monkeypatch.setenv(RUNTIME, "inline")
    return lake


def load_project() -> dg.Definitions:
    """tests/defs/component_project as Dagster loads a dg project: dg.toml, then defs/."""
    return dg.load_from_defs_folder(path_within_project=PROJECT)


def python_route(resources: dict[str, dg.ConfigurableResource] | None = None) -> dg.Definitions:
    return build_definitions(
        team.operators, upstream=OPERATORS, name="team_metrics", resources=resources
    )


@pytest.fixture()
def sandbox_defs() -> Iterator[Any]:
    """Loads one OperatorAssets defs.yaml with the given attributes in a throwaway dg project."""

    def load(attributes: dict[str, Any]) -> dg.Definitions:
        with create_defs_folder_sandbox() as sandbox:
            path = sandbox.scaffold_component(
                OperatorAssets,
                defs_path="tables",
                defs_yaml_contents={"type": TYPE, "attributes": attributes},
            )
            with sandbox.load_component_and_build_defs(defs_path=path) as (_, defs):
                return defs

    yield load


def test_the_yaml_gives_what_build_definitions_gives(env_lake: Lake) -> None:
    defs = load_project()
    python = python_route()
    assert {k.to_user_string() for a in defs.assets or [] for k in a.keys} == TABLES  # type: ignore[union-attr]
    assert defs.resolve_job_def("team_metrics_daily").name == "team_metrics_daily"
    schedule = defs.resolve_schedule_def("team_metrics_daily_schedule")
    assert schedule.job_name == "team_metrics_daily"
    assert set(defs.resources or {}) == {"lake", "compute"}
    lake = defs.resources["lake"]  # type: ignore[index]
    assert isinstance(lake, LakeResource)
    assert lake.lake().uri == env_lake.uri
    ours, theirs = defs.resolve_assets_def("slow_turns"), python.resolve_assets_def("slow_turns")
    assert ours.partitions_def == theirs.partitions_def
    assert ours.check_keys == theirs.check_keys
    for key in theirs.keys:
        mine, other = ours.specs_by_key[key], theirs.specs_by_key[key]
        assert (mine.deps, mine.code_version, mine.group_name, mine.description) == (
            other.deps,
            other.code_version,
            other.group_name,
            other.description,
        )


def test_a_table_materializes_as_through_python(env_lake: Lake, tmp_path: Path) -> None:
    run_all(env_lake, [DAY1])  # the built-in tables slow_turns reads
    other = Lake(str(shutil.copytree(env_lake.root, tmp_path / "other")))
    defs = load_project()
    python = python_route(inline_resources(other))
    for made in (defs, python):
        result = dg.materialize(
            list(made.assets or []),  # type: ignore[arg-type]
            selection=dg.AssetSelection.assets("slow_turns"),
            partition_key=DAY1,
            resources=made.resources,
            instance=dg.DagsterInstance.ephemeral(),
        )
        assert result.success
        assert [e.passed for e in result.get_asset_check_evaluations()] == [True]
    tables = Registry.build([*OPERATORS, *team.operators]).tables
    yaml_rows, python_rows = (Catalog(x, tables).read("slow_turns") for x in (env_lake, other))
    assert yaml_rows.num_rows > 0
    assert yaml_rows.equals(python_rows)


def slow_turns_default(defs: dg.Definitions, param: str) -> Any:
    """The run config default of a slow_turns parameter, as the launchpad shows it."""
    config = defs.resolve_assets_def("slow_turns").op.config_schema.config_type
    return config.fields["slow_turns"].config_type.fields[param].default_value  # type: ignore[union-attr]


def test_params_and_group(env_lake: Lake, sandbox_defs: Any) -> None:
    defs = sandbox_defs(
        {
            "name": "slow",
            "group": "team",
            "operators": ["team_metrics.operators:SlowTurns"],
            "upstream": [BUILTIN],
            "params": {"slow_turns": {"ttft_ms": 1500.0}},
        }
    )
    assert slow_turns_default(defs, "ttft_ms") == 1500.0
    assert slow_turns_default(defs, "latency_ms") == 20000.0
    assert defs.resolve_assets_def("slow_turns").group_names_by_key == {
        dg.AssetKey("slow_turns"): "team"
    }
    assert defs.resolve_job_def("slow_daily").name == "slow_daily"


def test_a_whole_number_for_a_float_parameter_is_the_same_value() -> None:
    """`ttft_ms: 2000` in defs.yaml kept 2000, which the fingerprint tells from the code's and
    run config's 2000.0: every day the component computed was stale for the command line."""
    from team_metrics.operators import SlowTurns

    (given,) = configure([SlowTurns()], {"slow_turns": {"ttft_ms": 2000}})
    assert given.params["ttft_ms"] == 2000.0 and isinstance(given.params["ttft_ms"], float)
    assert given.fingerprint == SlowTurns().fingerprint


def test_an_instance_or_list_of_operators_is_taken_as_is(env_lake: Lake, sandbox_defs: Any) -> None:
    defs = sandbox_defs({"name": "team", "operators": ["team_metrics.definitions:operators"]})
    assert {k.to_user_string() for a in defs.assets or [] for k in a.keys} == TABLES


def test_what_build_definitions_takes_the_yaml_takes(
    env_lake: Lake, sandbox_defs: Any, tmp_path: Path
) -> None:
    """The lake, runtime, first partition, blocking checks, raw_events, the daily report and
    the executor: a dg project had only the environment for the first two, and no way to the
    others (a location of its own executor failed to load)."""
    defs = sandbox_defs(
        {
            "name": "builtin_tables",
            "operators": [BUILTIN],
            "upstream": [],
            "lake": str(tmp_path / "elsewhere"),
            "runtime": "ray",
            "start_date": "2026-01-05",
            "blocking_checks": True,
            "raw_source": True,
            "report": True,
            "in_process_executor": False,
            "cron": "0 6 * * *",
            "schedule_running": True,
            "sensor_running": True,
        }
    )
    lake, compute = defs.resources["lake"], defs.resources["compute"]
    assert isinstance(lake, LakeResource) and lake.root == str(tmp_path / "elsewhere")
    assert isinstance(compute, ComputeResource) and compute.runtime == "ray"
    sessions = defs.resolve_assets_def("sessions")
    assert sessions.partitions_def is not None
    assert sessions.partitions_def.get_first_partition_key() == "2026-01-05"
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert {"raw_events", "daily_report", "sessions"} <= keys
    assert defs.executor is None
    blocking = {spec.name: spec.blocking for spec in sessions.check_specs}
    assert blocking["rejected_share"] and not blocking["sessions_on_their_day"]  # a warning
    schedule = defs.resolve_schedule_def("builtin_tables_daily_schedule")
    assert schedule.cron_schedule == "0 6 * * *"
    assert schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    sensor = defs.resolve_sensor_def("builtin_tables_daily_raw_changed")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    default = build_definitions(OPERATORS, name="tier_b")  # switched on in the UI, by default
    assert default.resolve_schedule_def("tier_b_daily_schedule").default_status == (
        dg.DefaultScheduleStatus.STOPPED
    )
    assert default.resolve_sensor_def("tier_b_daily_raw_changed").default_status == (
        dg.DefaultSensorStatus.STOPPED
    )


def test_the_readmes_defs_yaml_loads(env_lake: Lake, sandbox_defs: Any) -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    blocks = [b.split("```")[0] for b in readme.split("```yaml\n")[1:]]
    (block,) = [b for b in blocks if "OperatorAssets" in b]
    document = yaml.safe_load(block)
    assert document["type"] == TYPE
    defs = sandbox_defs(document["attributes"])
    lake = defs.resources["lake"]
    assert isinstance(lake, LakeResource) and lake.lake().uri == env_lake.uri
    assert defs.resolve_job_def("tier_b_daily").name == "tier_b_daily"


def test_scaffolding_writes_a_defs_yaml_that_loads(env_lake: Lake) -> None:
    """What `dg scaffold defs trajectory_assets.defs.component.OperatorAssets team_tables
    --json-params '{"operators": [...]}'` runs: the component's scaffolder."""
    with create_defs_folder_sandbox() as sandbox:
        path = sandbox.scaffold_component(
            OperatorAssets,
            defs_path="team_tables",
            scaffold_params={"operators": ["team_metrics.operators:SlowTurns"]},
        )
        text = (path / "defs.yaml").read_text()
        assert f"type: {TYPE}" in text
        assert "name: team_tables" in text
        with sandbox.load_component_and_build_defs(defs_path=path) as (component, defs):
            assert isinstance(component, OperatorAssets)
            assert component.upstream == [BUILTIN]
            assert defs.resolve_job_def("team_tables_daily").name == "team_tables_daily"
            assert {k.to_user_string() for a in defs.assets or [] for k in a.keys} == {  # type: ignore[union-attr]
                "slow_turns"
            }


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (
            {"operators": ["team_metrics.operators:NoSuchOperator"]},
            "'team_metrics.operators:NoSuchOperator': module 'team_metrics.operators' has no "
            "'NoSuchOperator'",
        ),
        (
            {"operators": ["no_such_package.operators:SlowTurns"]},
            "cannot import module 'no_such_package.operators' of "
            "'no_such_package.operators:SlowTurns'",
        ),
        ({"operators": ["SlowTurns"]}, "'SlowTurns' is not an import path"),
        (
            {"operators": ["team_metrics.operators:SLOW_TURNS"]},
            "'team_metrics.operators:SLOW_TURNS' names a TableSpec, "
            "not a trajectory_assets.Operator",
        ),
        (
            {"operators": ["team_metrics.operators:SlowTurns"], "upstream": ["nowhere:OPS"]},
            "cannot import module 'nowhere' of 'nowhere:OPS'",
        ),
        (
            {
                "operators": ["team_metrics.operators:SlowTurns"],
                "params": {"slow_turn": {"ttft_ms": 1.0}},
            },
            "params name operator(s) ['slow_turn']",
        ),
        (
            {
                "operators": ["team_metrics.operators:SlowTurns"],
                "params": {"slow_turns": {"ttft": 1.0}},
            },
            "params: slow_turns has no parameter(s) ttft (its parameters: latency_ms, ttft_ms)",
        ),
        (
            {
                "operators": ["team_metrics.operators:SlowTurns"],
                "params": {"slow_turns": {"ttft_ms": "fast"}},
            },
            "params: slow_turns.ttft_ms: Input should be a valid number",
        ),
        (
            {"operators": ["team_metrics.operators:SlowTurns"], "start_date": "2026-13-01"},
            "start_date '2026-13-01' is not a day (YYYY-MM-DD)",
        ),
        ({"operators": []}, "operators is empty: name at least one operator"),
        (
            {"operators": ["team_metrics.operators:SlowTurns"], "group": "team-x"},
            "group 'team-x' names Dagster's asset group and job: letters, digits and _ only",
        ),
        (
            {"operators": ["team_metrics.operators:SlowTurns"], "cron": "daily"},
            "cron 'daily' of bad_daily is not a cron schedule (five fields, UTC",
        ),
    ],
    ids=[
        "missing-name",
        "missing-module",
        "not-a-path",
        "not-an-operator",
        "bad-upstream",
        "params-unknown-operator",
        "params-unknown-parameter",
        "params-of-another-type",
        "bad-start-date",
        "no-operators",
        "bad-group",
        "bad-cron",
    ],
)
def test_a_bad_path_fails_the_load_naming_it(
    env_lake: Lake, sandbox_defs: Any, attributes: dict[str, Any], message: str
) -> None:
    with pytest.raises(Exception) as raised:  # Dagster's ComponentTreeException, caused by ours
        sandbox_defs({"name": "bad", **attributes})
    causes = []
    error: BaseException | None = raised.value
    while error is not None:
        causes.append(error)
        error = error.__cause__
    reasons = [str(e) for e in causes if isinstance(e, DefinitionError)]
    assert reasons, causes
    assert message in reasons[0]
    assert "tables" in str(raised.value)  # Dagster's message names the defs.yaml folder


@pytest.mark.slow
def test_the_project_loads_as_a_code_location(tmp_path: Path) -> None:
    dagster = str(Path(sys.executable).parent / "dagster")
    done = subprocess.run(
        [dagster, "definitions", "validate", "-m", "tests.defs.component_project.definitions"],
        cwd=Path(__file__).parents[2],
        env={**os.environ, LAKE: str(tmp_path / "lake")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]


def test_the_component_type_is_registered_for_dg() -> None:
    """`dg list components` and `dg scaffold defs` find component types through this entry
    point of the installed package."""
    from importlib.metadata import entry_points

    from trajectory_assets.defs.component import OperatorAssets

    (found,) = [
        e
        for e in entry_points(group="dagster_dg_cli.registry_modules")
        if e.name == "trajectory_assets"
    ]
    assert found.load().OperatorAssets is OperatorAssets
