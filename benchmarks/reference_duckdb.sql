-- The peer: every Tier B table of SPEC.md (both sets) in plain DuckDB SQL, straight from the raw
-- Parquet: the script a user could write instead of running the pipeline.
--
-- Semantics are SPEC.md's, as trajectory_assets/operators/*.py implement them (validation ->
-- rejected_events; duplicate event ids inside a session keep the first by (ts, seq NULLS LAST,
-- event_id, source_file, source_row); event order (ts, seq NULLS LAST, event_id); costs from a
-- price table; loops; the paired model comparison), written out independently, so that
-- `benchmarks/verify.py` can compare every row of our tables with these.
--
-- Run it from the lake root (source_file is the path relative to it, as in our tables) with
-- three variables set (benchmarks/peer.py does, and runs the `@@load` statement per day and app):
--   raw_files    the raw files to read: a glob or a list, e.g. 'raw_events/dt=*/*/*/*.parquet'
--   prices_file  a Parquet price table (schema trajectory_assets.operators.pricing.PRICES) with
--                the lake's models, written before the run by pricing.price_table
--   t975_file    a Parquet table (df BIGINT, t975 DOUBLE): Student's t 0.975 quantiles
-- Outputs: hive-partitioned Parquet under ./peer/<table>/, partition columns kept in the files.
--
-- The raw files it reads have the raw schema's types (as a plain script assumes): a value of
-- another type that its column cannot hold (1007.6 tokens), which our reader rejects with its
-- row (`unreadable`), DuckDB's INSERT would cast silently (1008) or fail the statement on.
--
-- Why hive_partitioning = false: with it, DuckDB replaces the files' own app_id/session_id
-- columns by the folder values, so a row with an empty app_id would no longer be rejected;
-- `dt` is taken from the path instead.

-- 1. One read of the raw files, every row checked, into `checked`.
CREATE OR REPLACE TEMP TABLE checked (
    dt VARCHAR, event_id VARCHAR, app_id VARCHAR, session_id VARCHAR, ts TIMESTAMPTZ, seq BIGINT,
    event_type VARCHAR, turn_index INTEGER, agent_id VARCHAR, request_id VARCHAR, model VARCHAR,
    tool_name VARCHAR, ttft_ms DOUBLE, latency_ms DOUBLE, tool_latency_ms DOUBLE,
    input_tokens BIGINT, output_tokens BIGINT, cache_tokens BIGINT, error_type VARCHAR,
    error_code VARCHAR, payload VARCHAR, artifacts STRUCT(kind VARCHAR, uri VARCHAR)[],
    source_file VARCHAR, source_row BIGINT, folder_app VARCHAR, folder_session VARCHAR,
    reject_reason VARCHAR
);

