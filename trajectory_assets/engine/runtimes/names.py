"""The runtimes a user can name, in a setting, an option, a resource, a component or a notebook.

Kept apart from the runtimes themselves so the command line can list them without importing
any.
"""

from typing import Literal, get_args

RuntimeName = Literal["auto", "ray", "inline"]
RUNTIME_NAMES: tuple[RuntimeName, ...] = get_args(RuntimeName)
