"""trajectory-assets: Tier B analysis tables from a lake of raw LLM-agent events.

The public API, for your own tables (see examples/ and the README):

    import pyarrow as pa
    import trajectory_assets as ta

    SLOW_TURNS = ta.TableSpec(
        "slow_turns",
        pa.schema([ta.column("dt", pa.string(), "the day"),
                   ta.column("app_id", pa.string(), "the app"),
                   ta.column("session_id", pa.string(), "the session"),
                   ta.column("turn_index", pa.int64(), "the turn"),
                   ta.column("latency_ms_total", pa.float64(), "the turn's model time")]),
        partition_by=("app_id",), keys=("app_id", "session_id", "turn_index"),
        description="One row per turn slower than 10 s.",
    )

    class SlowTurns(ta.Operator):          # a pure function of a batch of rows
        name, version, inputs = "slow_turns", "1", ("turns",)
        outputs = (SLOW_TURNS,)

        def transform(self, ctx: ta.OpContext, batch: ta.Batch) -> pa.Table:
            return batch.sql("SELECT dt, app_id, session_id, turn_index, latency_ms_total "
                             "FROM turns WHERE latency_ms_total > 10000")

    defs = ta.build_definitions([SlowTurns()], upstream=ta.BUILTIN_OPERATORS)   # a code location
    ctx = ta.connect("demo/lake")                                        # a notebook

Importing the package is cheap: Arrow, Ray, Dagster and DuckDB load only where they are used.
"""

from typing import TYPE_CHECKING, Any

__version__ = "0.5.7"

__all__ = [
    "BUILTIN_OPERATORS",
    "Batch",
    "ComputeResource",
    "DefinitionError",
    "LakeResource",
    "OpContext",
    "Operator",
    "TableSpec",
    "build_definitions",
    "column",
    "connect",
    "day_checks",
    "eager_downstream",
]

if TYPE_CHECKING:
    from trajectory_assets.batch import Batch
    from trajectory_assets.defs.day_checks import day_checks
    from trajectory_assets.defs.definitions import build_definitions
    from trajectory_assets.defs.partitions import eager_downstream
    from trajectory_assets.defs.resources import ComputeResource, LakeResource
    from trajectory_assets.errors import DefinitionError
    from trajectory_assets.notebook import connect
    from trajectory_assets.operator import OpContext, Operator
    from trajectory_assets.operators import OPERATORS as BUILTIN_OPERATORS
    from trajectory_assets.schema import TableSpec, column

_WHERE = {
    "BUILTIN_OPERATORS": ("trajectory_assets.operators", "OPERATORS"),
    "Batch": ("trajectory_assets.batch", "Batch"),
    "ComputeResource": ("trajectory_assets.defs.resources", "ComputeResource"),
    "LakeResource": ("trajectory_assets.defs.resources", "LakeResource"),
    "DefinitionError": ("trajectory_assets.errors", "DefinitionError"),
    "OpContext": ("trajectory_assets.operator", "OpContext"),
    "Operator": ("trajectory_assets.operator", "Operator"),
    "TableSpec": ("trajectory_assets.schema", "TableSpec"),
    "column": ("trajectory_assets.schema", "column"),
    "connect": ("trajectory_assets.notebook", "connect"),
    "day_checks": ("trajectory_assets.defs.day_checks", "day_checks"),
    "build_definitions": ("trajectory_assets.defs.definitions", "build_definitions"),
    "eager_downstream": ("trajectory_assets.defs.partitions", "eager_downstream"),
}


def __getattr__(name: str) -> Any:
    """The public names, imported on first use (PEP 562)."""
    if name not in _WHERE:
        raise AttributeError(f"module 'trajectory_assets' has no attribute {name!r}")
    import importlib

    module, attribute = _WHERE[name]
    return getattr(importlib.import_module(module), attribute)
