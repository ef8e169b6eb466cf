"""daily_report: one HTML page and one PNG chart per day, rendered from that day's tables into
the lake, and shown in the UI (the materialization links to the page and embeds the chart)."""

import base64
import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping, Sequence

import dagster as dg
import pyarrow as pa

from trajectory_assets.defs.dead_runs import worker_tags
from trajectory_assets.defs.metadata import shown_float
from trajectory_assets.defs.resources import LakeResource
from trajectory_assets.engine.lineage import not_materialized
from trajectory_assets.engine.registry import Registry
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.layout import REPORT
from trajectory_assets.lake.reports import (
    ReportRecord,
    current_report,
    report_files,
    write_report,
)
from trajectory_assets.report import REPORT_TABLES, REPORT_VERSION, columns_read

MAX_CHARTED_DAYS = 31  # a range run up to a month shows each day's chart in the UI


def report_asset(
    registry: Registry, partitions: dg.DailyPartitionsDefinition
) -> dg.AssetsDefinition:
    @dg.asset(
        name=REPORT,
        deps=list(REPORT_TABLES),
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name="reports",
        kinds={"html", "matplotlib"},
        code_version=str(REPORT_VERSION),  # a new page layout: the UI marks the pages stale
        description="One page per day: sessions and cost by app, latency by model, failing "
        "tools, eval pass rates with intervals, paired model comparisons, loops detected, "
        "sessions that ended on an error, raw rows rejected by app.",
    )
    def daily_report(
        context: dg.AssetExecutionContext, lake: LakeResource
    ) -> Iterator[dg.MaterializeResult | dg.AssetObservation]:
        from trajectory_assets.report import render_daily_report

        the_lake = lake.lake()
        if absent := lake.absent(the_lake):
            raise dg.Failure(description=absent)
        if tags := worker_tags(context):  # a run of the report alone is watched too
            context.instance.add_run_tags(context.run.run_id, tags)
        catalog = Catalog(the_lake, registry.tables)
        _refuse_missing_tables(catalog, context.partition_keys)
        forced = bool((context.op_execution_context.op_config or {}).get("force"))  # --force
        pages: dict[str, str] = {}
        png = b""
        summary: dict[str, str | int | float | None] = {}
        days = len(context.partition_keys)
        for day in context.partition_keys:
            inputs = report_inputs(catalog, day)
            page = the_lake.display(report_files(day).html)  # a path to copy: the UI does
            # not open a file:// link
            current = None if forced else current_report(the_lake, day, inputs)
            if current is not None:
                record, png = current
                summary = dict(record["summary"])
                context.log.info(
                    f"daily_report dt={day}: up to date (its tables are as they were): {page}"
                )
            else:
                report = render_daily_report(
                    day, {t: _day_rows(catalog, t, day) for t in REPORT_TABLES}
                )
                png, summary = report.png, report.summary
                drawn: ReportRecord = {
                    "inputs": inputs,
                    "summary": summary,
                    "tables": {t: catalog.snapshot(t).version for t in REPORT_TABLES},
                    "drawn_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                    "run_id": context.run.run_id,
                    "version": REPORT_VERSION,
                }
                write_report(the_lake, day, report.html, png, drawn)
                context.log.info(f"daily_report dt={day}: {page}")
            pages[day] = page
            if days > 1:  # the one result below is recorded on every day of the range: each
                # day's own page, numbers and (up to a month: 150 kB a day in the event log)
                # chart are observed
                charted = {"chart": chart_metadata(day, png)} if days <= MAX_CHARTED_DAYS else {}
                yield dg.AssetObservation(
                    asset_key=REPORT,
                    partition=day,
                    metadata={**page_metadata(pages[day], summary), **charted},
                )
        if len(pages) == 1:
            ((day, page),) = pages.items()
            metadata = {**page_metadata(page, summary), "chart": chart_metadata(day, png)}
        else:  # recorded on every day of the range: no one day's page, numbers or chart
            # (200 kB, copied into the event log for each day), but where every page is
            metadata = {
                "pages": dg.MetadataValue.md(
                    "\n".join(f"- {d}: {u}" for d, u in sorted(pages.items()))
                ),
                "days": dg.MetadataValue.int(len(pages)),
            }
        yield dg.MaterializeResult(metadata={**metadata, "lake": the_lake.display()})

    return daily_report


def _refuse_missing_tables(catalog: Catalog, days: Sequence[str]) -> None:
    """A page of a day whose tables are not materialized would show an empty day."""
    for day in days:
        missing = [t for t in REPORT_TABLES if catalog.state(t, day) is None]
        if missing:
            reads = not_materialized(catalog.lake, missing, day, ())
            raise dg.Failure(description=f"{REPORT} dt={day} reads {reads}")


def _day_rows(catalog: Catalog, table: str, day: str) -> pa.Table:
    """The day's rows from its own files (a dataset of the whole table listed every file of
    every day: 3.4 s a report at 400 days)."""
    return catalog.day_rows(table, day, columns_read(table))


def report_inputs(catalog: Catalog, day: str) -> str:
    """The report's version and the files of the day's tables (their names are unique to the
    commit that wrote them): what a page was drawn from."""
    digest = hashlib.sha256(f"report v{REPORT_VERSION}\n".encode())
    for table in REPORT_TABLES:
        state = catalog.state(table, day)
        for f in sorted(state.files if state else (), key=lambda f: f.path):
            digest.update(f"{table}/{f.path}\n".encode())
    return digest.hexdigest()


def chart_metadata(day: str, png: bytes) -> dg.MetadataValue:
    return dg.MetadataValue.md(
        f"![daily report {day}](data:image/png;base64,{base64.b64encode(png).decode()})"
    )


def page_metadata(page: str, summary: Mapping[str, object]) -> dict[str, dg.MetadataValue]:
    """A day's page and headline numbers."""
    numbers: dict[str, dg.MetadataValue] = {}
    for key, value in summary.items():
        if isinstance(value, str):
            numbers[key] = dg.MetadataValue.text(value)
        elif isinstance(value, int):
            numbers[key] = dg.MetadataValue.int(value)
        elif isinstance(value, float):
            numbers[key] = dg.MetadataValue.float(shown_float(value))
        elif value is None:  # unknown (a day of unpriced calls alone): not a 0
            numbers[key] = dg.MetadataValue.null()
    return {"page": dg.MetadataValue.path(page), **numbers}
