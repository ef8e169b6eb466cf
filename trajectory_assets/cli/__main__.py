"""`python -m trajectory_assets.cli …`, the same as the `trajectory-assets` script."""

import sys

from trajectory_assets.cli.main import main

sys.exit(main())
