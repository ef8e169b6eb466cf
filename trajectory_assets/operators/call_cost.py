"""The cost of an LLM call: the SQL that joins calls with a price table (schema `PRICES` of
`operators/pricing.py`), and the same formula in Python for docs and tests.

Cost of one call, as genai-prices computes it, in USD (a null token count taken as 0):

    read     = cache_tokens        if the row has a cache-read rate, else 0
    long     = cache_write_1h_tokens   (of the writes, those kept for an hour)
    writes   = max(cache_write_tokens, long)   (an hour's beyond the writes are writes too)
    long_w   = long                     if the row has a 1-hour or a cache-write rate, else 0
    short_w  = writes - long            if the row has a cache-write rate, else 0
    uncached = max(input_tokens - read - long_w - short_w, 0)
    cost     = (uncached * input + read * cache_read + short_w * cache_write
                + long_w * (cache_write_1h, or cache_write) + output_tokens * output) / 1e6
               + request  (a price per call, for the few models that charge one)
               + web_searches * web_search  (a server-side search's price)

`input_tokens` counts cached tokens too (Tier A), cache reads and writes both, which is
genai-prices' convention as well: its `input_tokens` includes `cache_read_tokens` and
`cache_write_tokens`. A model with no cache-read (or cache-write) rate has those tokens priced
as ordinary input. A model without a price (not in the database, no override, or a null
`model`) gets a null cost, never 0; so does a call with neither `input_tokens` nor
`output_tokens` nor a web search (the source did not report usage): its cost is unknown, not
zero, and it is counted with the unpriced calls, which marks its session's cost as a lower
bound.
"""

_US_PER_DAY = 86_400_000_000


def priced_calls_sql(calls: str, prices: str = "prices") -> str:
    """SQL: every row of the relation `calls` with `cost_usd` added.

    `calls` needs `app_id, session_id, event_id` (unique), `model`, `ts`, `input_tokens`,
    `cache_tokens`, `cache_write_tokens`, `cache_write_1h_tokens`, `web_searches`,
    `output_tokens`; `prices` is a relation of schema PRICES. `price_source` names the price
    used (null with the cost)."""
    tokens_in = "coalesce(c.input_tokens, 0)"
    read = "(CASE WHEN p.cache_read_per_mtok IS NULL THEN 0 ELSE coalesce(c.cache_tokens, 0) END)"
    long = "coalesce(c.cache_write_1h_tokens, 0)"
    writes = f"greatest(coalesce(c.cache_write_tokens, 0), {long})"  # an hour's are writes too
    long_rate = "coalesce(p.cache_write_1h_per_mtok, p.cache_write_per_mtok)"
    long_w = f"(CASE WHEN {long_rate} IS NULL THEN 0 ELSE {long} END)"
    short_w = f"(CASE WHEN p.cache_write_per_mtok IS NULL THEN 0 ELSE {writes} - {long} END)"
    time_of_day = f"(((epoch_us(c.ts) % {_US_PER_DAY}) + {_US_PER_DAY}) % {_US_PER_DAY})"
    return f"""
    WITH matches AS (
        SELECT c.app_id, c.session_id, c.event_id, p.source AS price_source,
            (greatest({tokens_in} - {read} - {long_w} - {short_w}, 0)
                * coalesce(p.input_per_mtok, 0.0)
             + {read} * coalesce(p.cache_read_per_mtok, 0.0)
             + {short_w} * coalesce(p.cache_write_per_mtok, 0.0)
             + {long_w} * coalesce({long_rate}, 0.0)
             + coalesce(c.output_tokens, 0) * coalesce(p.output_per_mtok, 0.0)) / 1000000.0
            + coalesce(p.request_usd, 0.0)
            + coalesce(c.web_searches, 0) * coalesce(p.web_search_usd, 0.0) AS cost_usd,
            row_number() OVER (
                PARTITION BY c.app_id, c.session_id, c.event_id
                ORDER BY p.priority DESC, p.above_input_tokens DESC
            ) AS pick
        FROM {calls} c JOIN {prices} p
          ON p.model = c.model
         AND (p.valid_from IS NULL OR c.ts >= p.valid_from)
         AND (p.tod_start_us IS NULL OR CASE
                WHEN p.tod_start_us <= p.tod_end_us
                THEN {time_of_day} >= p.tod_start_us AND {time_of_day} < p.tod_end_us
                ELSE {time_of_day} >= p.tod_start_us OR {time_of_day} < p.tod_end_us END)
         AND {tokens_in} > p.above_input_tokens
        WHERE c.input_tokens IS NOT NULL OR c.output_tokens IS NOT NULL OR c.web_searches > 0
    )
    SELECT c.*, m.cost_usd, m.price_source
    FROM {calls} c
    LEFT JOIN (SELECT * FROM matches WHERE pick = 1) m
      ON m.app_id = c.app_id AND m.session_id = c.session_id AND m.event_id = c.event_id
    """
