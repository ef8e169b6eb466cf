"""The compute resource: which runtime a run gets from its settings."""

from trajectory_assets.defs.resources import ComputeResource
from trajectory_assets.engine.runtimes.auto import AutoRuntime
from trajectory_assets.engine.runtimes.inline import InlineRuntime


def test_num_cpus_sizes_the_in_process_runtime_too() -> None:
    """`--num-cpus 1` on the in-process runtime was ignored: its threads took every core."""
    inline = ComputeResource(runtime="inline", num_cpus=1).get_runtime()
    assert isinstance(inline, InlineRuntime) and inline.workers == 1
    auto = ComputeResource(num_cpus=1).get_runtime()
    assert isinstance(auto, AutoRuntime) and auto.workers == 1  # when it keeps a run in-process
    assert AutoRuntime(auto.make_ray, workers=None).workers is None  # every core
