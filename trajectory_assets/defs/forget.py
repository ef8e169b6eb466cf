"""Forgetting sessions in the Dagster instance: the instance half of `trajectory-assets forget`.

A run's events can hold a session's values: a materialization's `preview` shows the first rows
of its table, and skipped files and errors name raw paths. A table not kept by session
(`eval_runs`, `tool_stats`, the daily report's numbers) shows rows made from the sessions
without naming them: a row of a benchmark only a forgotten session ran. Dagster cannot edit a
recorded event, so every finished run whose events mention a forgotten session, or that
materialized such a table on an affected day before the raw files went, is deleted with its
captured logs, and `sync` then records again, from the lake's Delta logs, the table days such a
run had recorded (as runless materializations: the UI keeps showing them materialized). Only
runs that worked on an affected day are read, as their partition tags say; a run without
partition tags could have worked on any day, so it is read too.
"""

import json
from collections.abc import Collection, Mapping

import dagster as dg

from trajectory_assets.defs.instance import LAKE_TAG, earlier_places
from trajectory_assets.lake.mentions import Sessions, json_strings

PARTITION_TAG = "dagster/partition"
RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"


def runs_mentioning(
    instance: dg.DagsterInstance,
    days: Collection[str],
    sessions: Sessions,
    lake: str,
    *,
    unkeyed: Collection[str] = (),
    rebuilt: Mapping[str, str] | None = None,
) -> dict[str, list[str]]:
    """Each run that worked on one of the days and whose events name one of the sessions (in a
    preview's row of the app, a raw path, or as a word beside the app's), or that materialized
    one of the `unkeyed` assets (rows not kept by session) and is not tagged `rebuilt` (the
    forget's own rebuild, which read none of their raw files): run id -> the sessions it names,
    or the assets. Runs still going are included (they cannot be deleted); runs of another
    lake (allowed to write one) are not this lake's to delete, those of where it was before it
    moved are."""
    own = {lake, *earlier_places(instance)}
    found: dict[str, list[str]] = {}
    for record in instance.get_run_records():
        run = record.dagster_run
        if not _worked_on(run.tags, days) or run.tags.get(LAKE_TAG, lake) not in own:
            continue
        logged = instance.all_logs(run.run_id)
        events = [json.loads(dg.serialize_value(e)) for e in logged]
        named = {
            sid for e in events for text in json_strings(e) for sid in sessions.in_markdown(text)
        }
        made: set[str] = set()
        if not rebuilt or any(run.tags.get(k) != v for k, v in rebuilt.items()):
            made = {
                key.to_user_string()
                for e in logged
                if e.dagster_event is not None
                and e.dagster_event.is_step_materialization
                and (key := e.dagster_event.asset_key) is not None
            } & set(unkeyed)
        if named or made:
            found[run.run_id] = sorted(named) + [f"rows of {name}" for name in sorted(made)]
    return found


def delete_runs(instance: dg.DagsterInstance, run_ids: Collection[str]) -> list[str]:
    """Delete the finished runs with their events and captured logs; the ids of runs still
    going, which are left alone."""
    going = []
    for run_id in sorted(run_ids):
        run = instance.get_run_by_id(run_id)
        if run is not None and not run.is_finished:
            going.append(run_id)
            continue
        instance.delete_run(run_id)
        instance.compute_log_manager.delete_logs(prefix=[run_id])
    return going


def days_worked_on(
    instance: dg.DagsterInstance, run_ids: Collection[str], partitions: dg.PartitionsDefinition
) -> set[str]:
    """The days the runs worked on, as their partition tags say (every day for a run without
    them): what must be recorded again once they are deleted."""
    every = partitions.get_partition_keys()
    days: set[str] = set()
    for run_id in run_ids:
        run = instance.get_run_by_id(run_id)
        days.update(d for d in every if _worked_on(run.tags if run is not None else {}, [d]))
    return days


def _worked_on(tags: Mapping[str, str], days: Collection[str]) -> bool:
    if PARTITION_TAG in tags:
        return tags[PARTITION_TAG] in days
    if RANGE_START_TAG in tags and RANGE_END_TAG in tags:
        return any(tags[RANGE_START_TAG] <= day <= tags[RANGE_END_TAG] for day in days)
    return True