-- @@load: once per day and app, with `raw_files` naming those files (DuckDB keeps ~70 KB of
-- reader state per file until a statement ends: ~35 GB for the 500k files of 10M events at once).
INSERT INTO checked BY NAME
SELECT *, concat_ws('; ',
        CASE WHEN event_id IS NULL OR trim(CAST(event_id AS VARCHAR)) = '' THEN 'null or empty event_id' END,
        CASE WHEN app_id IS NULL OR trim(CAST(app_id AS VARCHAR)) = '' THEN 'null or empty app_id' END,
        CASE WHEN session_id IS NULL OR trim(CAST(session_id AS VARCHAR)) = '' THEN 'null or empty session_id' END,
        CASE WHEN ts IS NULL OR trim(CAST(ts AS VARCHAR)) = '' THEN 'null or empty ts' END,
        CASE WHEN event_type IS NULL OR trim(CAST(event_type AS VARCHAR)) = '' THEN 'null or empty event_type' END,
        CASE WHEN trim(app_id) <> '' AND (coalesce(try(url_decode(folder_app)), folder_app)
                 NOT IN ('', app_id) OR contains(source_file, '/app_id=/'))
             THEN 'app_id differs from its folder''s' END,
        CASE WHEN trim(session_id) <> '' AND (coalesce(try(url_decode(folder_session)),
                 folder_session) NOT IN ('', session_id) OR contains(source_file, '/session_id=/'))
             THEN 'session_id differs from its folder''s' END,
        CASE WHEN ttft_ms < 0 THEN 'negative ttft_ms' END,
        CASE WHEN latency_ms < 0 THEN 'negative latency_ms' END,
        CASE WHEN tool_latency_ms < 0 THEN 'negative tool_latency_ms' END,
        CASE WHEN input_tokens < 0 THEN 'negative input_tokens' END,
        CASE WHEN output_tokens < 0 THEN 'negative output_tokens' END,
        CASE WHEN cache_tokens < 0 THEN 'negative cache_tokens' END,
        CASE WHEN isnan(ttft_ms) THEN 'NaN ttft_ms'
             WHEN ttft_ms = 'inf'::DOUBLE THEN 'infinite ttft_ms' END,
        CASE WHEN isnan(latency_ms) THEN 'NaN latency_ms'
             WHEN latency_ms = 'inf'::DOUBLE THEN 'infinite latency_ms' END,
        CASE WHEN isnan(tool_latency_ms) THEN 'NaN tool_latency_ms'
             WHEN tool_latency_ms = 'inf'::DOUBLE THEN 'infinite tool_latency_ms' END,
        CASE WHEN ttft_ms > 1e12 AND ttft_ms < 'inf'::DOUBLE THEN 'ttft_ms over 10^12' END,
        CASE WHEN latency_ms > 1e12 AND latency_ms < 'inf'::DOUBLE THEN 'latency_ms over 10^12' END,
        CASE WHEN tool_latency_ms > 1e12 AND tool_latency_ms < 'inf'::DOUBLE
             THEN 'tool_latency_ms over 10^12' END,
        CASE WHEN input_tokens > 1000000000000 THEN 'input_tokens over 10^12' END,
        CASE WHEN output_tokens > 1000000000000 THEN 'output_tokens over 10^12' END,
        CASE WHEN cache_tokens > 1000000000000 THEN 'cache_tokens over 10^12' END,
        CASE WHEN ts < '0001-01-01 00:00:00+00'::TIMESTAMPTZ
                 OR ts >= '10000-01-01 00:00:00+00'::TIMESTAMPTZ
             THEN 'ts outside the years 1 to 9999' END,
        CASE WHEN event_type IN ('decision', 'eval_result') AND payload IS NULL
                 THEN 'missing payload for ' || event_type
             WHEN event_type IN ('decision', 'eval_result') AND NOT coalesce(json_valid(payload)
                 -- json_valid takes trailing commas and nan/inf; Python's NaN/Infinity are JSON here
                 AND NOT regexp_matches(regexp_replace(regexp_replace(regexp_replace(payload,
                     '"(?:[^"\\]|\\.)*"', '0', 'g'), '-\s*NaN', 'x', 'g'),
                     'true|false|null|NaN|Infinity|\d[\d.eE+-]*', '0', 'g'),
                     '[A-Za-z]|,\s*[\]}]'), false)
                 THEN 'invalid JSON payload for ' || event_type
             WHEN event_type IN ('decision', 'eval_result') AND json_type(payload) <> 'OBJECT'
                 THEN 'payload of ' || event_type || ' is not a JSON object' END
    ) AS reject_reason
FROM (
    SELECT regexp_extract(filename, 'dt=([^/]+)', 1) AS dt,
        event_id, app_id, session_id, ts, seq, event_type, turn_index, agent_id, request_id,
        model, tool_name, ttft_ms, latency_ms, tool_latency_ms, input_tokens, output_tokens,
        cache_tokens, error_type, error_code, payload, artifacts,
        filename AS source_file, file_row_number AS source_row,
        split_part(split_part(filename, '/app_id=', 2), '/', 1) AS folder_app,
        split_part(split_part(filename, '/session_id=', 2), '/', 1) AS folder_session
    FROM read_parquet(getvariable('raw_files'), union_by_name = true, filename = true,
                      file_row_number = true, hive_partitioning = false)
);
-- @@end

-- 2. rejected_events: every invalid row, with all its reasons and the row as JSON (strict:
--    a NaN or infinite float as a text).
CREATE OR REPLACE MACRO json_float(x) AS CASE WHEN x IS NULL OR isfinite(x) THEN to_json(x)
    ELSE to_json(CASE WHEN isnan(x) THEN 'NaN' WHEN x > 0 THEN 'Infinity' ELSE '-Infinity' END) END;
