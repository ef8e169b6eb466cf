"""The runtimes a user can name, in a setting, an option, a resource, a component or a notebook,
and the settings naming them.

Kept apart from the runtimes themselves so the command line can list them without importing
any.
"""

from typing import Literal, get_args

RuntimeName = Literal["auto", "ray", "inline"]
RUNTIME_NAMES: tuple[RuntimeName, ...] = get_args(RuntimeName)

RUNTIME = "TRAJECTORY_ASSETS_RUNTIME"
RAY_ADDRESS = "TRAJECTORY_ASSETS_RAY_ADDRESS"
RAY_NUM_CPUS = "TRAJECTORY_ASSETS_RAY_NUM_CPUS"
"""The settings of where a code location's runs go, the command line's defaults too: a shell
that sourced a deployment's settings runs where its UI runs."""
