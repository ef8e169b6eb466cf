"""A Dagster instance belongs to one lake: its UI shows that lake's partitions, so a run against
another lake from the same instance would show that lake's tables as this one's.

The first materialization records the lake in the instance (a key of its run storage); every
run and materialization also carries it (a run tag, a metadata entry). A run against another
lake is refused, naming both, unless it says `allow_other_lake`; a lake that moved is made the
instance's lake by `sync --rebind`.
"""

import json

import dagster as dg

from trajectory_assets.defs.ticks import TickContext, tick_instance
from trajectory_assets.errors import OtherLakeError

LAKE_KEY = "trajectory_assets/lake"
LAKE_TAG = "trajectory_assets/lake"  # on every run
EARLIER_KEY = "trajectory_assets/lake_earlier"  # where the lake was before it moved (JSON list)


def bound_lake(instance: dg.DagsterInstance) -> str | None:
    return instance.run_storage.get_cursor_values({LAKE_KEY}).get(LAKE_KEY)


def refusal(
    instance: dg.DagsterInstance, lake: str, *, allow_other_lake: bool = False
) -> str | None:
    """Why `bind` would refuse a run against `lake`; None when it would not."""
    return _refusal(bound_lake(instance), lake, allow_other_lake)


def _refusal(current: str | None, lake: str, allow_other_lake: bool) -> str | None:
    if current is None or current == lake or allow_other_lake:
        return None
    return (
        f"this Dagster instance records the lake {current}, and this run writes {lake}: the "
        "UI would show one lake's tables as the other's. Use one DAGSTER_HOME per lake; if the "
        f"lake moved, `trajectory-assets sync --lake {lake} --rebind` makes it the instance's "
        "lake; or allow a run explicitly (run config allow_other_lake, or --allow-other-lake "
        "of materialize, sync and rollback)"
    )


def tick_refusal(context: TickContext, lake: str) -> str | None:
    """Why a sensor's or schedule's runs against `lake` would be refused: a tick that requested
    them would fail a run a day and show the instance's own lake's days as failed. None when a
    context has no instance (built in a test)."""
    instance = tick_instance(context)
    return None if instance is None else refusal(instance, lake)


def bind(instance: dg.DagsterInstance, lake: str, *, allow_other_lake: bool = False) -> None:
    """Record `lake` as the instance's lake, or refuse when it records another."""
    current = bound_lake(instance)
    refused = _refusal(current, lake, allow_other_lake)
    if refused is not None:
        raise OtherLakeError(refused)
    if current is None:
        instance.run_storage.set_cursor_values({LAKE_KEY: lake})


def rebind(instance: dg.DagsterInstance, lake: str) -> str | None:
    """Record `lake` as the instance's lake whatever it recorded (a lake that moved), keeping
    the earlier places as the same lake's (its runs name them); the lake it recorded before."""
    before = bound_lake(instance)
    earlier = set(earlier_places(instance))
    if before is not None and before != lake:
        earlier.add(before)
    # one key a call: Dagster's SQLite storage drops a new key given beside an existing one
    instance.run_storage.set_cursor_values({EARLIER_KEY: json.dumps(sorted(earlier - {lake}))})
    instance.run_storage.set_cursor_values({LAKE_KEY: lake})
    return before


def earlier_places(instance: dg.DagsterInstance) -> list[str]:
    """Where the instance's lake was before `rebind`s: runs tagged with them are its own."""
    text = instance.run_storage.get_cursor_values({EARLIER_KEY}).get(EARLIER_KEY)
    return list(json.loads(text)) if text else []
