"""The code location's assets as tests hand them to `dg.materialize`, and typed reads of the
metadata Dagster records (its values are typed as any value metadata may hold)."""

from collections.abc import Mapping

import dagster as dg

Materializable = dg.AssetsDefinition | dg.AssetSpec | dg.SourceAsset


def assets_of(defs: dg.Definitions) -> list[Materializable]:
    """What `dg.materialize` takes from a `Definitions`: its assets (none are cacheable here)."""
    found = [a for a in defs.assets or () if isinstance(a, Materializable)]
    assert len(found) == len(list(defs.assets or ()))
    return found


def text(metadata: Mapping[str, dg.MetadataValue], key: str) -> str:
    value = metadata[key].value
    assert isinstance(value, str), f"{key}: {value!r}"
    return value


def number(metadata: Mapping[str, dg.MetadataValue], key: str) -> int | float:
    value = metadata[key].value
    assert isinstance(value, int | float), f"{key}: {value!r}"
    return value