COPY (
    SELECT dt,
        CASE WHEN folder_app IN ('', '__HIVE_DEFAULT_PARTITION__')
                  AND contains(source_file, '/app_id=') THEN NULL  -- a folder of a null app
             ELSE coalesce(nullif(coalesce(try(url_decode(folder_app)), folder_app), ''), app_id)
        END AS app_id,
        source_file, source_row::BIGINT AS source_row, event_id, reject_reason AS reason,
        to_json({'event_id': event_id, 'app_id': app_id, 'session_id': session_id, 'ts': ts,
                 'seq': seq, 'event_type': event_type, 'turn_index': turn_index,
                 'agent_id': agent_id, 'request_id': request_id, 'model': model,
                 'tool_name': tool_name, 'ttft_ms': json_float(ttft_ms),
                 'latency_ms': json_float(latency_ms),
                 'tool_latency_ms': json_float(tool_latency_ms), 'input_tokens': input_tokens,
                 'output_tokens': output_tokens, 'cache_tokens': cache_tokens,
                 'error_type': error_type, 'error_code': error_code, 'payload': payload,
                 'artifacts': artifacts})::VARCHAR AS "row"
    FROM checked WHERE reject_reason <> ''
) TO 'peer/rejected_events'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- A payload's count: a whole number from 0 to 10^12 (500.0 too), else null.
CREATE OR REPLACE MACRO payload_count(payload, path) AS
    CASE WHEN json_valid(payload) AND json_type(payload, path) IN ('UBIGINT', 'DOUBLE')
          AND (payload->>path)::DOUBLE BETWEEN 0 AND 1e12
          AND (payload->>path)::DOUBLE = floor((payload->>path)::DOUBLE)
         THEN (payload->>path)::DOUBLE::BIGINT END;

-- 3. Valid events, duplicate ids dropped, with rn = position in the session's event order.
--    A session is (dt, app_id, session_id): all its events are under one day. An llm_call's
--    cache writes are the payload's whole cache_write_tokens; one with more cache reads and
--    writes than input tokens counted them apart from its input: they are added to it.
CREATE OR REPLACE TEMP TABLE clean AS
SELECT * EXCLUDE (reject_reason, dup_rank, folder_app, folder_session) REPLACE (
        CASE WHEN cache_added_to_input
             THEN input_tokens + coalesce(cache_tokens, 0) + coalesce(cache_write_tokens, 0)
             ELSE input_tokens END AS input_tokens),
    row_number() OVER (PARTITION BY dt, app_id, session_id
                       ORDER BY ts, seq ASC NULLS LAST, event_id) AS rn
FROM (
    SELECT *, coalesce(event_type = 'llm_call' AND input_tokens
               < coalesce(cache_tokens, 0) + coalesce(cache_write_tokens, 0), false)
            AS cache_added_to_input,
        row_number() OVER (
            PARTITION BY dt, app_id, session_id, event_id
            ORDER BY ts, seq ASC NULLS LAST, event_id, source_file, source_row) AS dup_rank
    FROM (
        SELECT *, CASE WHEN event_type = 'llm_call'
                       THEN payload_count(payload, '$.cache_write_tokens') END AS cache_write_tokens
        FROM checked WHERE reject_reason = ''
    )
) WHERE dup_rank = 1;

DROP TABLE checked;

-- 4. llm_calls, priced: the price row of the call's model in force at its ts (the highest
--    priority whose start date and time of day hold, then the highest input-token tier below
--    the call's input tokens);
--    cost = (uncached input x input rate + cached x cache-read rate + cache writes (the
--    payload's cache_write_tokens) x cache-write rate, those of them for an hour (its
--    cache_write_1h_tokens) x the 1-hour rate if any + output x output rate) / 1e6 + a
--    per-request price + web searches (its web_searches) x a search's price. No cache-read
--    (cache-write) rate: those tokens are priced as input. No price row, or no token count nor
--    search at all: null, never 0.
CREATE OR REPLACE TEMP TABLE prices AS SELECT * FROM read_parquet(getvariable('prices_file'));

