"""The numbers of the daily report: SQL over the day's Tier B tables, read into `ReportData`.

Each query is one section of the page (and of the chart); a table the caller did not pass
counts as empty, so a day with no evals still gets a report.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TypedDict, TypeVar, cast

import pyarrow as pa

from trajectory_assets.batch import Batch
from trajectory_assets.operators import TIER_B
from trajectory_assets.report.intervals import wilson_interval
from trajectory_assets.schema import NO_APP

REPORT_TABLES = (
    "sessions",
    "llm_calls",
    "tool_stats",
    "eval_runs",
    "model_comparisons",
    "errors",
    "rejected_events",
)
TOP_TOOLS = 10
SHOWN_SPELLINGS = 3
"""Other spellings of a model the report names beside it; more end in an ellipsis."""
TOP_LOOPS = 10
TOP_ENDED = 10
ERROR_COLUMNS = (
    *("dt", "app_id", "session_id", "turn_index", "event_id", "ts", "event_position"),
    *("error_type", "event_type", "tool_name", "is_terminal"),
)
"""What the report reads of `errors`: not the messages and artifacts, the bulk of the table."""
REJECTED_COLUMNS = ("dt", "app_id", "reason")
"""What it reads of `rejected_events`: not the rows themselves."""
NARROW = {"errors": ERROR_COLUMNS, "rejected_events": REJECTED_COLUMNS}


def columns_read(table: str) -> list[str]:
    """The columns of a table the report's queries read (every one but of the `NARROW`)."""
    return list(NARROW.get(table, TIER_B[table].schema.names))


# One row type per query, its keys the query's columns. DuckDB sums BIGINTs as HUGEINT, which
# Arrow reads as decimal128(38, 0): those sums are `Decimal`s.


class Totals(TypedDict):
    sessions: int
    cost_usd: float | None
    llm_calls: int
    llm_calls_unpriced: Decimal
    loops_detected: int
    ended_on_error: int
    failing_tools: int
    rejected_rows: int


class AppRow(TypedDict):
    app_id: str
    sessions: int
    cost_usd: float | None
    cost_per_session: float | None
    llm_calls_unpriced: Decimal
    input_tokens: Decimal
    output_tokens: Decimal
    error_sessions: int
    loop_sessions: int


class ModelRow(TypedDict):
    """One model, however its calls spelled it: names alike but for case, surrounding spaces and
    a provider prefix (`Claude-Sonnet-4-5 `, `anthropic/claude-sonnet-4-5`) priced by one
    provider (or by `prices.yaml`, whose entry covers every spelling of its model) are one row,
    with the unpriced calls of those names (a failed call without tokens; not a spelling with an
    unpriced call with tokens: `models/gemini-2.5-pro` is a name no price knows, which a reader
    must see); other unpriced names are joined case and spaces aside. Two providers' prices
    (`azure/gpt-4o`, `gpt-4o`) and two snapshots (`gpt-4o-2024-08-06`, `gpt-4o-2024-11-20`,
    priced alike) stay apart. `model` is the most frequent spelling (trimmed; none is
    `unknown`), `also_named` the others, so a team's spellings of one model read as one."""

    model: str
    also_named: str
    calls: int
    latency_p50: float | None
    latency_p95: float | None
    latency_p99: float | None
    ttft_p50: float | None
    cost_usd: float | None
    unpriced: int


class ToolRow(TypedDict):
    """A failing tool: `n_errors > 0` gives it a terminal share and a top error type."""

    app_id: str
    tool_name: str
    n_calls: int
    n_errors: int
    failure_rate: float
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    n_sessions: int
    terminal_error_share: float
    top_error_type: str


class EvalRunRow(TypedDict):
    benchmark: str
    model: str
    run_id: str
    n_attempts: int
    n_tasks: int
    pass_rate: float
    pass_at_1: float | None
    n_passed: int
    cost_usd: float | None
    cost_per_passed_task: float | None
    llm_calls_unpriced: int


class EvalRow(EvalRunRow):
    """A run with its pass rate's interval: none without attempts."""

    ci_low: float | None
    ci_high: float | None


