"""The lake's operator parameters (`params` in trajectory_assets.json): one value for the command
line and every code location, checked as run config is, each mistake naming the file's key."""

import datetime as dt
import json
from pathlib import Path

import dagster as dg
import pytest

import trajectory_assets as ta
from tests.cli.helpers import generate, materialize, new_dagster_home, on_lake
from tests.lakes import DAY1
from trajectory_assets.cli.main import main
from trajectory_assets.cli.outcome import failure_message
from trajectory_assets.defs.definitions import build_definitions, default_resources
from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.errors import SettingError
from trajectory_assets.lake.config import LakeConfig, read_config, write_config
from trajectory_assets.lake.delta_history import operator_commits
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS
from trajectory_assets.project import for_lake


def with_params(root: Path, params: object) -> Lake:
    root.mkdir(exist_ok=True)
    (root / "trajectory_assets.json").write_text(json.dumps({"params": params}))
    return Lake(str(root))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ([5], "params [5] is not an object of operators' parameters"),
        ({"sessionise": {}}, "params names no operator of this lake: sessionise (the operators "),
        ({"sessionize": {"x": 1}}, "params.sessionize has no parameter(s) x (its parameters: "),
        (
            {"sessionize": {"identical_run_threshold": "many"}},
            "params.sessionize.identical_run_threshold: Input should be a valid integer",
        ),
        (
            {"sessionize": {"identical_run_threshold": 1}},
            "params.sessionize: identical_run_threshold must be >= 2, got 1",
        ),
    ],
)
def test_a_mistake_names_the_file_and_the_key(tmp_path: Path, params: object, message: str) -> None:
    lake = with_params(tmp_path / "lake", params)
    with pytest.raises(SettingError) as refused:
        for_lake(lake).registry  # noqa: B018 - what every command loads
    assert str(refused.value).startswith(f"{lake.display('trajectory_assets.json')}: ")
    assert message in str(refused.value)


def test_a_reader_leaves_the_sections_of_operators_it_does_not_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A team's section for its module given by `--defs` alone (not in the lake's "defs")
    refused every reader of the lake: `query`, `tables`, a notebook's `connect`. A command that
    computes still refuses it: a misspelt section would compute with the code's values."""
    lake = with_params(tmp_path / "lake", {"team_metric": {"cutoff": 2}})
    with pytest.raises(SettingError, match="params names no operator of this lake: team_metric"):
        for_lake(lake).registry  # noqa: B018 - what materialize loads
    assert "sessions" in for_lake(lake, reader=True).registry.tables
    for command in (["tables"], ["query", "SELECT 1 AS one"]):
        assert main([command[0], "--lake", lake.root, *command[1:]]) == 0, capsys.readouterr()
    with pytest.warns(UserWarning, match="params names no operator loaded here: team_metric"):
        context = ta.connect(lake)  # it may `write`: a misspelt section is not passed over unsaid
    assert "sessions" in context.tables()


def test_a_code_location_takes_the_lake_s_values_and_leaves_other_operators_sections(
    tmp_path: Path,
) -> None:
    """The built-in location holds none of a team's operators: their section is theirs."""
    lake = with_params(
        tmp_path / "lake",
        {"model_comparisons": {"window_days": 7}, "team_metric": {"cutoff": 2}},
    )
    resources = {
        "lake": LakeResource(root=lake.root),
        "compute": ComputeResource(runtime="inline"),
    }
    defs = build_definitions(OPERATORS, name="tier_b", resources=dict(resources))
    job = defs.resolve_job_def("tier_b_daily")
    assert job.partitioned_config is not None
    shown = job.partitioned_config.get_run_config_for_partition_key(DAY1)["ops"]["tier_b"]
    assert shown["config"]["model_comparisons"] == {"window_days": 7}  # the launchpad's default
    with_params(tmp_path / "lake", {"model_comparisons": {"window_days": 0}})
    with pytest.raises(SettingError) as refused:  # the location does not load: the UI says why
        build_definitions(OPERATORS, name="tier_b", resources=dict(resources))
    assert "params.model_comparisons: window_days must be" in str(refused.value)


