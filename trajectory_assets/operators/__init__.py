"""Pure operators, one per derivation; they know nothing of Dagster, Ray or paths."""

from trajectory_assets.operators.compact import Compact
from trajectory_assets.operators.decision_steps import DecisionSteps
from trajectory_assets.operators.eval_runs import EvalRuns
from trajectory_assets.operators.model_comparisons import ModelComparisons
from trajectory_assets.operators.sessionize import Sessionize
from trajectory_assets.operators.tool_stats import ToolStats
from trajectory_assets.operators.turn_features import TurnFeatures

OPERATORS = (
    Compact(),
    Sessionize(),
    TurnFeatures(),
    EvalRuns(),
    DecisionSteps(),
    ToolStats(),
    ModelComparisons(),
)
"""In dependency order: each operator's Tier B inputs are outputs of an earlier one."""

__all__ = [
    "OPERATORS",
    "Compact",
    "DecisionSteps",
    "EvalRuns",
    "ModelComparisons",
    "Sessionize",
    "ToolStats",
    "TurnFeatures",
]
