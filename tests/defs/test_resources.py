"""The compute resource: which runtime a run gets from its settings."""

from pathlib import Path

import dagster as dg
import pytest

import trajectory_assets as ta
from tests.dagster_assets import assets_of
from tests.lakes import DAY1
from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.engine.runtimes.auto import AutoRuntime
from trajectory_assets.engine.runtimes.inline import InlineRuntime


def test_num_cpus_sizes_the_in_process_runtime_too() -> None:
    """`--num-cpus 1` on the in-process runtime was ignored: its threads took every core."""
    inline = ComputeResource(runtime="inline", num_cpus=1).get_runtime()
    assert isinstance(inline, InlineRuntime) and inline.workers == 1
    auto = ComputeResource(num_cpus=1).get_runtime()
    assert isinstance(auto, AutoRuntime) and auto.workers == 1  # when it keeps a run in-process
    assert AutoRuntime(auto.make_ray, workers=None).workers is None  # every core


def test_a_run_without_a_lake_names_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A UI started without TRAJECTORY_ASSETS_LAKE read `lake` of its working folder, and its
    runs failed with "no raw data ... ingest it first", saying nothing of the setting."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRAJECTORY_ASSETS_LAKE", raising=False)
    defs = ta.build_definitions(ta.BUILTIN_OPERATORS, name="tier_b", report=True)
    unset = (
        f"no lake at {tmp_path}/lake (TRAJECTORY_ASSETS_LAKE is unset, so the lake is `lake` in "
        "the folder the code location runs in): set TRAJECTORY_ASSETS_LAKE to the lake's folder "
        "or URL\n"
    )
    given = LakeResource(root=str(tmp_path / "prod"))  # a project's own resource, as README's
    elsewhere = f"no lake at {tmp_path}/prod: the lake resource's folder is not there (its root)\n"
    for asset, lake, said in (
        ("sessions", None, unset),
        ("daily_report", None, unset),  # the report alone too
        ("sessions", given, elsewhere),
    ):
        resources = {**(defs.resources or {}), **({"lake": lake} if lake else {})}
        result = dg.materialize(
            assets_of(defs),
            selection=dg.AssetSelection.assets(asset),
            partition_key=DAY1,
            resources=resources,
            instance=dg.DagsterInstance.ephemeral(),
            raise_on_error=False,
        )
        (failure,) = result.get_step_failure_events()
        error = failure.step_failure_data.error
        assert error is not None and error.cls_name == "Failure"
        assert error.message.endswith(said), (asset, error.message)
    assert not (tmp_path / "lake").exists()


def test_a_lake_configured_at_launch_or_from_an_unset_variable_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`configure_at_launch()` failed the load with a bare AssertionError; an unset EnvVar root
    read the working folder's `lake` silently."""
    from trajectory_assets.errors import DefinitionError, SettingError

    resources = {"lake": LakeResource.configure_at_launch(), "compute": ComputeResource()}
    with pytest.raises(DefinitionError, match=r"not a LakeResource with its root: .* at launch"):
        ta.build_definitions(ta.BUILTIN_OPERATORS, resources=resources)  # type: ignore[arg-type]
    monkeypatch.delenv("MY_LAKE", raising=False)
    unset = LakeResource(root=dg.EnvVar("MY_LAKE"))
    with pytest.raises(SettingError, match="environment variable MY_LAKE, which is not set"):
        unset.lake()