class ComparisonRow(TypedDict):
    """`window_days` is null in a day written before the column."""

    benchmark: str
    model_a: str
    model_b: str
    n_tasks: int
    pass_at_1_a: float
    pass_at_1_b: float
    diff: float
    diff_se: float | None
    diff_ci_low: float | None
    diff_ci_high: float | None
    mean_cost_diff: float | None
    window_days: int | None


class EndedRow(TypedDict):
    """A session whose last error came after its last call: where a developer starts."""

    app_id: str
    session_id: str
    turn_index: int | None
    error_type: str
    failed_at: str
    status: str
    cost_usd: float | None


class RejectedRow(TypedDict):
    """An app's raw rows set aside, and the reason most of them share."""

    app_id: str
    rejected_rows: int
    reasons: int
    top_reason: str
    top_reason_rows: int


class LoopRow(TypedDict):
    app_id: str
    session_id: str
    max_identical_tool_run: int
    max_ping_pong: int
    n_tool_calls: int
    status: str


@dataclass(frozen=True)
class ReportData:
    """One list of rows per section; `totals` is the headline row."""

    by_app: list[AppRow]
    by_model: list[ModelRow]
    tools: list[ToolRow]
    evals: list[EvalRow]
    comparisons: list[ComparisonRow]
    loops: list[LoopRow]
    ended: list[EndedRow]
    rejected: list[RejectedRow]
    totals: Totals


def gather_data(tables: Mapping[str, pa.Table]) -> ReportData:
    """Runs every section's query over the given tables (see the module docstring)."""
    batch = Batch({name: _table(name, tables) for name in REPORT_TABLES})
    try:
        return ReportData(
            by_app=_rows(batch, BY_APP, AppRow),
            by_model=_rows(batch, BY_MODEL, ModelRow),
            tools=_rows(batch, TOOLS, ToolRow),
            evals=_with_intervals(_rows(batch, EVALS, EvalRunRow)),
            comparisons=_rows(batch, COMPARISONS, ComparisonRow),
            loops=_rows(batch, LOOPS, LoopRow),
            ended=_rows(batch, ENDED_ON_ERROR, EndedRow),
            rejected=_rows(batch, REJECTED, RejectedRow),
            totals=_rows(batch, TOTALS, Totals)[0],
        )
    finally:
        batch.close()


Row = TypeVar("Row")


def _rows(batch: Batch, query: str, row: type[Row]) -> list[Row]:
    """Arrow's rows are plain dicts: a test holds each row type to its query's columns."""
    return cast(list[Row], batch.sql(query).to_pylist())


def _table(name: str, tables: Mapping[str, pa.Table]) -> pa.Table:
    full = TIER_B[name].schema
    schema = pa.schema([full.field(column) for column in columns_read(name)])
    table = tables.get(name)
    if table is None:
        return schema.empty_table()
    return table.select(schema.names).cast(schema)


KNOWN_COST = """CASE WHEN sum(n_llm_calls) > 0 AND sum(n_llm_calls) = sum(n_llm_calls_unpriced)
    THEN NULL ELSE sum(cost_usd) END"""
"""Sessions' cost: null when they made calls and none has a price (sessions without calls cost
0, and their sum read $0 for a day of unpriced calls alone), else what the priced ones cost."""

TOTALS = f"""
SELECT (SELECT count(*) FROM sessions) AS sessions,
    (SELECT {KNOWN_COST} FROM sessions) AS cost_usd,
    (SELECT count(*) FROM llm_calls) AS llm_calls,
    (SELECT coalesce(sum(n_llm_calls_unpriced), 0) FROM sessions) AS llm_calls_unpriced,
    (SELECT count(*) FILTER (WHERE loop_detected) FROM sessions) AS loops_detected,
    (SELECT count(DISTINCT (app_id, session_id)) FROM errors JOIN sessions
        USING (app_id, session_id) WHERE is_terminal) AS ended_on_error,
    (SELECT count(*) FROM tool_stats WHERE n_errors > 0) AS failing_tools,
    (SELECT count(*) FROM rejected_events) AS rejected_rows
"""

