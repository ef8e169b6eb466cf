import dagster as dg

from trajectory_assets.defs.config import config_class
from trajectory_assets.operators import OPERATORS


def test_the_launchpad_opens_with_every_default_spelled_out() -> None:
    from trajectory_assets.definitions import defs

    job = defs.resolve_job_def("tier_b_daily")
    assert job.partitioned_config is not None
    shown = job.partitioned_config.get_run_config_for_partition_key("2026-11-01")
    config = shown["ops"]["tier_b"]["config"]
    assert config["on_bad_file"] == "fail"
    assert config["batch_bytes"] == config_class(OPERATORS, "tier_b")().batch_bytes
    with_params = {op.name for op in OPERATORS if op.params}
    assert with_params and with_params <= set(config)
    assert config["model_comparisons"] == {"window_days": 1}
    # the same config stays valid for a run of one table or of the report alone
    for key in ("sessions", "daily_report"):
        subset = job.get_subset(asset_selection={dg.AssetKey(key)})
        assert dg.validate_run_config(subset, shown)
