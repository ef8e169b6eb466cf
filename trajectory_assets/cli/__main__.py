"""`python -m trajectory_assets.cli …`, the same as the `trajectory-assets` script."""

from trajectory_assets.cli.main import run

run()
