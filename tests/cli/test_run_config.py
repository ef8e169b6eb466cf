"""`--config` is checked as the run would check it, before any run starts: one line naming the
setting, whether the file is in our form or the launchpad's."""

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.cli.helpers import materialize, on_lake
from tests.lakes import DAY1, DAY2
from trajectory_assets.cli.common import CliError
from trajectory_assets.cli.run_config import FLAGS, check_configs, node_configs
from trajectory_assets.defs.config import launchpad_config
from trajectory_assets.operators import OPERATORS

NODES = {"tier_b": OPERATORS}


def refusal(config: dict[str, Any]) -> str:
    with pytest.raises(CliError) as refused:
        check_configs("c.yaml", node_configs("c.yaml", config, NODES, FLAGS), NODES)
    return str(refused.value)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"retention_hours": -1}, "retention_hours: Input should be greater than or equal to 0"),
        ({"max_rejected_share": 2}, "max_rejected_share: Input should be less than or equal to 1"),
        ({"max_elimination_ratio": -0.1}, "max_elimination_ratio: Input should be greater than"),
        ({"batch_bytes": -5}, "batch_bytes: Input should be greater than or equal to 0 (got -5)"),
        ({"sessionize": {"identical_run_threshold": -3}}, "sessionize: identical_run_threshold"),
        ({"sessionize": {"ping_pong_threshold": "x"}}, "sessionize.ping_pong_threshold: Input"),
        ({"turn_features": {"typo": 1}}, "turn_features has no parameter(s) ['typo']"),
        # taken as typed: `true` is no threshold of 100%, nor "0.1" a number (Dagster's own
        # config types let the first through and refuse the second only once the run launched)
        ({"max_rejected_share": True}, "max_rejected_share: Input should be a valid number"),
        ({"max_rejected_share": "0.1"}, "max_rejected_share: Input should be a valid number"),
        ({"batch_bytes": 2.5}, "batch_bytes: Input should be a valid integer"),
        ({"sessionize": {"identical_run_threshold": True}}, "identical_run_threshold: Input"),
    ],
)
def test_a_value_the_run_would_refuse_is_named(config: dict[str, Any], message: str) -> None:
    assert message in refusal(config)
    assert refusal(config).startswith("--config c.yaml: ")


def test_the_launchpad_form_is_checked_the_same_way() -> None:
    pasted = launchpad_config(OPERATORS, "tier_b")
    pasted["ops"]["tier_b"]["config"]["retention_hours"] = -1.0
    assert "retention_hours: Input should be greater than or equal to 0" in refusal(pasted)
    pasted["ops"]["tier_b"]["config"]["retention_hours"] = 1.0
    pasted["ops"]["tier_b"]["config"]["bogus"] = 1
    assert "unknown setting(s) ['bogus']" in refusal(pasted)


def test_the_ui_s_whole_config_is_taken_without_what_the_command_sets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The launchpad's config as the UI shows it holds the resources too: it was refused."""
    pasted = {
        **launchpad_config(OPERATORS, "tier_b"),
        "resources": {"lake": {"config": {"root": "elsewhere"}}},
    }
    nodes = node_configs("c.yaml", pasted, NODES, FLAGS)
    assert nodes["tier_b"]["sessionize"] == {"identical_run_threshold": 3, "ping_pong_threshold": 4}
    assert "note: --config c.yaml: resources left out: the command sets them" in (
        capsys.readouterr().err
    )
    pasted["bogus"] = {}
    assert "only `ops` is read from a launchpad config, not ['bogus']" in refusal(pasted)


def test_a_flag_of_another_command_in_the_file_is_left_out_with_a_note(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`explain --config` refused the run's launchpad config with `force: true`: "use --force",
    which explain has not; materialize still says to use its flag."""
    pasted = launchpad_config(OPERATORS, "tier_b")
    pasted["ops"]["tier_b"]["config"]["force"] = True
    for config in (pasted, {"force": True, "retention_hours": 2}):
        nodes = node_configs("c.yaml", config, NODES, flags={"on_bad_file"})
        assert "force" not in nodes["tier_b"]
        note = "note: --config c.yaml: force left out: this command has no such flag"
        assert note in capsys.readouterr().err
        assert "force has a flag of its own: use --force" in refusal(config)


def test_valid_settings_pass() -> None:
    config = {
        "retention_hours": 0,
        "max_rejected_share": 1,
        "sessionize": {"ping_pong_threshold": 6},
    }
    check_configs("c.yaml", node_configs("c.yaml", config, NODES, FLAGS), NODES)
    check_configs(
        "c.yaml", node_configs("c.yaml", launchpad_config(OPERATORS, "tier_b"), NODES, FLAGS), NODES
    )


def test_missing_days_are_judged_by_the_parameters_the_run_will_have(
    materialized_lake: Path, tmp_path: Path, home: Path
) -> None:
    """`--missing --config` picked days by the code's parameters: days computed with the
    default threshold were "nothing to do" for a run asking for another, and days computed with
    that run's threshold were picked again (a dry run listed them, the run found them current);
    `explain --config` plans the run given the file."""
    lake = shutil.copytree(materialized_lake, tmp_path / "lake")
    config = tmp_path / "config.yaml"
    config.write_text("sessionize: {identical_run_threshold: 5}\n")
    asked = ("--missing", "--assets", "sessions", "--config", str(config))
    dry = materialize(lake, home, *asked, "--dry-run")
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert f"would materialize 2 day(s) in 1 run(s): {DAY1} .. {DAY2}" in dry.stdout
    assert (
        f"{DAY1} .. {DAY2}: tables missing or stale (sessionize: it was computed with other "
        "parameters (identical_run_threshold 3 then, 5 now))"
    ) in dry.stdout
    done = materialize(lake, home, *asked)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "succeeded" in done.stdout
    again = materialize(lake, home, *asked)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout
    assert "materializing" not in again.stdout
    planned = on_lake("explain", lake, home, "sessions", "--config", str(config))
    assert planned.returncode == 0, planned.stderr[-3000:]
    assert f"dt={DAY1}: nothing to read now\n  sessionize: up to date" in planned.stdout
    unconfigured = on_lake("explain", lake, home, "sessions", "--partition", DAY1)
    assert "sessionize: up to date" not in unconfigured.stdout
    assert "identical_run_threshold" in unconfigured.stdout, unconfigured.stdout
    config.write_text("batch_bytes: 1\n")  # the file's batch size plans the batches too
    small = on_lake("explain", lake, home, "sessions", "--partition", DAY1, "--config", str(config))
    assert batches(small.stdout) > batches(unconfigured.stdout), small.stdout
    config.write_text("sessionize: {identical_run_threshold: 1}\n")
    refused = on_lake("explain", lake, home, "sessions", "--config", str(config))
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith(f"error: --config {config}: sessionize: ")
    by_code = materialize(lake, home, "--missing", "--assets", "sessions", "--dry-run")
    assert by_code.returncode == 0, by_code.stderr[-3000:]
    assert f"would materialize 2 day(s) in 1 run(s): {DAY1} .. {DAY2}" in by_code.stdout


def batches(plan: str) -> int:
    found = re.search(r"(\d+) batches \(", plan)
    assert found is not None, plan
    return int(found.group(1))
