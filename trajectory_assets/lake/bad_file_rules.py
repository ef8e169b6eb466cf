"""What a run does with a raw file it cannot read: a rule picked per run (an option, a setting,
run config). Apart from the raw lake's reading, so the command line lists the rules without
importing pyarrow."""

from typing import Literal, get_args

OnBadFile = Literal["fail", "skip"]
BAD_FILE_RULES: tuple[OnBadFile, ...] = get_args(OnBadFile)
ON_BAD_FILE = "TRAJECTORY_ASSETS_ON_BAD_FILE"
"""The rule of runs that set none: the code location's and the command line's default."""
