"""The built-in code location: `dagster dev` (workspace.yaml) and Dagster's command line (`-m
trajectory_assets.definitions`) load `defs` from here; a `dg` project takes the tables as the
`OperatorAssets` component instead.

It is made the way a team makes its own: the built-in operators through `build_definitions`.
"""

from trajectory_assets.defs.definitions import build_definitions
from trajectory_assets.operators import OPERATORS
from trajectory_assets.project import BUILTIN_NODE

defs = build_definitions(OPERATORS, name=BUILTIN_NODE, raw_source=True, report=True)
