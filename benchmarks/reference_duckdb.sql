-- The peer: every Tier B table of SPEC.md in plain DuckDB SQL, straight from the raw Parquet.
--
-- Semantics are those of trajectory_assets/operators/*.py (validation -> rejected_events;
-- duplicate event ids inside a session keep the first by (ts, seq NULLS LAST, event_id,
-- source_file, source_row); event order (ts, seq NULLS LAST, event_id); ...), written out
-- independently so `benchmarks/run.py` can check row counts and checksums against our tables.
--
-- Run it from the lake root (source_file is the path relative to it, as in our tables) with the
-- variable `raw_files` set to the list of raw files, e.g. in the duckdb CLI:
--   cd <lake> && duckdb -c "SET VARIABLE raw_files = (SELECT list(file ORDER BY file)
--       FROM glob('raw_events/dt=*/app_id=*/session_id=*/*.parquet')); .read reference_duckdb.sql"
-- Outputs: hive-partitioned Parquet under ./reference/<table>/ (partition columns kept inside
-- the files too, as in our tables).
--
-- Why hive_partitioning = false: with it, DuckDB replaces the files' own app_id/session_id
-- columns by the folder values, so a row with an empty app_id would no longer be rejected;
-- the operators use the file's values (the folder only fills a column a file lacks).
-- `dt` is taken from the path instead.

-- 1. One read of the raw files, every row checked (the reasons of operators/events.py), into
--    `checked`, whose columns are the engine's EVENTS shape (raw columns cast to the raw schema).
CREATE OR REPLACE TEMP TABLE checked (
    dt VARCHAR, event_id VARCHAR, app_id VARCHAR, session_id VARCHAR, ts TIMESTAMPTZ, seq BIGINT,
    event_type VARCHAR, turn_index INTEGER, agent_id VARCHAR, request_id VARCHAR, model VARCHAR,
    tool_name VARCHAR, ttft_ms DOUBLE, latency_ms DOUBLE, tool_latency_ms DOUBLE,
    input_tokens BIGINT, output_tokens BIGINT, cache_tokens BIGINT, error_type VARCHAR,
    error_code VARCHAR, payload VARCHAR, artifacts STRUCT(kind VARCHAR, uri VARCHAR)[],
    source_file VARCHAR, source_row BIGINT, reject_reason VARCHAR
);

-- @@load: benchmarks/run.py runs this one statement once per day, with `raw_files` set to that
-- day's files (DuckDB keeps ~70 KB of reader state per file until the statement ends, which
-- would be ~35 GB for the 500k files of a 10M-event lake in one statement); run as a plain
-- script it runs once, over every file in `raw_files`.
INSERT INTO checked BY NAME
SELECT *, concat_ws('; ',
        CASE WHEN event_id IS NULL OR trim(CAST(event_id AS VARCHAR)) = '' THEN 'null or empty event_id' END,
        CASE WHEN app_id IS NULL OR trim(CAST(app_id AS VARCHAR)) = '' THEN 'null or empty app_id' END,
        CASE WHEN session_id IS NULL OR trim(CAST(session_id AS VARCHAR)) = '' THEN 'null or empty session_id' END,
        CASE WHEN ts IS NULL OR trim(CAST(ts AS VARCHAR)) = '' THEN 'null or empty ts' END,
        CASE WHEN event_type IS NULL OR trim(CAST(event_type AS VARCHAR)) = '' THEN 'null or empty event_type' END,
        CASE WHEN ttft_ms < 0 THEN 'negative ttft_ms' END,
        CASE WHEN latency_ms < 0 THEN 'negative latency_ms' END,
        CASE WHEN tool_latency_ms < 0 THEN 'negative tool_latency_ms' END,
        CASE WHEN input_tokens < 0 THEN 'negative input_tokens' END,
        CASE WHEN output_tokens < 0 THEN 'negative output_tokens' END,
        CASE WHEN cache_tokens < 0 THEN 'negative cache_tokens' END,
        CASE WHEN isnan(ttft_ms) THEN 'NaN ttft_ms' END,
        CASE WHEN isnan(latency_ms) THEN 'NaN latency_ms' END,
        CASE WHEN isnan(tool_latency_ms) THEN 'NaN tool_latency_ms' END,
        CASE WHEN event_type IN ('decision', 'eval_result') AND payload IS NULL
                 THEN 'missing payload for ' || event_type
             WHEN event_type IN ('decision', 'eval_result') AND NOT coalesce(json_valid(payload), false)
                 THEN 'invalid JSON payload for ' || event_type
             WHEN event_type IN ('decision', 'eval_result') AND json_type(payload) <> 'OBJECT'
                 THEN 'payload of ' || event_type || ' is not a JSON object' END
    ) AS reject_reason
FROM (
    SELECT regexp_extract(filename, 'dt=([^/]+)', 1) AS dt,
        event_id, app_id, session_id, ts, seq, event_type, turn_index, agent_id, request_id,
        model, tool_name, ttft_ms, latency_ms, tool_latency_ms, input_tokens, output_tokens,
        cache_tokens, error_type, error_code, payload, artifacts,
        filename AS source_file, file_row_number AS source_row
    FROM read_parquet(getvariable('raw_files'), union_by_name = true, filename = true,
                      file_row_number = true, hive_partitioning = false)
);
-- @@end

-- 2. rejected_events: every invalid row, with all its reasons and the row as JSON.
COPY (
    SELECT dt,
        coalesce(nullif(app_id, ''), regexp_extract(source_file, 'app_id=([^/]+)', 1)) AS app_id,
        source_file, source_row::BIGINT AS source_row, event_id, reject_reason AS reason,
        to_json({'event_id': event_id, 'app_id': app_id, 'session_id': session_id, 'ts': ts,
                 'seq': seq, 'event_type': event_type, 'turn_index': turn_index,
                 'agent_id': agent_id, 'request_id': request_id, 'model': model,
                 'tool_name': tool_name, 'ttft_ms': ttft_ms, 'latency_ms': latency_ms,
                 'tool_latency_ms': tool_latency_ms, 'input_tokens': input_tokens,
                 'output_tokens': output_tokens, 'cache_tokens': cache_tokens,
                 'error_type': error_type, 'error_code': error_code, 'payload': payload,
                 'artifacts': artifacts})::VARCHAR AS "row"
    FROM checked WHERE reject_reason <> ''
) TO 'reference/rejected_events'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 3. Valid events, duplicate ids dropped, with rn = position in the session's event order.
--    A session is (dt, app_id, session_id): the operators never see two days in one batch.
CREATE OR REPLACE TEMP TABLE clean AS
SELECT * EXCLUDE (reject_reason, dup_rank),
    row_number() OVER (PARTITION BY dt, app_id, session_id
                       ORDER BY ts, seq ASC NULLS LAST, event_id) AS rn
FROM (
    SELECT *, row_number() OVER (
        PARTITION BY dt, app_id, session_id, event_id
        ORDER BY ts, seq ASC NULLS LAST, event_id, source_file, source_row) AS dup_rank
    FROM checked WHERE reject_reason = ''
) WHERE dup_rank = 1;

DROP TABLE checked;

-- 4. sessions
CREATE OR REPLACE TEMP TABLE sessions AS
WITH agg AS (
    SELECT dt, app_id, session_id,
        coalesce(list_sort(list_distinct(list(agent_id))), []) AS agent_ids,
        coalesce(list_sort(list_distinct(list(model) FILTER (WHERE event_type = 'llm_call'))), [])
            AS models,
        min(ts) AS started_at, max(ts) AS ended_at,
        (epoch_us(max(ts)) - epoch_us(min(ts))) / 1000.0 AS duration_ms,
        count(*) AS n_events,
        count(DISTINCT turn_index) AS n_turns,
        count(*) FILTER (WHERE event_type = 'llm_call') AS n_llm_calls,
        count(*) FILTER (WHERE event_type = 'tool_call') AS n_tool_calls,
        count(*) FILTER (WHERE error_type IS NOT NULL) AS n_errors,
        coalesce(sum(input_tokens), 0) AS input_tokens,
        coalesce(sum(output_tokens), 0) AS output_tokens,
        coalesce(sum(cache_tokens), 0) AS cache_tokens,
        quantile_cont(ttft_ms, 0.5) FILTER (WHERE event_type = 'llm_call') AS ttft_ms_p50,
        quantile_cont(latency_ms, 0.5) FILTER (WHERE event_type = 'llm_call') AS latency_ms_p50,
        quantile_cont(latency_ms, 0.95) FILTER (WHERE event_type = 'llm_call') AS latency_ms_p95,
        coalesce(sum(tool_latency_ms), 0.0) AS tool_latency_ms_total
    FROM clean GROUP BY dt, app_id, session_id
),
last_end AS (
    SELECT dt, app_id, session_id, payload FROM clean WHERE event_type = 'session_end'
    QUALIFY row_number() OVER (PARTITION BY dt, app_id, session_id ORDER BY rn DESC) = 1
),
last_eval AS (
    SELECT dt, app_id, session_id, payload, model FROM clean WHERE event_type = 'eval_result'
    QUALIFY row_number() OVER (PARTITION BY dt, app_id, session_id ORDER BY rn DESC) = 1
)
SELECT a.dt, a.app_id, a.session_id, a.agent_ids, a.models, a.started_at, a.ended_at,
    a.duration_ms::DOUBLE AS duration_ms, a.n_events::BIGINT AS n_events,
    a.n_turns::BIGINT AS n_turns, a.n_llm_calls::BIGINT AS n_llm_calls,
    a.n_tool_calls::BIGINT AS n_tool_calls, a.n_errors::BIGINT AS n_errors,
    a.input_tokens::BIGINT AS input_tokens, a.output_tokens::BIGINT AS output_tokens,
    a.cache_tokens::BIGINT AS cache_tokens, a.ttft_ms_p50::DOUBLE AS ttft_ms_p50,
    a.latency_ms_p50::DOUBLE AS latency_ms_p50, a.latency_ms_p95::DOUBLE AS latency_ms_p95,
    a.tool_latency_ms_total::DOUBLE AS tool_latency_ms_total,
    coalesce(CASE WHEN json_valid(e.payload) THEN json_extract_string(e.payload, '$.status') END,
             'unknown') AS status,
    CASE WHEN json_valid(v.payload) THEN json_extract_string(v.payload, '$.benchmark') END
        AS eval_benchmark,
    CASE WHEN json_valid(v.payload) THEN json_extract_string(v.payload, '$.task_id') END
        AS eval_task_id,
    CASE WHEN v.session_id IS NOT NULL THEN coalesce(
        CASE WHEN json_valid(v.payload) THEN json_extract_string(v.payload, '$.run_id') END,
        'default') END AS eval_run_id,
    CASE WHEN v.session_id IS NOT NULL THEN coalesce(v.model, 'unknown') END AS eval_model,
    TRY_CAST(CASE WHEN json_valid(v.payload) THEN json_extract_string(v.payload, '$.passed') END
             AS BOOLEAN) AS eval_passed,
    TRY_CAST(CASE WHEN json_valid(v.payload) THEN json_extract_string(v.payload, '$.score') END
             AS DOUBLE) AS eval_score
FROM agg a
LEFT JOIN last_end e USING (dt, app_id, session_id)
LEFT JOIN last_eval v USING (dt, app_id, session_id);

COPY sessions TO 'reference/sessions'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 5. turns
CREATE OR REPLACE TEMP TABLE turns AS
SELECT dt, app_id, session_id, turn_index::INTEGER AS turn_index,
    first(agent_id ORDER BY rn) FILTER (WHERE agent_id IS NOT NULL) AS agent_id,
    first(model ORDER BY rn) FILTER (WHERE event_type = 'llm_call') AS model,
    min(ts) AS started_at, max(ts) AS ended_at,
    ((epoch_us(max(ts)) - epoch_us(min(ts))) / 1000.0)::DOUBLE AS duration_ms,
    count(*)::BIGINT AS n_events,
    (count(*) FILTER (WHERE event_type = 'llm_call'))::BIGINT AS n_llm_calls,
    (count(*) FILTER (WHERE event_type = 'tool_call'))::BIGINT AS n_tool_calls,
    (count(*) FILTER (WHERE error_type IS NOT NULL))::BIGINT AS n_errors,
    coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
    coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
    coalesce(sum(cache_tokens), 0)::BIGINT AS cache_tokens,
    (first(ttft_ms ORDER BY rn) FILTER (WHERE event_type = 'llm_call'))::DOUBLE AS ttft_ms,
    coalesce(sum(latency_ms) FILTER (WHERE event_type = 'llm_call'), 0.0)::DOUBLE
        AS latency_ms_total,
    coalesce(sum(tool_latency_ms), 0.0)::DOUBLE AS tool_latency_ms_total,
    coalesce(list_sort(list_distinct(list(tool_name) FILTER (WHERE event_type = 'tool_call'))),
             []) AS tools
FROM clean WHERE turn_index IS NOT NULL
GROUP BY dt, app_id, session_id, turn_index;

COPY turns TO 'reference/turns'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 6. errors
COPY (
    SELECT dt, app_id, error_type, session_id, turn_index::INTEGER AS turn_index, event_id, ts,
        error_code, event_type, tool_name, model, message, prev_event_type,
        last_call_rn IS NULL OR last_call_rn <= rn AS is_terminal, artifacts
    FROM (
        SELECT *,
            CASE WHEN json_valid(payload) THEN json_extract_string(payload, '$.message') END
                AS message,
            lag(event_type) OVER (PARTITION BY dt, app_id, session_id ORDER BY rn)
                AS prev_event_type,
            max(rn) FILTER (WHERE event_type IN ('llm_call', 'tool_call'))
                OVER (PARTITION BY dt, app_id, session_id) AS last_call_rn
        FROM clean
    ) WHERE error_type IS NOT NULL
) TO 'reference/errors'
  (FORMAT parquet, PARTITION_BY (dt, app_id, error_type), WRITE_PARTITION_COLUMNS true,
   OVERWRITE true);

-- 7. turn_features (from turns, plus the raw order of tool calls inside a turn)
COPY (
    WITH tool_calls AS (
        SELECT dt, app_id, session_id, turn_index, tool_name,
            lag(tool_name) OVER (PARTITION BY dt, app_id, session_id, turn_index ORDER BY rn)
                AS previous_tool
        FROM clean WHERE event_type = 'tool_call' AND turn_index IS NOT NULL
    ),
    repeats AS (
        SELECT dt, app_id, session_id, turn_index,
            count(*) FILTER (WHERE tool_name = previous_tool) AS n
        FROM tool_calls GROUP BY ALL
    )
    SELECT t.dt, t.app_id, t.session_id, t.turn_index,
        (t.cache_tokens / nullif(t.input_tokens, 0))::DOUBLE AS cache_hit_ratio,
        (t.output_tokens / nullif(t.latency_ms_total / 1000.0, 0))::DOUBLE AS output_tokens_per_s,
        (t.n_tool_calls / nullif(t.n_llm_calls, 0))::DOUBLE AS tool_calls_per_llm_call,
        coalesce(r.n, 0)::BIGINT AS repeated_tool_calls,
        ((epoch_us(t.started_at) - epoch_us(lag(t.ended_at) OVER turn_order)) / 1000.0)::DOUBLE
            AS think_time_ms,
        (sum(t.input_tokens) OVER (turn_order ROWS UNBOUNDED PRECEDING))::BIGINT
            AS cum_input_tokens,
        (sum(t.output_tokens) OVER (turn_order ROWS UNBOUNDED PRECEDING))::BIGINT
            AS cum_output_tokens,
        t.turn_index = max(t.turn_index) OVER (PARTITION BY t.dt, t.app_id, t.session_id)
            AS is_last_turn,
        t.n_errors > 0 AS had_error
    FROM turns t
    LEFT JOIN repeats r USING (dt, app_id, session_id, turn_index)
    WINDOW turn_order AS (PARTITION BY t.dt, t.app_id, t.session_id ORDER BY t.turn_index)
) TO 'reference/turn_features'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 8. decision_steps
COPY (
    WITH decisions AS (
        SELECT dt, app_id, session_id, ts,
            CASE WHEN json_valid(payload) THEN json_extract_string(payload, '$.step') END AS step,
            CASE WHEN json_valid(payload) THEN json_extract_string(payload, '$.item_id') END
                AS item_id,
            CASE WHEN json_valid(payload) THEN json_extract_string(payload, '$.outcome') END
                AS outcome
        FROM clean WHERE event_type = 'decision'
    )
    SELECT dt, app_id, session_id, step,
        count(DISTINCT item_id)::BIGINT AS n_items,
        (count(*) FILTER (WHERE outcome = 'kept'))::BIGINT AS kept,
        (count(*) FILTER (WHERE outcome = 'eliminated'))::BIGINT AS eliminated,
        (count(*) FILTER (WHERE outcome = 'scored'))::BIGINT AS scored,
        (count(*) FILTER (WHERE outcome = 'eliminated')
            / nullif(count(*) FILTER (WHERE outcome IN ('kept', 'eliminated', 'scored')), 0))::DOUBLE
            AS elimination_ratio,
        min(ts) AS first_ts, max(ts) AS last_ts
    FROM decisions GROUP BY dt, app_id, session_id, step
) TO 'reference/decision_steps'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 9. eval_runs (from sessions: an attempt is a session with an eval_benchmark)
COPY (
    WITH attempts AS (
        SELECT dt, eval_benchmark AS benchmark, eval_model AS model, eval_run_id AS run_id,
            eval_task_id AS task_id, eval_passed, eval_score, input_tokens, output_tokens,
            n_errors, duration_ms
        FROM sessions WHERE eval_benchmark IS NOT NULL
    ),
    per_task AS (
        SELECT dt, benchmark, model, run_id, task_id,
            count(*) FILTER (WHERE eval_passed) / count(*) AS task_pass_share
        FROM attempts WHERE task_id IS NOT NULL
        GROUP BY ALL
    ),
    per_run AS (
        SELECT dt, benchmark, model, run_id,
            count(*) AS n_attempts,
            count(DISTINCT task_id) AS n_tasks,
            count(DISTINCT task_id) FILTER (WHERE eval_passed) AS n_tasks_passed,
            count(*) FILTER (WHERE eval_passed) / nullif(count(*), 0) AS pass_rate,
            sum(eval_score) / nullif(count(eval_score), 0) AS mean_score,
            sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
            quantile_cont(duration_ms, 0.5) AS session_duration_ms_p50,
            count(*) FILTER (WHERE n_errors > 0) / nullif(count(*), 0) AS error_session_rate
        FROM attempts GROUP BY ALL
    ),
    pass_at_1 AS (
        SELECT dt, benchmark, model, run_id, avg(task_pass_share) AS pass_at_1
        FROM per_task GROUP BY ALL
    )
    SELECT r.dt, r.benchmark, r.model, r.run_id,
        r.n_attempts::BIGINT AS n_attempts, r.n_tasks::BIGINT AS n_tasks,
        r.n_tasks_passed::BIGINT AS n_tasks_passed, r.pass_rate::DOUBLE AS pass_rate,
        p.pass_at_1::DOUBLE AS pass_at_1, r.mean_score::DOUBLE AS mean_score,
        r.input_tokens::BIGINT AS input_tokens, r.output_tokens::BIGINT AS output_tokens,
        r.session_duration_ms_p50::DOUBLE AS session_duration_ms_p50,
        r.error_session_rate::DOUBLE AS error_session_rate
    FROM per_run r LEFT JOIN pass_at_1 p USING (dt, benchmark, model, run_id)
) TO 'reference/eval_runs'
  (FORMAT parquet, PARTITION_BY (dt, benchmark, model), WRITE_PARTITION_COLUMNS true,
   OVERWRITE true);
