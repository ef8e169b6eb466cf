"""The code location's assets as tests hand them to `dg.materialize`, and typed reads of the
metadata Dagster records (its values are typed as any value metadata may hold)."""

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import dagster as dg

from trajectory_assets.defs.resources import ComputeResource, LakeResource
from trajectory_assets.lake.fs import Lake

if TYPE_CHECKING:
    from dagster._core.definitions.data_version import CachingStaleStatusResolver

Materializable = dg.AssetsDefinition | dg.AssetSpec | dg.SourceAsset


def assets_of(defs: dg.Definitions) -> list[Materializable]:
    """What `dg.materialize` takes from a `Definitions`: its assets (none are cacheable here)."""
    found = [a for a in defs.assets or () if isinstance(a, Materializable)]
    assert len(found) == len(list(defs.assets or ()))
    return found


def inline_resources(lake: Lake) -> dict[str, Any]:
    """The resources of a run on `lake` in the test's process, without Ray."""
    return {"lake": LakeResource(root=lake.uri), "compute": ComputeResource(runtime="inline")}


def materialize_upstream(
    defs: dg.Definitions,
    keys: Sequence[str | dg.AssetKey],
    day: str,
    instance: dg.DagsterInstance,
    **kwargs: Any,
) -> dg.ExecuteInProcessResult:
    """A day of `keys` and what they read, as the UI's "Materialize" of them with upstream."""
    return dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.assets(*keys).upstream(),
        partition_key=day,
        resources=defs.resources,
        instance=instance,
        **kwargs,
    )


def materialize_range(
    defs: dg.Definitions, keys: Sequence[str], lake: Lake, first: str, last: str
) -> dg.ExecuteInProcessResult:
    """Days `first` to `last` of `keys` and what they read, in one run (a backfill's single run),
    in the test's process on a throwaway instance."""
    return dg.materialize(
        assets_of(defs),
        selection=dg.AssetSelection.assets(*keys).upstream(),
        resources=inline_resources(lake),
        instance=dg.DagsterInstance.ephemeral(),
        tags={
            "dagster/asset_partition_range_start": first,
            "dagster/asset_partition_range_end": last,
        },
    )


def stale_status(
    instance: dg.DagsterInstance, defs: dg.Definitions
) -> "CachingStaleStatusResolver":
    """What the UI shows stale or fresh, as of now (a new resolver: it caches what it read)."""
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._core.loader import LoadingContextForTest

    graph = defs.resolve_asset_graph()
    return CachingStaleStatusResolver(instance, graph, LoadingContextForTest(instance))


def text(metadata: Mapping[str, dg.MetadataValue], key: str) -> str:
    value = metadata[key].value
    assert isinstance(value, str), f"{key}: {value!r}"
    return value


def number(metadata: Mapping[str, dg.MetadataValue], key: str) -> int | float:
    value = metadata[key].value
    assert isinstance(value, int | float), f"{key}: {value!r}"
    return value
