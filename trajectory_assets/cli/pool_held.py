"""The instance's pool slot held by a command that changes what runs read or write, without
importing Dagster where DAGSTER_HOME names no instance."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

from trajectory_assets.cli.instance import dagster_home


@contextmanager
def pool_held(why: str) -> Iterator[None]:
    """The Dagster instance's pool slot, as a run's step and `forget` hold it, where DAGSTER_HOME
    names an instance (overlapping cron jobs: a vacuum deleted a running materialization's
    files, a rollback restored a day a run then overwrote); without one there is nothing to
    wait on."""
    if not os.environ.get("DAGSTER_HOME"):
        yield
        return
    import dagster as dg

    from trajectory_assets.cli.pool import holding_pool
    from trajectory_assets.defs.assets import POOL

    dagster_home("a run in flight is waited for through the instance's pool")
    with dg.DagsterInstance.get() as instance, holding_pool(instance, POOL, why):
        yield
