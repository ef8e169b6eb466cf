"""What a run's selection of tables cannot do, said before anything is computed.

A location's tables are one subsettable multi-asset, and an operator's tables are committed
together: a run that selects `sessions` commits `turns` too, but Dagster orders a run by the
assets it selects, so an asset of the run that reads `turns` (a team's own, downstream) was
not ordered after this step and read the day before it was written: a green run of wrong data.
Keys renamed after the definitions were built (`with_attributes`, a prefix against a clash)
name no table: the step computed nothing and succeeded.
"""

from collections.abc import Collection
from typing import TYPE_CHECKING

import dagster as dg

from trajectory_assets.errors import first_few

if TYPE_CHECKING:
    from dagster._core.definitions.assets.graph.asset_graph import AssetGraph


def selection_problem(
    context: dg.AssetExecutionContext, tables: Collection[str], committed: Collection[str]
) -> str | None:
    """Why the step must not run its selection, or None. `tables`: the multi-asset's, by name;
    `committed`: every table the chosen operators commit, selected or not."""
    own = set(context.assets_def.keys)
    renamed = sorted(k.to_user_string() for k in own if k.to_user_string() not in tables)
    if renamed:
        return (
            f"the tables' asset keys were renamed ({first_few(renamed)}): the runs, checks, "
            "sensor and schedule know each table by its name as its key: rename your own "
            "asset that clashes with a table instead, or keep it in another Dagster deployment"
        )
    layer = context.job_def.asset_layer  # the run's job, subset to what the run selected
    run_selection = layer.selected_asset_keys
    unselected = {dg.AssetKey(t) for t in committed} - set(context.selected_asset_keys)
    graph = layer.asset_graph
    selected = set(context.selected_asset_keys)
    readers = []
    for key in sorted(run_selection - own, key=lambda k: k.to_user_string()):
        if not graph.has(key) or _ordered_after(graph, key, run_selection, selected):
            continue
        read = sorted(k.to_user_string() for k in graph.get(key).parent_keys & unselected)
        if read:
            readers.append(f"{key.to_user_string()} reads {', '.join(read)}")
    if not readers:
        return None
    return (
        f"{'; '.join(readers)}: this run commits them beside the tables it selects, but Dagster "
        "orders a run by its selected assets alone, so a reader may run before they are "
        "written; select them too (or materialize them in a run before)"
    )


def _ordered_after(
    graph: "AssetGraph",
    key: dg.AssetKey,
    run_selection: Collection[dg.AssetKey],
    selected: Collection[dg.AssetKey],
) -> bool:
    """`key`'s step reads, through steps of the run, a table this step materializes: Dagster
    then runs it after this step, which commits every table it reads. A step is every key of
    the run of one multi-asset: it waits for the parents of all of them."""
    seen: set[dg.AssetKey] = set()
    todo = [key]
    while todo:
        step = _step_of(graph, todo.pop(), run_selection) - seen
        seen |= step
        for parent in {p for k in step for p in graph.get(k).parent_keys}:
            if parent in selected:
                return True
            if parent in run_selection and parent not in seen and graph.has(parent):
                todo.append(parent)
    return False


def _step_of(
    graph: "AssetGraph", key: dg.AssetKey, run_selection: Collection[dg.AssetKey]
) -> set[dg.AssetKey]:
    """The keys of the run that `key`'s multi-asset materializes with it, `key` among them."""
    node = graph.get(key).assets_def
    return {key} | {k for k in node.keys if k in run_selection and graph.has(k)}
