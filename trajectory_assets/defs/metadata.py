"""Materialization metadata: what a user checks in the UI after a run."""

import difflib
from collections.abc import Iterable, Sequence
from typing import Any

import dagster as dg
import pyarrow as pa

from trajectory_assets.engine.results import DayResult, OperatorResult, RunResult
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.mentions import markdown_text
from trajectory_assets.operators.audit import CONFLICTING
from trajectory_assets.schema import RAW_EVENTS, TableSpec

PREVIEW_ROWS = 5


def column_schema(spec: TableSpec) -> dg.TableSchema:
    """Every column with its type and meaning, as the Dagster UI shows them."""
    meanings = spec.columns
    return dg.TableSchema(
        columns=[
            dg.TableColumn(f.name, str(f.type), description=meanings.get(f.name))
            for f in spec.schema
        ]
    )


def shown_float(value: float) -> float:
    """A float as people read it: 12 significant digits drop the noise of binary sums
    (313.66200000000003 is shown as 313.662) and keep small costs."""
    return float(f"{value:.12g}")


def preview(table: pa.Table) -> str:
    """A small markdown table of the first rows, cells cut short except ids (`*_id`): an id cut
    short names nothing, and `forget` finds a session in the instance by its whole id."""
    rows = table.slice(0, PREVIEW_ROWS).to_pylist()
    if not rows:
        return "_no rows_"
    columns = table.column_names

    def cell(column: str, value: Any) -> str:
        if isinstance(value, float):
            value = shown_float(value)
        text = "" if value is None else str(value)
        if len(text) > 40 and not column.endswith("_id"):
            text = text[:37] + "..."
        return markdown_text(text)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(c, r[c]) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def table_metadata(
    run: RunResult, result: OperatorResult, table: str, catalog: Catalog
) -> dict[str, Any]:
    """One table's metadata. Dagster records a range run's metadata on every day of the range,
    so nothing here grows with the days (each day's own counts are observations of the day,
    `day_observations`), and the column schema is the asset's definition metadata: with per-day
    keys and the schema in each event the instance grew with the square of a range's days.
    Row counts are what the run's days hold, up-to-date days included; `input_rows`,
    `duplicate_rows` and `conflicting_events` what the run read, of the days it computed."""
    rows = result.rows(table)
    days = sorted(result.days)
    meta: dict[str, Any] = {
        "path": dg.MetadataValue.path(catalog.lake.display(table)),
        "lake": catalog.lake.display(),
        "bytes": sum(d.tables[table].bytes for d in result.days.values()),
        "days": _span(days, "days"),
        "runtime": run.runtime,
        "parallelism": run.parallelism,
        "read_from": ", ".join(sorted({d.source for d in result.days.values()})),
        "batches": sum(d.batches for d in result.days.values()),
        "batches_reused": sum(d.reused_batches for d in result.days.values()),
        "days_up_to_date": sum(1 for d in result.days.values() if d.up_to_date),
        "input_rows": result.input_rows,
        "input_rows_per_s": round(result.input_rows / result.seconds, 1) if result.seconds else 0,
        "seconds": round(result.seconds, 3),
        **{f"phase/{name}": round(seconds, 3) for name, seconds in sorted(run.phases.items())},
        **result.described,
    }
    nodes = sorted({n for d in result.days.values() for n in d.nodes})
    if nodes:
        meta["ray_nodes"] = ", ".join(nodes)
    if "rejected_events" in {t for d in result.days.values() for t in d.tables}:
        meta["rejected_rows"] = result.rows("rejected_events")
    counted = [d.audit for d in result.days.values() if "valid_events" in d.audit]
    if counted:  # re-sent copies (at-least-once delivery, a replay): one event each
        meta["duplicate_rows"] = sum(
            a["raw_rows"] - a["rejected_rows"] - a["valid_events"] for a in counted
        )
        meta[CONFLICTING] = sum(a.get(CONFLICTING, 0) for a in counted)  # copies that differ
    skipped = [s for d in result.days.values() for s in d.skipped_files]
    if skipped:
        meta["skipped_files"] = listed(f"{path}: {reason}" for path, reason in skipped)
    unknown = unknown_columns(result)
    if unknown:
        meta["unknown_raw_columns"] = listed(unknown)
    if len(days) == 1:
        meta["dagster/row_count"] = rows
    else:
        meta["rows_in_run"] = rows
    meta["table_version"] = catalog.snapshot(table).version
    committed = [v for d in result.days.values() if (v := d.tables[table].version) is not None]
    meta["versions_committed"] = _span(sorted(committed), "commits")
    if days:
        meta["preview"] = dg.MetadataValue.md(preview(catalog.head(table, days[-1], PREVIEW_ROWS)))
    return meta


