"""Tier B assets: one Dagster (multi-)asset per operator, thin glue over `run_operator`."""

import os
from collections.abc import Iterator

import dagster as dg
from pydantic import Field

from trajectory_assets.defs.checks import CheckContext, Thresholds, checks_for, evaluate
from trajectory_assets.defs.metadata import table_metadata
from trajectory_assets.defs.partitions import DAILY
from trajectory_assets.defs.resources import LakeResource, RayResource
from trajectory_assets.defs.settings import DEFAULT_RETENTION_HOURS, RETENTION_HOURS
from trajectory_assets.engine.job import run_operator
from trajectory_assets.engine.operator import Operator
from trajectory_assets.engine.plan import DEFAULT_BATCH_BYTES, reads_compacted
from trajectory_assets.lake import delta
from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.layout import COMPACTED_TABLE, RAW_TABLE
from trajectory_assets.operators import OPERATORS

GROUP = "tier_b"
POOL = "trajectory_assets"

DESCRIPTIONS = {
    "sessions": "One row per session: counts, tokens, latency, cost, loops, status, eval outcome.",
    "turns": "One row per (session, turn): counts, tokens, first-call model and TTFT, tools.",
    "errors": "One row per error event, with the event before it and whether it was terminal.",
    "rejected_events": "One row per raw row that failed validation, with every reason.",
    "turn_features": "One row per turn: cache hit ratio, throughput, repeats, loops, think time.",
    "eval_runs": "One row per (benchmark, model, run_id): attempts, pass rate, pass@1, cost.",
    "decision_steps": "One row per (session, decision step): items kept, eliminated, scored.",
    "raw_compacted": "Every raw row, a few files per day and app, whole sessions sorted by time; "
    "the session assets read it instead of the raw files while it is fresh.",
    "llm_calls": "One row per valid, de-duplicated llm_call: keys, latency, tokens, cost_usd.",
    "tool_calls": "One row per valid tool_call: latency, error, arguments_hash, is_terminal.",
    "tool_stats": "One row per (app, tool) of the day: calls, failure rate, latency p50/p95.",
    "model_comparisons": "One row per (benchmark, model pair): paired pass@1 difference, SE, CI.",
}


class ComputeConfig(dg.Config):
    """Per-run knobs of a Tier B materialization."""

    batch_bytes: int = Field(
        default=int(os.environ.get("TRAJECTORY_ASSETS_BATCH_BYTES", DEFAULT_BATCH_BYTES)),
        description="Target raw bytes per batch of whole sessions.",
    )
    on_bad_file: str = Field(
        default=os.environ.get("TRAJECTORY_ASSETS_ON_BAD_FILE", "fail"),
        description="`fail`: an unreadable raw file fails the run, naming it. "
        "`skip`: it is left out and reported in the metadata.",
    )
    retention_hours: float = Field(
        default=float(os.environ.get(RETENTION_HOURS, DEFAULT_RETENTION_HOURS)),
        description="After the run, table versions older than this are vacuumed: rollback and "
        "time travel reach back this far.",
    )
    max_rejected_share: float = Field(
        default=0.05, description="The rejected_share check fails above this share of raw rows."
    )
    max_elimination_ratio: float = Field(
        default=0.95, description="The elimination_ratio check warns about steps above this."
    )


def build_asset(op: Operator) -> dg.AssetsDefinition:
    """The asset(s) of one operator; several outputs → one multi-asset, committed together."""
    specs = [
        dg.AssetSpec(
            key=table,
            deps=[*op.inputs, *([COMPACTED_TABLE] if reads_compacted(op) else [])],
            description=DESCRIPTIONS[table],
            code_version=op.version,
            group_name=GROUP,
            kinds={"delta", "ray"},
        )
        for table in op.outputs
    ]

    checks = checks_for(op)

    @dg.multi_asset(
        name=op.name,
        specs=specs,
        check_specs=[c.spec for c in checks],
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=False,
        pool=POOL,
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: ComputeConfig,
        lake: LakeResource,
        ray: RayResource,
    ) -> Iterator[dg.MaterializeResult]:
        if config.on_bad_file not in ("fail", "skip"):
            raise dg.Failure(f"on_bad_file must be 'fail' or 'skip', not {config.on_bad_file!r}")
        the_lake = lake.lake()
        result = run_operator(
            op,
            the_lake,
            context.partition_keys,
            ray.get_runtime(),
            run_id=context.run.run_id,
            batch_bytes=config.batch_bytes,
            on_bad_file=config.on_bad_file,  # type: ignore[arg-type]
            progress=context.log.info,
        )
        for table in op.outputs:
            delta.vacuum(the_lake, table, config.retention_hours)
        catalog = Catalog(the_lake)
        limits = Thresholds(config.max_rejected_share, config.max_elimination_ratio)
        skipped = {d: {p for p, _ in r.skipped_files} for d, r in result.days.items()}
        checking = CheckContext(catalog, limits, skipped)
        days = list(context.partition_keys)
        for table in op.outputs:
            yield dg.MaterializeResult(
                asset_key=table,
                metadata=table_metadata(result, table, catalog),
                check_results=[evaluate(c, checking, days) for c in checks if c.table == table],
            )

    return _asset


TIER_B_ASSETS = [build_asset(op) for op in OPERATORS]
TIER_B_KEYS = [dg.AssetKey(t) for op in OPERATORS for t in op.outputs]
RAW_KEY = dg.AssetKey(RAW_TABLE)