CREATE OR REPLACE TEMP TABLE llm_calls AS
WITH calls AS (
    SELECT dt, app_id, session_id, turn_index, event_id, ts, rn AS event_position, agent_id,
        request_id, model, ttft_ms, latency_ms, input_tokens, output_tokens, cache_tokens, cache_write_tokens,
        error_type, error_code, cache_added_to_input,
        payload_count(payload, '$.cache_write_1h_tokens') AS cache_write_1h_tokens,
        payload_count(payload, '$.web_searches') AS web_searches,
        ((epoch_us(ts) % 86400000000) + 86400000000) % 86400000000 AS us_of_day
    FROM clean WHERE event_type = 'llm_call'
),
rate AS (
    SELECT c.dt, c.app_id, c.session_id, c.event_id, p.input_per_mtok, p.cache_read_per_mtok,
        p.cache_write_per_mtok, p.output_per_mtok, p.request_usd, p.source,
        p.cache_write_1h_per_mtok, p.web_search_usd
    FROM calls c JOIN prices p
      ON p.model = c.model
     AND (p.valid_from IS NULL OR c.ts >= p.valid_from)
     AND (p.tod_start_us IS NULL
          OR (p.tod_start_us <= p.tod_end_us AND c.us_of_day >= p.tod_start_us AND c.us_of_day < p.tod_end_us)
          OR (p.tod_start_us > p.tod_end_us AND (c.us_of_day >= p.tod_start_us OR c.us_of_day < p.tod_end_us)))
     AND coalesce(c.input_tokens, 0) > p.above_input_tokens
    WHERE c.input_tokens IS NOT NULL OR c.output_tokens IS NOT NULL OR c.web_searches > 0
                                                                 -- usage not reported: unknown
    QUALIFY row_number() OVER (PARTITION BY c.dt, c.app_id, c.session_id, c.event_id
                               ORDER BY p.priority DESC, p.above_input_tokens DESC) = 1
)
SELECT c.* EXCLUDE (us_of_day, hour_long, short),
    CASE WHEN r.event_id IS NOT NULL THEN
        (greatest(coalesce(c.input_tokens, 0)
                  - CASE WHEN r.cache_read_per_mtok IS NULL THEN 0 ELSE coalesce(c.cache_tokens, 0) END
                  - CASE WHEN coalesce(r.cache_write_1h_per_mtok, r.cache_write_per_mtok) IS NULL
                         THEN 0 ELSE c.hour_long END
                  - CASE WHEN r.cache_write_per_mtok IS NULL THEN 0 ELSE c.short END,
                  0) * coalesce(r.input_per_mtok, 0.0)
         + coalesce(c.cache_tokens, 0) * coalesce(r.cache_read_per_mtok, 0.0)
         + c.short * coalesce(r.cache_write_per_mtok, 0.0)
         + c.hour_long * coalesce(r.cache_write_1h_per_mtok, r.cache_write_per_mtok, 0.0)
         + coalesce(c.output_tokens, 0) * coalesce(r.output_per_mtok, 0.0)) / 1000000.0
        + coalesce(r.request_usd, 0.0)
        + coalesce(c.web_searches, 0) * coalesce(r.web_search_usd, 0.0)
    END AS cost_usd,
    r.source AS price_source
FROM (SELECT *, coalesce(cache_write_1h_tokens, 0) AS hour_long,  -- more than the writes: all
             greatest(coalesce(cache_write_tokens, 0), coalesce(cache_write_1h_tokens, 0))
                 - coalesce(cache_write_1h_tokens, 0) AS short
      FROM calls) c
LEFT JOIN rate r USING (dt, app_id, session_id, event_id);

COPY llm_calls TO 'peer/llm_calls'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 5. tool_calls: arguments_hash = md5 of the payload's `arguments` JSON value (null when the
--    payload is not a JSON object or has no non-null `arguments`); an erroring call is terminal
--    when no llm_call or tool_call follows it in the session.
CREATE OR REPLACE TEMP TABLE tool_calls AS
SELECT dt, app_id, session_id, turn_index, event_id, ts, rn AS event_position, agent_id,
    tool_name, tool_latency_ms, error_type, error_code,
    CASE WHEN json_valid(payload) AND json_type(payload) = 'OBJECT'
              AND json_type(payload, '$.arguments') <> 'NULL'
         THEN md5(CAST(json_extract(payload, '$.arguments') AS VARCHAR)) END AS arguments_hash,
    error_type IS NOT NULL AND rn = last_call_rn AS is_terminal,
    rn
