"""`trajectory-assets …`: generate, ingest, materialize, demo, explain, rollback, tables, query.

`materialize` goes through Dagster and records the run in the DAGSTER_HOME instance, exactly as
a click in the UI would; the other commands work on the lake directly.
"""

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Sequence

from trajectory_assets.lake.catalog import Catalog
from trajectory_assets.lake.fs import S3_ENDPOINT_URL_ENV, Lake, lake_from_env
from trajectory_assets.operators import OPERATORS
from trajectory_assets.schema import TABLES


class CliError(Exception):
    """A failure to report as one clear line, exit status 1."""


def _say(text: str) -> None:
    print(text, flush=True)


def _day(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _days(start: str, end: str) -> list[str]:
    first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
    if last < first:
        raise CliError(f"--to {end} is before --from {start}")
    return [(first + dt.timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def _operators_for(names: Sequence[str] | None) -> list[str]:
    """Expand table names to every output of their operators (a multi-asset commits together)."""
    if not names:
        return [t for op in OPERATORS for t in op.outputs]
    tables: list[str] = []
    for name in names:
        owner = next((op for op in OPERATORS if name in op.outputs or name == op.name), None)
        if owner is None:
            known = ", ".join(sorted(TABLES))
            raise CliError(f"unknown asset {name!r}; assets are: {known}")
        tables += [t for t in owner.outputs if t not in tables]
    return tables


# ---------------------------------------------------------------------------------- generate
def cmd_generate(args: argparse.Namespace) -> None:
    from trajectory_assets.synth import SynthConfig, generate_lake

    lake = lake_from_env(args.lake)
    start = args.start or (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=args.days))
    config = SynthConfig(
        start=dt.date.fromisoformat(str(start)),
        days=args.days,
        apps=tuple(args.apps.split(",")),
        sessions_per_day=args.sessions_per_day,
        seed=args.seed,
        invalid_rate=args.invalid_rate,
        duplicate_rate=args.duplicate_rate,
        files_per_session=args.files_per_session,
    )
    _say(f"generating {config.days} day(s) of raw events into {lake.display('raw_events')}")
    started = time.perf_counter()
    summary = generate_lake(lake, config, progress=lambda line: _say(f"  {line}"))
    _say(
        f"wrote {summary.sessions:,} sessions, {summary.events:,} events "
        f"({summary.invalid_rows:,} invalid, {summary.duplicate_rows:,} duplicates) in "
        f"{summary.files:,} files, {summary.bytes / 1e6:.1f} MB, "
        f"{time.perf_counter() - started:.1f} s; days {summary.days[0]} .. {summary.days[-1]}"
    )


# ------------------------------------------------------------------------------- materialize
def materialize(
    lake_uri: str,
    days: list[str],
    *,
    runtime: str,
    tables: list[str],
    ray_address: str | None = None,
    num_cpus: int | None = None,
    on_bad_file: str = "fail",
) -> None:
    """Materialize Tier B tables for consecutive days as one Dagster run in the local instance."""
    import dagster as dg

    from trajectory_assets.defs.assets import TIER_B_ASSETS
    from trajectory_assets.defs.partitions import DAILY
    from trajectory_assets.defs.raw import raw_events
    from trajectory_assets.defs.resources import LakeResource, RayResource

    if not os.environ.get("DAGSTER_HOME"):
        raise CliError(
            "DAGSTER_HOME is not set: runs are recorded in a Dagster instance; "
            "export DAGSTER_HOME=/some/folder (the Makefile uses .dagster_home)"
        )
    valid = set(DAILY.get_partition_keys())
    outside = [d for d in days if d not in valid]
    if outside:
        raise CliError(
            f"day(s) {', '.join(outside)} are not daily partitions (they start at "
            f"{DAILY.start.date().isoformat()} and end yesterday, UTC); "
            "set TRAJECTORY_ASSETS_START_DATE for older data"
        )
    os.makedirs(os.environ["DAGSTER_HOME"], exist_ok=True)
    instance = dg.DagsterInstance.get()
    resources = {
        "lake": LakeResource(root=lake_uri, s3_endpoint_url=os.environ.get(S3_ENDPOINT_URL_ENV)),
        "ray": RayResource(runtime=runtime, address=ray_address, num_cpus=num_cpus),  # type: ignore[arg-type]
    }
    partition: dict[str, object] = {}
    if len(days) == 1:
        partition["partition_key"] = days[0]
    else:
        partition["tags"] = {
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        }
    ops = {op.name for op in OPERATORS if set(op.outputs) & set(tables)}
    run_config = {
        "loggers": {"console": {"config": {"log_level": "INFO"}}},
        "ops": {name: {"config": {"on_bad_file": on_bad_file}} for name in ops},
    }
    _say(
        f"materializing {', '.join(tables)} for {days[0]}"
        + (f" .. {days[-1]}" if len(days) > 1 else "")
        + f" on the {runtime} runtime, lake {lake_uri}"
    )
    started = time.perf_counter()
    result = dg.materialize(
        [raw_events, *TIER_B_ASSETS],
        selection=dg.AssetSelection.assets(*tables),
        instance=instance,
        resources=resources,
        run_config=run_config,
        raise_on_error=False,
        **partition,  # type: ignore[arg-type]
    )
    if not result.success:
        raise CliError(f"run {result.run_id} failed: {_failure_message(result)}")
    _say(f"run {result.run_id} succeeded in {time.perf_counter() - started:.1f} s")
    _print_tables(lake_from_env(lake_uri), tables, days)


def _failure_message(result: object) -> str:
    for event in result.get_step_failure_events():  # type: ignore[attr-defined]
        error = event.event_specific_data.error
        while error.cause is not None:
            error = error.cause
        return f"step {event.step_key}: {error.message.strip()}"
    return "see the run's logs in the Dagster UI"


def _print_tables(lake: Lake, tables: list[str], days: list[str]) -> None:
    catalog = Catalog(lake)
    width = max(len(t) for t in tables)
    _say(f"{'table':<{width}}  " + "  ".join(f"{d:>10}" for d in days))
    for table in tables:
        counts = []
        for day in days:
            manifest = catalog.manifest(table, day)
            counts.append(f"{manifest['rows']:>10,}" if manifest else f"{'-':>10}")
        _say(f"{table:<{width}}  " + "  ".join(counts))


def cmd_materialize(args: argparse.Namespace) -> None:
    if args.partition:
        days = [args.partition]
    elif args.date_from and args.date_to:
        days = _days(args.date_from, args.date_to)
    else:
        raise CliError("give --partition DAY, or --from DAY and --to DAY")
    materialize(
        args.lake,
        days,
        runtime=args.runtime,
        tables=_operators_for(args.assets.split(",") if args.assets else None),
        ray_address=args.ray_address,
        num_cpus=args.num_cpus,
        on_bad_file=args.on_bad_file,
    )


# -------------------------------------------------------------------------------------- demo
def cmd_demo(args: argparse.Namespace) -> None:
    lake = lake_from_env(args.lake)
    today = dt.datetime.now(dt.UTC).date()
    days = [(today - dt.timedelta(days=args.days - i)).isoformat() for i in range(args.days)]
    fs = lake.fs
    if fs.exists(lake.path("raw_events")) and not args.regenerate:
        _say(
            f"reusing the sample lake at {lake.display('raw_events')} (--regenerate for a new one)"
        )
        from trajectory_assets.lake.raw import list_days

        present = list_days(lake)
        if not set(days) <= set(present):
            raise CliError(
                f"the sample lake has days {present}, the demo needs {days}: run with --regenerate"
            )
    else:
        if fs.exists(lake.root):
            fs.rm(lake.root, recursive=True)
        cmd_generate(
            argparse.Namespace(
                lake=args.lake,
                start=days[0],
                days=args.days,
                apps=DEFAULT_APPS,
                sessions_per_day=args.sessions_per_day,
                seed=7,
                invalid_rate=0.002,
                duplicate_rate=0.003,
                files_per_session=1,
            )
        )
    tables = _operators_for(None)
    materialize(args.lake, days, runtime=args.runtime, tables=tables, num_cpus=args.num_cpus)
    _say("")
    _say(f"lake:   {lake.display()}")
    _say(f"tables: {lake.display('<table>')}/dt=YYYY-MM-DD/... (Parquet, hive-partitioned)")
    _say(f'query:  trajectory-assets query --lake {args.lake} "SELECT * FROM sessions LIMIT 5"')
    _say("UI:     make ui   (then open http://127.0.0.1:3000 and look at the assets)")


DEFAULT_APPS = "support-bot,code-agent,research-agent"


# ----------------------------------------------------------------------- explain / rollback
def cmd_explain(args: argparse.Namespace) -> None:
    from trajectory_assets.engine.plan import explain, plan

    op = next((o for o in OPERATORS if args.asset in o.outputs or args.asset == o.name), None)
    if op is None:
        raise CliError(f"unknown asset {args.asset!r}; assets are: {', '.join(TABLES)}")
    days = [args.partition] if args.partition else _days(args.date_from, args.date_to)
    _say(explain(plan(op, lake_from_env(args.lake), days), args.runtime))


def cmd_rollback(args: argparse.Namespace) -> None:
    from trajectory_assets.lake.commit import rollback, versions
    from trajectory_assets.lake.lease import LeaseHeldError, held

    lake = lake_from_env(args.lake)
    op = next((o for o in OPERATORS if args.table in o.outputs), None)
    if op is None:
        raise CliError(f"unknown table {args.table!r}; tables are: {', '.join(TABLES)}")
    missing = [t for t in op.outputs if not versions(lake, t, args.partition)]
    if missing:  # siblings were committed together: roll back all of them or none
        raise CliError(f"{', '.join(missing)} dt={args.partition} has no previous version")
    try:
        with held(lake, op.name, [args.partition], f"rollback-{os.getpid()}"):
            restored = {t: rollback(lake, t, args.partition) for t in op.outputs}
    except LeaseHeldError as exc:
        raise CliError(str(exc)) from None
    for table in op.outputs:
        manifest = Catalog(lake).manifest(table, args.partition) or {}
        _say(
            f"{table} dt={args.partition}: restored version {restored[table]} "
            f"({manifest.get('rows', 0):,} rows, committed {manifest.get('committed_at', '?')})"
        )


# ---------------------------------------------------------------------------- tables / query
def cmd_tables(args: argparse.Namespace) -> None:
    catalog = Catalog(lake_from_env(args.lake))
    for table in catalog.list():
        if table == "raw_events":
            continue
        days = catalog.days(table)
        rows = sum((catalog.manifest(table, d) or {}).get("rows", 0) for d in days)
        span = f"{days[0]} .. {days[-1]}" if days else "not materialized"
        _say(f"{table:<16} {len(days):>4} day(s)  {rows:>12,} rows  {span}")


def cmd_query(args: argparse.Namespace) -> None:
    import duckdb

    lake = lake_from_env(args.lake)
    catalog = Catalog(lake)
    con = duckdb.connect()
    if not lake.is_local:  # DuckDB reads through the lake's own fsspec filesystem (s3fs)
        con.register_filesystem(lake.fs)
    for table in TABLES:
        files = catalog.files(table)
        if files:
            if not lake.is_local:
                files = [f"{lake.protocol}://{f}" for f in files]
            con.execute(f"SET VARIABLE {table}_files = ?", [files])
            con.execute(
                f"CREATE VIEW {table} AS SELECT * FROM "
                f"read_parquet(getvariable('{table}_files'), hive_partitioning = false)"
            )
    result = con.sql(args.sql)
    if result is None:
        return
    _say(str(result))


# ------------------------------------------------------------------------------------ parser
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trajectory-assets", description="Tier B analysis tables from raw LLM-agent events."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("generate", help="write a deterministic sample raw lake")
    p.add_argument("--lake", required=True, help="lake root: a path or s3://bucket/prefix")
    p.add_argument("--start", type=_day, help="first day (default: DAYS days before today)")
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--apps", default=DEFAULT_APPS, help="comma-separated app ids")
    p.add_argument("--sessions-per-day", type=int, default=300)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--invalid-rate", type=float, default=0.002)
    p.add_argument("--duplicate-rate", type=float, default=0.003)
    p.add_argument("--files-per-session", type=int, default=1)
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("materialize", help="materialize Tier B assets through Dagster")
    p.add_argument("--lake", required=True)
    p.add_argument("--partition", type=_day, help="one day")
    p.add_argument("--from", dest="date_from", type=_day, help="first day of a range")
    p.add_argument("--to", dest="date_to", type=_day, help="last day of a range (inclusive)")
    p.add_argument("--runtime", choices=["ray", "inline"], default="ray")
    p.add_argument("--assets", help="comma-separated Tier B tables (default: all)")
    p.add_argument("--ray-address", help="existing Ray cluster: auto or ray://host:port")
    p.add_argument("--num-cpus", type=int, help="CPUs of the embedded local Ray")
    p.add_argument("--on-bad-file", choices=["fail", "skip"], default="fail")
    p.set_defaults(func=cmd_materialize)

    p = sub.add_parser("demo", help="sample lake + every Tier B asset for several days")
    p.add_argument("--lake", default="demo/lake")
    p.add_argument("--days", type=int, default=3)
    p.add_argument("--sessions-per-day", type=int, default=1000)
    p.add_argument("--runtime", choices=["ray", "inline"], default="ray")
    p.add_argument("--num-cpus", type=int)
    p.add_argument("--regenerate", action="store_true", help="write a new sample lake")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("explain", help="show the plan of an asset for a day, without running it")
    p.add_argument("asset")
    p.add_argument("--lake", required=True)
    p.add_argument("--partition", type=_day)
    p.add_argument("--from", dest="date_from", type=_day)
    p.add_argument("--to", dest="date_to", type=_day)
    p.add_argument("--runtime", choices=["ray", "inline"], default="ray")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("rollback", help="restore a partition's previous version")
    p.add_argument("table")
    p.add_argument("--lake", required=True)
    p.add_argument("--partition", type=_day, required=True)
    p.set_defaults(func=cmd_rollback)

    p = sub.add_parser("tables", help="list Tier B tables with their days and rows")
    p.add_argument("--lake", required=True)
    p.set_defaults(func=cmd_tables)

    p = sub.add_parser("query", help="run DuckDB SQL over the current Tier B tables")
    p.add_argument("sql")
    p.add_argument("--lake", required=True)
    p.set_defaults(func=cmd_query)

    from trajectory_assets.ingest.cli import add_parser as add_ingest_parser

    add_ingest_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.func(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
