"""The team's code location: its operators as Dagster assets, beside the built-in location.

`operators` is what the trajectory-assets command line reads (`--defs team_metrics.definitions`);
`defs` is what Dagster loads (workspace.yaml). The built-in tables stay in their own location;
these read them, and the lineage crosses locations by asset key.
"""

import trajectory_assets as ta
from team_metrics.operators import ModelUsage, SlowTurns

operators = [SlowTurns(), ModelUsage()]

defs = ta.build_definitions(operators, upstream=ta.BUILTIN_OPERATORS, name="team_metrics")