def test_the_command_line_computes_with_the_lake_s_values_and_judges_days_by_them(
    tmp_path: Path,
) -> None:
    """A value set in a code location alone was not the command line's: `--missing` computed
    the days with the code's defaults and the location's sensor computed them again."""
    home = new_dagster_home(tmp_path / "home")
    root = tmp_path / "lake"
    generate(root, home, days=1, sessions_per_day=5)
    lake = Lake(str(root))
    config = read_config(lake)
    assert config is not None
    params = {"sessionize": {"identical_run_threshold": 5}}
    write_config(lake, config.__class__(config.start_date, config.defs, params, config.lake_id))
    assert json.loads((root / "trajectory_assets.json").read_text())["params"] == params
    done = materialize(root, home, "--missing", "--assets", "sessions")
    assert done.returncode == 0, done.stderr[-3000:]
    made = json.loads(operator_commits(lake, "sessions", [DAY1])[DAY1].metadata["operator_params"])
    assert made["identical_run_threshold"] == 5
    again = materialize(root, home, "--missing", "--assets", "sessions")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout
    planned = on_lake("explain", root, home, "sessions")
    assert "sessionize: up to date" in planned.stdout, planned.stdout
    write_config(lake, config)  # the value taken out: the day was made with another
    stale = materialize(root, home, "--missing", "--assets", "sessions", "--dry-run")
    assert f"{DAY1}: tables missing or stale" in stale.stdout, stale.stdout


def test_a_location_loaded_before_the_params_changed_computes_nothing_until_reloaded(
    lake: Lake,
) -> None:
    """It computed with the values it loaded, the command line with the file's: each computed
    the other's days again. Its sensor, schedule and runs now say to reload it."""
    defs = build_definitions(OPERATORS, name="tier_b", resources=default_resources(lake.uri))
    config = read_config(lake) or LakeConfig()
    params = {"sessionize": {"identical_run_threshold": 5}}
    write_config(lake, LakeConfig(config.start_date, config.defs, params, config.lake_id))
    reload = "changed since this code location loaded ({} then, "
    context = dg.build_sensor_context(resources={"lake": LakeResource(root=lake.uri)})
    ticked = defs.resolve_sensor_def("tier_b_daily_raw_changed")(context)
    assert isinstance(ticked, dg.SensorResult) and not ticked.run_requests
    assert ticked.skip_reason is not None and reload in str(ticked.skip_reason.skip_message)
    at = dt.datetime.fromisoformat(DAY1) + dt.timedelta(days=1, minutes=30)
    schedule = dg.build_schedule_context(
        resources={"lake": LakeResource(root=lake.uri)}, scheduled_execution_time=at
    )
    skipped = defs.resolve_schedule_def("tier_b_daily_schedule")(schedule)
    assert isinstance(skipped, dg.SkipReason) and reload in str(skipped.skip_message)
    run = defs.resolve_job_def("tier_b_daily").execute_in_process(
        partition_key=DAY1, raise_on_error=False
    )
    assert not run.success and reload in failure_message(run)
    assert not Path(lake.root, "sessions").exists()  # nothing computed with the old values

    Path(lake.root, "trajectory_assets.json").write_text("{")  # edited into a mistake since
    broken = "trajectory_assets.json is not valid JSON"
    ticked = defs.resolve_sensor_def("tier_b_daily_raw_changed")(context)
    assert isinstance(ticked, dg.SensorResult) and ticked.skip_reason is not None
    assert broken in str(ticked.skip_reason.skip_message)
    run = defs.resolve_job_def("tier_b_daily").execute_in_process(
        partition_key=DAY1, raise_on_error=False
    )
    assert not run.success and broken in failure_message(run)
    (failed,) = run.get_step_failure_events()  # a Failure: its description, no stack trace
    assert failed.step_failure_data.user_failure_data is not None
