"""The shipped instance configs (the embedded default and deploy/): what README promises of them."""

from pathlib import Path

import dagster as dg
import pytest
import yaml

ROOT = Path(__file__).parents[2]


@pytest.mark.parametrize(
    "config", ["trajectory_assets/defs/dagster_local.yaml", "deploy/dagster.yaml"]
)
def test_the_daemon_frees_a_dead_runs_pool_slot_within_45_seconds(config: str) -> None:
    """README: the daemon's run monitoring frees the slot 30-45 s after the run ended, and
    marks a run whose process is gone canceled a minute after Terminate; Dagster's default poll,
    every 120 s, and cancel timeout, 180 s, held it for minutes in trials of the local stack."""
    monitoring = yaml.safe_load((ROOT / config).read_text())["run_monitoring"]
    assert monitoring["enabled"]
    assert monitoring["free_slots_after_run_end_seconds"] == 30
    assert monitoring["poll_interval_seconds"] <= 15
    assert monitoring["cancel_timeout_seconds"] == 60  # Terminate of a run whose process is gone


def test_the_production_instance_retries_a_run_whose_process_died_and_no_other() -> None:
    """README's "When something fails": one retry of a run whose worker died (a drained node, an
    out-of-memory kill), none of a run whose operator or check failed, which would fail again."""
    retries = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())["run_retries"]
    assert retries == {"enabled": True, "max_retries": 1, "retry_on_asset_or_op_failure": False}


def test_the_readmes_run_failure_sensor_loads_beside_the_tables(tmp_path: Path) -> None:
    """As `dagster definitions validate -f` and the daemon load a file: its module found two
    Definitions at module scope (the tables imported by name) and loaded neither."""
    from dagster._core.workspace.autodiscovery import loadable_targets_from_python_file

    readme = (ROOT / "README.md").read_text()
    (block,) = [b.split("```")[0] for b in readme.split("```python\n")[1:] if "run_failure" in b]
    module = tmp_path / "failure_defs.py"
    module.write_text(block)  # the README's own code
    (target,) = loadable_targets_from_python_file(str(module))
    defs = target.target_definition
    assert isinstance(defs, dg.Definitions)
    assert defs.resolve_sensor_def("tell_on_call").name == "tell_on_call"
    assert defs.resolve_job_def("tier_b_daily").name == "tier_b_daily"


def camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word.title() for word in rest)


def test_the_helm_values_set_what_the_production_instance_sets() -> None:
    """The Helm chart writes the instance from its values: a setting deploy/dagster.yaml has and
    the values lack (the pool's limit of 1 once was) holds on compose and the local stack and
    silently not on Kubernetes, where `forget` then deletes raw files under a running run."""
    instance = yaml.safe_load((ROOT / "deploy" / "dagster.yaml").read_text())
    values = yaml.safe_load((ROOT / "deploy" / "k8s" / "dagster-values.yaml").read_text())
    daemon = values["dagsterDaemon"]
    assert daemon["runRetries"] == {camel(k): v for k, v in instance["run_retries"].items()}
    assert daemon["runMonitoring"] == {camel(k): v for k, v in instance["run_monitoring"].items()}
    concurrency = instance["concurrency"]
    assert values["concurrency"]["enabled"]
    assert values["concurrency"]["pools"] == {"defaultLimit": concurrency["pools"]["default_limit"]}
    runs = values["concurrency"]["runs"]
    assert runs["maxConcurrentRuns"] == concurrency["runs"]["max_concurrent_runs"]
    assert runs["tagConcurrencyLimits"] == concurrency["runs"]["tag_concurrency_limits"]
    # the chart refuses limits set both there and under `concurrency`
    assert daemon["runCoordinator"]["config"]["queuedRunCoordinator"] == {}