BY_APP = f"""
SELECT app_id, count(*) AS sessions, {KNOWN_COST} AS cost_usd,
    sum(cost_usd) / nullif(count(cost_usd) FILTER (WHERE n_llm_calls > 0), 0)
        AS cost_per_session,
    coalesce(sum(n_llm_calls_unpriced), 0) AS llm_calls_unpriced,
    coalesce(sum(input_tokens), 0) AS input_tokens,
    coalesce(sum(output_tokens), 0) AS output_tokens,
    count(*) FILTER (WHERE n_errors > 0) AS error_sessions,
    count(*) FILTER (WHERE loop_detected) AS loop_sessions
FROM sessions GROUP BY app_id ORDER BY app_id
"""

BY_MODEL = f"""
WITH spelled AS (
    SELECT *, coalesce(lower(trim(model)), '') AS spelling,
        regexp_replace(coalesce(lower(trim(model)), ''), '^[^/]*/', '') AS bare,
        -- the database's provider (a discount's too), else a prices.yaml entry's own name
        coalesce(nullif(regexp_extract(price_source, 'genai-prices [^:]*: ([^/]*)/', 1), ''),
            'prices.yaml:' || lower(nullif(regexp_extract(price_source,
                '^prices\\.yaml: (.*?)( from \\d{{4}}-\\d\\d-\\d\\d)?$', 1), ''))) AS provider
    FROM llm_calls
), priced AS (  -- a spelling's provider (the database's first): its unpriced calls join it
    SELECT spelling, coalesce(min(provider) FILTER (WHERE provider NOT LIKE 'prices.yaml:%'),
        min(provider)) AS provider FROM spelled WHERE provider IS NOT NULL GROUP BY spelling
), priced_bare AS (  -- else the priced calls of the name without its provider prefix
    SELECT bare, min(provider) AS provider FROM spelled WHERE provider NOT LIKE 'prices.yaml:%'
    GROUP BY bare
    HAVING count(DISTINCT provider) = 1  -- priced by two: which one's is unknown
), unknown_names AS (  -- an unpriced call with tokens: a name no price knows (`models/…`)
    SELECT DISTINCT spelling, true AS unknown FROM spelled
    WHERE cost_usd IS NULL AND (input_tokens IS NOT NULL OR output_tokens IS NOT NULL)
), provided AS (
    SELECT spelled.*, coalesce(priced.provider,
            CASE WHEN unknown IS NULL THEN priced_bare.provider END) AS priced_by
    FROM spelled LEFT JOIN priced USING (spelling) LEFT JOIN priced_bare USING (bare)
        LEFT JOIN unknown_names USING (spelling)
), keyed AS (
    SELECT *, CASE WHEN priced_by IS NULL THEN spelling ELSE bare || '@' || priced_by END
        AS model_key
    FROM provided
), names AS (
    SELECT model_key, list(name ORDER BY n DESC, name) AS names FROM (
        SELECT model_key, coalesce(nullif(trim(model), ''), 'unknown') AS name, count(*) AS n
        FROM keyed GROUP BY ALL
    ) GROUP BY model_key
), stats AS (
    SELECT model_key, count(*) AS calls,
        quantile_cont(latency_ms, 0.5) AS latency_p50,
        quantile_cont(latency_ms, 0.95) AS latency_p95,
        quantile_cont(latency_ms, 0.99) AS latency_p99,
        quantile_cont(ttft_ms, 0.5) AS ttft_p50,
        sum(cost_usd) AS cost_usd,
        count(*) FILTER (WHERE cost_usd IS NULL) AS unpriced
    FROM keyed GROUP BY model_key
)
SELECT names[1] AS model,
    array_to_string(names[2:{1 + SHOWN_SPELLINGS}], ', ')
        || CASE WHEN len(names) > {1 + SHOWN_SPELLINGS} THEN ', …' ELSE '' END AS also_named,
    calls, latency_p50, latency_p95, latency_p99, ttft_p50, cost_usd, unpriced
FROM stats JOIN names USING (model_key) ORDER BY calls DESC, model
"""