FROM (
    SELECT *, max(rn) FILTER (WHERE event_type IN ('llm_call', 'tool_call'))
        OVER (PARTITION BY dt, app_id, session_id) AS last_call_rn
    FROM clean
) WHERE event_type = 'tool_call';

COPY (SELECT * EXCLUDE (rn) FROM tool_calls) TO 'peer/tool_calls'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 6. Loops over the tool calls in event order, per session and per turn: the longest run of
--    equal (tool_name, arguments_hash) calls (nulls equal), and the longest A, B, A, B, ...
--    alternation of two different calls (0 below 4 calls). A session's row has turn_index -1
--    (not null, so that it joins).
CREATE OR REPLACE TEMP TABLE loops AS
WITH seq AS (
    SELECT 'session' AS scope, dt, app_id, session_id, -1 AS turn_index, rn,
        tool_name, arguments_hash
    FROM tool_calls
    UNION ALL
    SELECT 'turn', dt, app_id, session_id, turn_index, rn, tool_name, arguments_hash
    FROM tool_calls WHERE turn_index IS NOT NULL
),
compared AS (
    SELECT scope, dt, app_id, session_id, turn_index, rn,
        coalesce(tool_name IS NOT DISTINCT FROM lag(tool_name) OVER w
                 AND arguments_hash IS NOT DISTINCT FROM lag(arguments_hash) OVER w
                 AND lag(rn) OVER w IS NOT NULL, false) AS same_as_last,
        coalesce(tool_name IS NOT DISTINCT FROM lag(tool_name, 2) OVER w
                 AND arguments_hash IS NOT DISTINCT FROM lag(arguments_hash, 2) OVER w
                 AND lag(rn, 2) OVER w IS NOT NULL, false) AS same_as_before_last
    FROM seq
    WINDOW w AS (PARTITION BY scope, dt, app_id, session_id, turn_index ORDER BY rn)
),
runs AS (
    SELECT *, same_as_before_last AND NOT same_as_last AS alternates,
        sum(CASE WHEN same_as_last THEN 0 ELSE 1 END) OVER w AS identical_run,
        sum(CASE WHEN same_as_before_last AND NOT same_as_last THEN 0 ELSE 1 END) OVER w
            AS alternating_run
    FROM compared
    WINDOW w AS (PARTITION BY scope, dt, app_id, session_id, turn_index ORDER BY rn
                 ROWS UNBOUNDED PRECEDING)
),
identical AS (
    SELECT scope, dt, app_id, session_id, turn_index, max(n) AS max_identical_tool_run
    FROM (SELECT scope, dt, app_id, session_id, turn_index, count(*) AS n
          FROM runs GROUP BY scope, dt, app_id, session_id, turn_index, identical_run)
    GROUP BY ALL
),
alternating AS (
    SELECT scope, dt, app_id, session_id, turn_index, max(n) AS longest
    FROM (SELECT scope, dt, app_id, session_id, turn_index,
              count(*) FILTER (WHERE alternates) + 2 AS n
          FROM runs GROUP BY scope, dt, app_id, session_id, turn_index, alternating_run)
    GROUP BY ALL
)
SELECT scope, dt, app_id, session_id, turn_index, i.max_identical_tool_run,
    CASE WHEN a.longest >= 4 THEN a.longest ELSE 0 END AS max_ping_pong
FROM identical i JOIN alternating a USING (scope, dt, app_id, session_id, turn_index);

