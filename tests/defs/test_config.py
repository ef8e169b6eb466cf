"""The run config of a materialization: defaults shown, operators' parameters typed."""

from pathlib import Path

import dagster as dg
import pyarrow as pa
import pytest

import trajectory_assets as ta
from tests.dagster_assets import assets_of
from tests.lakes import DAY1
from trajectory_assets.definitions import defs
from trajectory_assets.defs.config import config_class, operator_params
from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.errors import DefinitionError
from trajectory_assets.lake.fs import Lake
from trajectory_assets.operators import OPERATORS


def test_the_launchpad_opens_with_every_default_spelled_out() -> None:
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


class Tuned(ta.Operator):
    """Parameters as a user writes them: annotated, with defaults of another type or None."""

    name, version, inputs = "tuned", "1", ("turns",)
    outputs = (
        ta.TableSpec(
            "tuned",
            pa.schema([ta.column("dt", pa.string(), ""), ta.column("app_id", pa.string(), "")]),
            partition_by=(),
            keys=("app_id",),
            description="",
        ),
    )

    def __init__(self, ratio: float = 1, cap: int | None = None, note: str = "x") -> None:
        self.ratio, self.cap, self.note = ratio, cap, note

    @property
    def params(self) -> dict[str, object]:
        return {"ratio": self.ratio, "cap": self.cap, "note": self.note}


class Untyped(Tuned):
    name = "untyped"

    def __init__(self, ratio=1, models=("a", "b")):
        self.ratio, self.models = ratio, models

    @property
    def params(self) -> dict[str, object]:
        return {"ratio": self.ratio, "models": self.models}


def test_parameters_take_the_types_their_arguments_are_annotated_with() -> None:
    made = config_class([Tuned()], "mine")
    config = made(tuned={"ratio": 0.5, "cap": 3})
    assert operator_params(config, Tuned()) == {"ratio": 0.5, "cap": 3, "note": "x"}
    assert made().model_dump()["tuned"] == {"ratio": 1, "cap": None, "note": "x"}


def test_a_parameter_config_cannot_hold_is_named() -> None:
    with pytest.raises(DefinitionError) as caught:
        config_class([Untyped()], "mine")
    assert str(caught.value).startswith(
        "operator 'untyped': parameter 'models' (tuple) cannot be run config: annotate"
    )


def test_a_value_of_another_type_than_its_parameter_takes_is_named_not_the_annotation() -> None:
    """defs.yaml's `params: {tuned: {ratio: fast}}`: the annotation (float) was blamed."""
    with pytest.raises(DefinitionError) as caught:
        config_class([Tuned().configure(ratio="fast")], "mine")
    assert str(caught.value) == (
        "operator 'tuned': parameter 'ratio' is 'fast', not a float (the type its constructor "
        "argument takes)"
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"max_rejected_share": 2.0},
            "run config: max_rejected_share: Input should be less than or equal to 1 (got 2.0)",
        ),
        (
            {"sessionize": {"identical_run_threshold": -5}},
            "run config: sessionize: identical_run_threshold must be >= 2, got -5",
        ),
    ],
)
def test_a_value_the_launchpad_lets_through_fails_the_run_in_one_line(
    lake: Lake, config: dict[str, object], message: str
) -> None:
    """The launchpad checks types, not ranges: the run fails naming the setting, as the command
    line's --config does, not with pydantic's report or an operator's traceback."""
    result = dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.assets("sessions"),
        partition_key=DAY1,
        resources={"lake": LakeResource(root=lake.uri), "compute": ComputeResource()},
        run_config={"ops": {"tier_b": {"config": config}}},
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
    )
    (failure,) = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None and error.cls_name == "Failure"
    assert error.message == f"dagster._core.definitions.events.Failure: {message}\n"
    assert not Path(lake.path("sessions")).exists()
