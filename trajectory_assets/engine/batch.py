"""`Batch` lives in `trajectory_assets.batch`; this name remains until `report/` imports it
from there, and then goes."""

from trajectory_assets.batch import Batch

__all__ = ["Batch"]