-- 7. sessions
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
    SELECT dt, app_id, session_id,
        CASE WHEN json_valid(payload) THEN json_extract_string(payload, '$.status') END AS status
    FROM clean WHERE event_type = 'session_end'
    QUALIFY row_number() OVER (PARTITION BY dt, app_id, session_id ORDER BY rn DESC) = 1
),
last_eval AS (
    SELECT dt, app_id, session_id, payload, model,
        TRY_CAST(CASE WHEN json_valid(payload) THEN json_extract_string(payload, '$.score') END
                 AS DOUBLE) AS score,
        CASE WHEN json_valid(payload) THEN json_extract_string(payload, '$.passed') END AS passed
    FROM clean WHERE event_type = 'eval_result'
    QUALIFY row_number() OVER (PARTITION BY dt, app_id, session_id ORDER BY rn DESC) = 1
),
cost AS (
    SELECT dt, app_id, session_id, sum(cost_usd) AS cost_usd,
        count(*) FILTER (WHERE cost_usd IS NULL) AS n_unpriced
    FROM llm_calls GROUP BY ALL
)
SELECT a.dt, a.app_id, a.session_id, a.agent_ids, a.models, a.started_at, a.ended_at,
    a.duration_ms::DOUBLE AS duration_ms, a.n_events::BIGINT AS n_events,
    a.n_turns::BIGINT AS n_turns, a.n_llm_calls::BIGINT AS n_llm_calls,
    a.n_tool_calls::BIGINT AS n_tool_calls, a.n_errors::BIGINT AS n_errors,
    a.input_tokens::BIGINT AS input_tokens, a.output_tokens::BIGINT AS output_tokens,
    a.cache_tokens::BIGINT AS cache_tokens, a.ttft_ms_p50::DOUBLE AS ttft_ms_p50,
    a.latency_ms_p50::DOUBLE AS latency_ms_p50, a.latency_ms_p95::DOUBLE AS latency_ms_p95,
    a.tool_latency_ms_total::DOUBLE AS tool_latency_ms_total,
    coalesce(CASE WHEN trim(e.status) <> '' THEN e.status END, 'unknown') AS status,
    CASE WHEN json_valid(v.payload) THEN json_extract_string(v.payload, '$.benchmark') END
        AS eval_benchmark,
    CASE WHEN json_valid(v.payload) THEN json_extract_string(v.payload, '$.task_id') END
        AS eval_task_id,
    CASE WHEN v.session_id IS NOT NULL THEN coalesce(
        CASE WHEN json_valid(v.payload) THEN json_extract_string(v.payload, '$.run_id') END,
        'default') END AS eval_run_id,
    CASE WHEN v.session_id IS NOT NULL THEN coalesce(v.model, 'unknown') END AS eval_model,
    coalesce(TRY_CAST(trim(v.passed, E' \t\n\r') AS BOOLEAN), CASE TRY_CAST(v.passed AS DOUBLE)
        WHEN 1 THEN true WHEN 0 THEN false END) AS eval_passed,
    CASE WHEN isfinite(score) AND abs(score) <= 1e12 THEN score END AS eval_score,
    CASE WHEN a.n_llm_calls = 0 THEN 0.0 ELSE c.cost_usd END::DOUBLE AS cost_usd,
    coalesce(c.n_unpriced, 0)::BIGINT AS n_llm_calls_unpriced,
    coalesce(l.max_identical_tool_run, 0)::BIGINT AS max_identical_tool_run,
    coalesce(l.max_ping_pong, 0)::BIGINT AS max_ping_pong,
    coalesce(l.max_identical_tool_run, 0) >= 3 OR coalesce(l.max_ping_pong, 0) >= 4
        AS loop_detected
FROM agg a
LEFT JOIN last_end e USING (dt, app_id, session_id)
LEFT JOIN last_eval v USING (dt, app_id, session_id)
LEFT JOIN cost c USING (dt, app_id, session_id)
LEFT JOIN (SELECT * FROM loops WHERE scope = 'session') l USING (dt, app_id, session_id);

COPY sessions TO 'peer/sessions'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 8. turns
CREATE OR REPLACE TEMP TABLE turns AS
WITH agg AS (
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
    GROUP BY dt, app_id, session_id, turn_index
),
cost AS (
    SELECT dt, app_id, session_id, turn_index, sum(cost_usd) AS cost_usd,
        count(*) FILTER (WHERE cost_usd IS NULL) AS n_unpriced
    FROM llm_calls WHERE turn_index IS NOT NULL GROUP BY ALL
)
SELECT a.*,
    CASE WHEN a.n_llm_calls = 0 THEN 0.0 ELSE c.cost_usd END::DOUBLE AS cost_usd,
    coalesce(c.n_unpriced, 0)::BIGINT AS n_llm_calls_unpriced