def _span(items: Sequence[object], unit: str) -> str:
    """`none`, the one item, or `first .. last (n unit)`: the same length for any range."""
    if len(items) <= 1:
        return str(items[0]) if items else "none"
    return f"{items[0]} .. {items[-1]} ({len(items)} {unit})"


def unknown_columns(result: OperatorResult) -> list[str]:
    """`path`: the columns of a raw file that raw_events does not have, with the raw column
    each may misspell; their values were read as absent."""
    by_file: dict[str, list[str]] = {}
    for day in result.days.values():
        for path, column in day.unknown_columns:
            by_file.setdefault(path, []).append(column)
    return [f"{path}: {', '.join(map(_maybe_meant, sorted(c)))}" for path, c in by_file.items()]


def listed(lines: Iterable[str]) -> dg.MetadataValue:
    """A markdown list of lines that show as themselves: raw files' names and columns are the
    producers' to choose, and a file named with a backtick and `[Re-run here](url)` made a link
    of the code span it was shown in."""
    return dg.MetadataValue.md("\n".join(f"- {markdown_text(line)}" for line in lines))


OTHER_NAMES = {  # what other producers call a raw column (OpenAI's usage, common logs)
    "prompt_tokens": "raw_events calls it input_tokens",
    "completion_tokens": "raw_events calls it output_tokens",
    "cached_tokens": "raw_events calls it cache_tokens",
    "cache_read_input_tokens": "raw_events calls it cache_tokens",
    "cache_write_tokens": "cache writes go in the payload's cache_write_tokens",
    "cache_creation_input_tokens": "cache writes go in the payload's cache_write_tokens",
    "total_tokens": "raw_events has input_tokens and output_tokens",
    "timestamp": "raw_events calls it ts",
    "time": "raw_events calls it ts",
    "type": "raw_events calls it event_type",
    "duration_ms": "raw_events calls it latency_ms",
}


def _maybe_meant(column: str) -> str:
    if column in OTHER_NAMES:
        return f"{column} ({OTHER_NAMES[column]})"
    close = difflib.get_close_matches(column, RAW_EVENTS.names, n=1)
    return f"{column} (a misspelling of {close[0]}?)" if close else column


def committed_day(day: DayResult, table: str, recorded_by: str) -> dg.AssetMaterialization:
    """A day a run committed but does not record as its output: one it committed before it
    failed, or a table it was not asked for that its operator writes with one it was. Without
    this Dagster would not know the lake changed (nor show the day materialized)."""
    meta: dict[str, Any] = {
        "dagster/row_count": day.rows(table),
        "committed_version": day.tables[table].version,
        "recorded_by": recorded_by,
    }
    return dg.AssetMaterialization(asset_key=table, partition=day.day, metadata=meta)


def day_observations(result: OperatorResult, table: str) -> list[dg.AssetObservation]:
    """A range run records one materialization, with the same metadata, on every day of its
    range; an observation per day carries that day's own row count and version, so the UI's
    partition view and plots show each day's numbers."""
    observations = []
    for day in sorted(result.days):
        meta: dict[str, Any] = {"dagster/row_count": result.days[day].rows(table)}
        version = result.days[day].tables[table].version
        meta["committed_version"] = "up to date" if version is None else version
        observations.append(dg.AssetObservation(asset_key=table, partition=day, metadata=meta))
    return observations