TOOLS = f"""
SELECT app_id, tool_name, n_calls, n_errors, failure_rate, latency_ms_p50, latency_ms_p95,
    n_sessions, terminal_error_share, top_error_type
FROM tool_stats WHERE n_errors > 0
ORDER BY n_errors DESC, failure_rate DESC, app_id, tool_name
LIMIT {TOP_TOOLS}
"""

EVALS = """
SELECT benchmark, model, run_id, n_attempts, n_tasks, pass_rate, pass_at_1,
    round(pass_rate * n_attempts)::BIGINT AS n_passed, cost_usd, cost_per_passed_task,
    n_llm_calls_unpriced AS llm_calls_unpriced
FROM eval_runs ORDER BY benchmark, model, run_id
"""

COMPARISONS = """
SELECT benchmark, model_a, model_b, n_tasks, pass_at_1_a, pass_at_1_b, diff, diff_se,
    diff_ci_low, diff_ci_high, mean_cost_diff, window_days
FROM model_comparisons ORDER BY benchmark, model_a, model_b
"""

LOOPS = f"""
SELECT app_id, session_id, max_identical_tool_run, max_ping_pong, n_tool_calls, status
FROM sessions WHERE loop_detected
ORDER BY greatest(max_identical_tool_run, max_ping_pong) DESC, app_id, session_id
LIMIT {TOP_LOOPS}
"""

ENDED_ON_ERROR = f"""
SELECT e.app_id, e.session_id, e.turn_index, e.error_type,
    coalesce(e.tool_name, e.event_type) AS failed_at, s.status, s.cost_usd
FROM errors e JOIN sessions s USING (app_id, session_id)
WHERE e.is_terminal
QUALIFY row_number() OVER (PARTITION BY e.app_id, e.session_id
    ORDER BY e.event_position DESC NULLS LAST, e.ts DESC, e.event_id DESC) = 1
ORDER BY s.cost_usd DESC NULLS LAST, e.app_id, e.session_id
LIMIT {TOP_ENDED}
"""
"""Each session's last error after which it made no call (`errors.is_terminal`), costliest
sessions first."""

REJECTED = rf"""
WITH named AS (  -- a folder of a null app names none: its rows are shown, under a name
    SELECT CASE WHEN trim(coalesce(app_id, '')) = '' THEN '{NO_APP}' ELSE app_id END AS app_id,
        reason
    FROM rejected_events
), rules AS (  -- one rule each, a value an unreadable row quotes left out
    SELECT app_id,
        regexp_replace(rule, '^(\S+) .* cannot be read as ', '\1 cannot be read as ') AS rule
    FROM (SELECT app_id, unnest(string_split(reason, '; ')) AS rule FROM named)
), per_rule AS (
    SELECT app_id, rule, count(*) AS n FROM rules GROUP BY app_id, rule
), per_app AS (
    SELECT app_id, count(*) AS rejected_rows FROM named GROUP BY app_id
)
SELECT app_id, rejected_rows, count(*) AS reasons,
    first(rule ORDER BY n DESC, rule) AS top_reason, max(n) AS top_reason_rows
FROM per_app JOIN per_rule USING (app_id)
GROUP BY app_id, rejected_rows ORDER BY rejected_rows DESC, app_id
"""
"""Each app's raw rows set aside (`rejected_events`), with the rule most of them broke: what an
on-call engineer looks at first when a producer breaks (the rows are in the table). A row
breaks one rule or several (`; `-joined), and an unreadable value is quoted in its reason: the
rules are counted without the values (1007.6 and 1001.6 tokens are one rule)."""


def _with_intervals(runs: list[EvalRunRow]) -> list[EvalRow]:
    """95% Wilson score interval of each run's pass rate (see `wilson_interval`)."""
    evals = []
    for r in runs:
        n, k = r["n_attempts"], r["n_passed"]
        low, high = wilson_interval(k, n) if n > 0 else (None, None)
        evals.append(EvalRow(**r, ci_low=low, ci_high=high))
    return evals
