"""The schema guard: a Delta table holds one schema, so a run may change what an operator's
table holds only where it leaves no day of another schema behind.

Polars and Spark refuse a table whose days' files hold other types than its schema, a column
declared again with another type breaks every reader, and Delta readers hide a dropped column's
values on the days not written again. Each data file's name carries the digest of the schema it
was written with (`schema_digest`), so the days of another schema are known from the table's
file list, whatever wrote them: a run cut short after its first days, a run split in windows.
"""

from collections.abc import Sequence

from trajectory_assets.engine.plan import DayPlan
from trajectory_assets.errors import SchemaChangeError
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.delta import Snapshot, partition_columns
from trajectory_assets.lake.fs import Lake
from trajectory_assets.lake.schemas import changed_columns, readable_as, schema_digest, schema_of
from trajectory_assets.operator import Operator
from trajectory_assets.schema import TableSpec


def refuse_schema_changes(
    ops: Sequence[Operator], catalog: Catalog, days: Sequence[str], plans: Sequence[DayPlan]
) -> None:
    """Refuse a run that would leave days of another schema than the operators declare: days
    outside the run, or days of it up to date (not written again). The partitioning cannot
    change at all: a Delta table keeps the partition columns it was created with."""
    for op in ops:
        kept = {d.day for d in plans if op in d.current}  # up to date, so not written again
        for spec in op.outputs:
            held = catalog.snapshot(spec.name)
            declared = tuple(partition_columns(spec))
            if held.partitions and held.partitions != declared:
                raise SchemaChangeError(
                    f"{spec.name}: operator {op.name} now partitions it by "
                    f"{', '.join(declared)}, and the table is partitioned by "
                    f"{', '.join(held.partitions)}; a Delta table keeps the partitioning it was "
                    "created with: give the table a new name (or move "
                    f"{catalog.lake.display(spec.name)} away and materialize every day again)"
                )
            changed = changed_columns(held, spec)
            other = _days_of_another_schema(catalog.lake, held, spec, bool(changed))
            what = f"now declares {'; '.join(changed)}" if changed else "declares a new schema"
            left = sorted(other - set(days))
            if left:
                raise SchemaChangeError(
                    f"{spec.name}: operator {op.name} {what}, and the table's days outside "
                    f"this run ({len(left)}: {left[0]} .. {left[-1]}) were written with another "
                    "schema; a Delta table has one schema, so materialize every day of it in "
                    f"one run ({held.days()[0]} .. {held.days()[-1]} and the new ones; in the "
                    "UI a backfill of them all)"
                )
            same = sorted(other & kept)
            if same:
                raise SchemaChangeError(
                    f"{spec.name}: operator {op.name} {what}, but its version ({op.version}) is "
                    f"the one that wrote {len(same)} day(s) of this run ({same[0]} .. "
                    f"{same[-1]}), which are up to date and would keep another schema: a new "
                    "schema is a new version of the operator, so change its `version` (or "
                    "run with --force; in the UI, run config force: true)"
                )


def _days_of_another_schema(lake: Lake, held: Snapshot, spec: TableSpec, changed: bool) -> set[str]:
    """Days with files that `spec` cannot read: of a schema with a column it drops or types
    otherwise (a column added since is no change). A file older than schema digests, or of a
    schema not kept, has the table's schema as far as anyone knows: unreadable when `changed`."""
    digest = schema_digest(spec)
    by_schema: dict[str | None, set[str]] = {}
    for f in held.files:
        by_schema.setdefault(f.schema, set()).add(f.day)
    other: set[str] = set()
    for written, days in by_schema.items():
        if written == digest:
            continue
        kept = schema_of(lake, spec.name, written) if written is not None else None
        if (kept is None and changed) or (kept is not None and not readable_as(kept, spec)):
            other |= days
    return other
