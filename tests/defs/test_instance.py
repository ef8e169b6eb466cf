"""The shipped instance configs (the embedded default and deploy/): what README promises of them."""

from pathlib import Path

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
