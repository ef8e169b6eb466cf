"""The `trajectory-assets` command line, on click: one module per group of commands.

`main.py` holds the group and `main()`, `common.py` what the commands share (errors, options,
names), `quiet.py` the default silence of Dagster and Ray.
"""

from trajectory_assets.cli.main import main

__all__ = ["main"]