FROM agg a LEFT JOIN cost c USING (dt, app_id, session_id, turn_index);

COPY turns TO 'peer/turns'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 9. errors
COPY (
    SELECT dt, app_id, error_type, session_id, turn_index::INTEGER AS turn_index, event_id, ts,
        rn AS event_position, agent_id, error_code, event_type, tool_name, model, message, prev_event_type,
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
) TO 'peer/errors'
  (FORMAT parquet, PARTITION_BY (dt, app_id, error_type), WRITE_PARTITION_COLUMNS true,
   OVERWRITE true);

-- 10. turn_features (from turns, plus the order of tool calls inside a turn)
COPY (
    WITH repeats AS (
        SELECT dt, app_id, session_id, turn_index,
            count(*) FILTER (WHERE tool_name = previous_tool) AS n
        FROM (
            SELECT dt, app_id, session_id, turn_index, tool_name,
                lag(tool_name) OVER (PARTITION BY dt, app_id, session_id, turn_index ORDER BY rn)
                    AS previous_tool
            FROM tool_calls WHERE turn_index IS NOT NULL
        ) GROUP BY ALL
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
        t.n_errors > 0 AS had_error,
        coalesce(l.max_identical_tool_run, 0)::BIGINT AS max_identical_tool_run,
        coalesce(l.max_ping_pong, 0)::BIGINT AS max_ping_pong,
        coalesce(l.max_identical_tool_run, 0) >= 3 OR coalesce(l.max_ping_pong, 0) >= 4
            AS loop_detected
    FROM turns t
    LEFT JOIN repeats r USING (dt, app_id, session_id, turn_index)
    LEFT JOIN (SELECT * FROM loops WHERE scope = 'turn') l
        USING (dt, app_id, session_id, turn_index)
    WINDOW turn_order AS (PARTITION BY t.dt, t.app_id, t.session_id ORDER BY t.turn_index)
) TO 'peer/turn_features'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 11. decision_steps
COPY (
    WITH decisions AS (
        SELECT dt, app_id, session_id, ts,
            CASE WHEN json_valid(payload) THEN json_extract_string(payload, '$.step') END AS step,
            CASE WHEN json_valid(payload) THEN json_extract_string(payload, '$.item_id') END
                AS item_id,
            lower(trim(CASE WHEN json_valid(payload)
                THEN json_extract_string(payload, '$.outcome') END,
                ' ' || chr(9) || chr(10) || chr(13))) AS outcome
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
) TO 'peer/decision_steps'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 12. eval_runs (from sessions: an attempt is a session with an eval_benchmark)
COPY (
    WITH attempts AS (
        SELECT dt, eval_benchmark AS benchmark, eval_model AS model, eval_run_id AS run_id,
            eval_task_id AS task_id, eval_passed, eval_score, input_tokens, output_tokens,
            n_errors, duration_ms, cost_usd, n_llm_calls_unpriced
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
            count(*) FILTER (WHERE n_errors > 0) / nullif(count(*), 0) AS error_session_rate,
            sum(cost_usd) AS cost_usd, sum(n_llm_calls_unpriced) AS n_llm_calls_unpriced
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
        r.error_session_rate::DOUBLE AS error_session_rate,
        r.cost_usd::DOUBLE AS cost_usd,
        (r.cost_usd / nullif(r.n_tasks_passed, 0))::DOUBLE AS cost_per_passed_task,
        r.n_llm_calls_unpriced::BIGINT AS n_llm_calls_unpriced
    FROM per_run r LEFT JOIN pass_at_1 p USING (dt, benchmark, model, run_id)
) TO 'peer/eval_runs'
  (FORMAT parquet, PARTITION_BY (dt, benchmark, model), WRITE_PARTITION_COLUMNS true,
   OVERWRITE true);

-- 13. tool_stats: per app and tool of the day (null or blank tool_name -> 'unknown')
COPY (
    WITH calls AS (
        SELECT dt, app_id,
            coalesce(CASE WHEN trim(tool_name) <> '' THEN tool_name END, 'unknown') AS tool_name,
            session_id, tool_latency_ms, error_type, is_terminal
        FROM tool_calls
    ),
    top_error AS (
        SELECT dt, app_id, tool_name, error_type
        FROM (SELECT dt, app_id, tool_name, error_type, count(*) AS n
              FROM calls WHERE error_type IS NOT NULL GROUP BY ALL)
        QUALIFY row_number() OVER (PARTITION BY dt, app_id, tool_name
                                   ORDER BY n DESC, error_type) = 1
    )
    SELECT c.dt, c.app_id, c.tool_name,
        count(*)::BIGINT AS n_calls,
        count(c.error_type)::BIGINT AS n_errors,
        (count(c.error_type) / count(*))::DOUBLE AS failure_rate,
        quantile_cont(c.tool_latency_ms, 0.5)::DOUBLE AS latency_ms_p50,
        quantile_cont(c.tool_latency_ms, 0.95)::DOUBLE AS latency_ms_p95,
        count(DISTINCT c.session_id)::BIGINT AS n_sessions,
        (count(*) FILTER (WHERE c.error_type IS NOT NULL AND c.is_terminal)
            / nullif(count(c.error_type), 0))::DOUBLE AS terminal_error_share,
        any_value(e.error_type) AS top_error_type
    FROM calls c LEFT JOIN top_error e USING (dt, app_id, tool_name)
    GROUP BY c.dt, c.app_id, c.tool_name
) TO 'peer/tool_stats'
  (FORMAT parquet, PARTITION_BY (dt, app_id), WRITE_PARTITION_COLUMNS true, OVERWRITE true);

-- 14. model_comparisons: per benchmark and pair of models (a < b) on the day's shared tasks,
--     the paired difference of per-task pass shares, its task-clustered standard error and a
--     95% t interval; attempts' costs count only when all their calls are priced.
COPY (
    WITH per_task AS (
        SELECT dt, eval_benchmark AS benchmark, coalesce(eval_model, 'unknown') AS model,
            eval_task_id AS task_id,
            count(*) FILTER (WHERE eval_passed) / count(*) AS p,
            avg(cost_usd) FILTER (WHERE cost_usd IS NOT NULL AND n_llm_calls_unpriced = 0)
                AS cost
        FROM sessions WHERE eval_benchmark IS NOT NULL AND eval_task_id IS NOT NULL
        GROUP BY ALL
    ),
    paired AS (
        SELECT a.dt, a.benchmark, a.model AS model_a, b.model AS model_b,
            a.p AS p_a, b.p AS p_b, a.p - b.p AS d, a.cost - b.cost AS cost_diff
        FROM per_task a JOIN per_task b
          ON a.dt = b.dt AND a.benchmark = b.benchmark AND a.task_id = b.task_id
         AND a.model < b.model
    ),
    pairs AS (
        SELECT dt, benchmark, model_a, model_b, count(*) AS n_tasks,
            avg(p_a) AS pass_at_1_a, avg(p_b) AS pass_at_1_b, avg(d) AS diff,
            stddev_samp(d) / sqrt(count(*)) AS diff_se,
            CASE WHEN count(cost_diff) = count(*) THEN avg(cost_diff) END AS mean_cost_diff
        FROM paired GROUP BY ALL
    )
    SELECT p.dt, p.benchmark, p.model_a, p.model_b, p.n_tasks::BIGINT AS n_tasks,
        p.pass_at_1_a::DOUBLE AS pass_at_1_a, p.pass_at_1_b::DOUBLE AS pass_at_1_b,
        p.diff::DOUBLE AS diff, p.diff_se::DOUBLE AS diff_se,
        (p.diff - t.t975 * p.diff_se)::DOUBLE AS diff_ci_low,
        (p.diff + t.t975 * p.diff_se)::DOUBLE AS diff_ci_high,
        p.mean_cost_diff::DOUBLE AS mean_cost_diff, 1::BIGINT AS window_days
    FROM pairs p LEFT JOIN read_parquet(getvariable('t975_file')) t ON t.df = p.n_tasks - 1
) TO 'peer/model_comparisons'
  (FORMAT parquet, PARTITION_BY (dt, benchmark), WRITE_PARTITION_COLUMNS true, OVERWRITE true);
