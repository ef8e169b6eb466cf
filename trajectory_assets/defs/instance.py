"""A Dagster instance belongs to one lake: its UI shows that lake's partitions, so a run against
another lake from the same instance would show that lake's tables as this one's.

The first materialization records the lake in the instance (a key of its run storage); every
run and materialization also carries it (a run tag, a metadata entry). A run against another
lake is refused, naming both, unless it says `allow_other_lake`.
"""

import dagster as dg

from trajectory_assets.errors import OtherLakeError

LAKE_KEY = "trajectory_assets/lake"
LAKE_TAG = "trajectory_assets/lake"  # on every run


def bound_lake(instance: dg.DagsterInstance) -> str | None:
    return instance.run_storage.get_cursor_values({LAKE_KEY}).get(LAKE_KEY)


def bind(instance: dg.DagsterInstance, lake: str, *, allow_other_lake: bool = False) -> None:
    """Record `lake` as the instance's lake, or refuse when it records another."""
    current = bound_lake(instance)
    if current is None:
        instance.run_storage.set_cursor_values({LAKE_KEY: lake})
    elif current != lake and not allow_other_lake:
        raise OtherLakeError(
            f"this Dagster instance records the lake {current}, and this run writes {lake}: the "
            "UI would show one lake's tables as the other's. Use one DAGSTER_HOME per lake, or "
            "allow it explicitly (run config allow_other_lake, or --allow-other-lake)"
        )
