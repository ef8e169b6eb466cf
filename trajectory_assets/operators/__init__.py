"""The built-in operators and the tables they declare; they know nothing of Dagster, Ray or paths.

They are written with the same public API as a user's operators (`trajectory_assets.Operator`),
and the registry of tables is filled from their declarations.
"""

from trajectory_assets.operators.compact import RAW_COMPACTED_TABLE, Compact
from trajectory_assets.operators.decision_steps import DecisionSteps
from trajectory_assets.operators.eval_runs import EvalRuns
from trajectory_assets.operators.model_comparisons import ModelComparisons
from trajectory_assets.operators.sessionize import Sessionize
from trajectory_assets.operators.tool_stats import ToolStats
from trajectory_assets.operators.turn_features import TurnFeatures
from trajectory_assets.schema import TableSpec

OPERATORS = (
    Compact(),
    Sessionize(),
    TurnFeatures(),
    EvalRuns(),
    DecisionSteps(),
    ToolStats(),
    ModelComparisons(),
)
"""In dependency order: each operator's table inputs are outputs of an earlier one."""

TABLES: dict[str, TableSpec] = {t.name: t for op in OPERATORS for t in op.outputs}
"""Every table the built-in operators write, by name."""

TIER_B: dict[str, TableSpec] = {n: t for n, t in TABLES.items() if n != RAW_COMPACTED_TABLE.name}
"""The Tier B tables of docs/tables.md (every table but the compacted raw events)."""

__all__ = [
    "OPERATORS",
    "TABLES",
    "TIER_B",
    "Compact",
    "DecisionSteps",
    "EvalRuns",
    "ModelComparisons",
    "Sessionize",
    "ToolStats",
    "TurnFeatures",
]
