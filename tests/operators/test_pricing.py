"""Costs of llm_calls: the price table against genai-prices, and the cost columns of llm_calls,
turns and sessions from hand-built events (overrides: test_price_overrides.py)."""

import datetime as dt
import importlib.metadata
import itertools
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from tests.operators.builders import (
    T0,
    event,
    llm,
    one,
    price_with_sql,
    rows,
    sessionize,
    tool,
)
from trajectory_assets.operators import Sessionize
from trajectory_assets.operators.pricing import (
    GENAI_PRICES_VERSION,
    PRICES,
    PRICING_VERSION,
    _find,
    price_table,
)

genai_prices = pytest.importorskip("genai_prices")


def rates(model: str, ts: dt.datetime = T0) -> tuple[float, float | None, float]:
    """(input, cache read, output) USD per million tokens, straight from genai-prices."""
    found = _find(model)
    assert found is not None
    price = found[1].get_prices(ts)
    cache = price.cache_read_mtok
    return (flat(price.input_mtok), None if cache is None else flat(cache), flat(price.output_mtok))


def flat(rate: object) -> float:
    """A rate that does not depend on the prompt's size (the models tested here have no tiers)."""
    assert isinstance(rate, Decimal), rate
    return float(rate)


def test_pinned_version_is_the_installed_one():
    assert importlib.metadata.version("genai-prices") == GENAI_PRICES_VERSION
    assert GENAI_PRICES_VERSION in PRICING_VERSION
    assert PRICING_VERSION in Sessionize.version


# --- llm_calls.cost_usd from hand-built events -----------------------------------------------


def test_cached_tokens_are_priced_at_the_cached_rate():
    input_rate, cache_rate, output_rate = rates("gpt-4o")
    assert (input_rate, cache_rate, output_rate) == (2.5, 1.25, 10.0)  # genai-prices 0.2.3
    call = llm(0, turn_index=0, model="gpt-4o", input_tokens=10_000, cache_tokens=4_000)
    call["output_tokens"] = 500
    out = sessionize([call])
    # by hand: 6,000 uncached input tokens, 4,000 cached, 500 output
    expected = (6_000 * 2.5 + 4_000 * 1.25 + 500 * 10.0) / 1_000_000
    assert expected == pytest.approx(0.025)
    assert one(out["llm_calls"])["cost_usd"] == pytest.approx(expected, rel=1e-12)
    assert one(out["turns"])["cost_usd"] == pytest.approx(expected, rel=1e-12)
    s = one(out["sessions"])
    assert s["cost_usd"] == pytest.approx(expected, rel=1e-12)
    assert s["n_llm_calls_unpriced"] == 0
    # and genai-prices itself agrees
    usage = genai_prices.Usage(input_tokens=10_000, cache_read_tokens=4_000, output_tokens=500)
    reference = genai_prices.calc_price(usage, "gpt-4o", genai_request_timestamp=T0)
    assert float(reference.total_price) == pytest.approx(expected, rel=1e-12)


def test_a_model_without_a_cached_rate_prices_cached_tokens_as_input():
    input_rate, cache_rate, output_rate = rates("gpt-4")
    assert (input_rate, cache_rate, output_rate) == (30.0, None, 60.0)
    call = llm(0, model="gpt-4", input_tokens=1_000, cache_tokens=600, output_tokens=10)
    expected = (1_000 * 30.0 + 10 * 60.0) / 1_000_000
    assert one(sessionize([call])["llm_calls"])["cost_usd"] == pytest.approx(expected, rel=1e-12)


def test_unknown_model_has_a_null_cost_and_is_counted_unpriced():
    out = sessionize(
        [
            llm(0, turn_index=0, model="my-private-model", input_tokens=100, output_tokens=5),
            llm(1, turn_index=1, model=None, input_tokens=100),
            llm(2, turn_index=1, model="gpt-4o", input_tokens=1_000_000, output_tokens=0),
        ]
    )
    calls = {r["model"]: r["cost_usd"] for r in rows(out["llm_calls"])}
    assert calls == {"my-private-model": None, None: None, "gpt-4o": pytest.approx(2.5)}
    s = one(out["sessions"])
    assert s["cost_usd"] == pytest.approx(2.5)  # the priced call; the others are counted
    assert s["n_llm_calls_unpriced"] == 2
    turns = {t["turn_index"]: t for t in rows(out["turns"])}
    assert (turns[0]["cost_usd"], turns[0]["n_llm_calls_unpriced"]) == (None, 1)
    assert turns[1]["cost_usd"] == pytest.approx(2.5)
    assert turns[1]["n_llm_calls_unpriced"] == 1


def test_only_unknown_models_give_a_null_session_cost_never_zero():
    s = one(sessionize([llm(0, model="nobody-knows", input_tokens=10)])["sessions"])
    assert (s["cost_usd"], s["n_llm_calls_unpriced"]) == (None, 1)


def test_zero_token_call_of_a_priced_model_costs_zero():
    out = sessionize(
        [
            llm(0, turn_index=0, model="gpt-4o", input_tokens=0, output_tokens=0, cache_tokens=0),
            llm(1, turn_index=0, model="claude-sonnet-4", input_tokens=0),  # the others: 0
        ]
    )
    assert [r["cost_usd"] for r in rows(out["llm_calls"])] == [0.0, 0.0]
    s = one(out["sessions"])
    assert (s["cost_usd"], s["n_llm_calls_unpriced"]) == (0.0, 0)
    assert one(out["turns"])["cost_usd"] == 0.0


def test_session_and_turn_without_llm_calls_cost_zero():
    out = sessionize([event("session_start", 0), tool(1, turn_index=0, tool_name="ls")])
    s = one(out["sessions"])
    assert (s["cost_usd"], s["n_llm_calls_unpriced"]) == (0.0, 0)
    t = one(out["turns"])
    assert (t["cost_usd"], t["n_llm_calls_unpriced"]) == (0.0, 0)
    assert out["llm_calls"].num_rows == 0


def test_session_cost_is_the_sum_of_its_calls_and_calls_outside_turns_count():
    events = [
        llm(0, turn_index=None, model="gpt-4o", input_tokens=400_000),  # 1.0
        llm(1, turn_index=0, model="claude-sonnet-4", output_tokens=100_000),  # 1.5
        llm(2, turn_index=0, model="gpt-4o", input_tokens=100_000, cache_tokens=100_000),  # 0.125
    ]
    out = sessionize(events)
    assert one(out["sessions"])["cost_usd"] == pytest.approx(2.625)
    assert one(out["turns"])["cost_usd"] == pytest.approx(1.625)


def test_cache_tokens_above_input_are_added_to_it_and_priced_as_cached():
    # Tier A says cache_tokens <= input_tokens; a producer that breaks it counted its cache apart
    # (Anthropic's usage): its 100 input tokens are uncached, its 1,000 cached ones added.
    call = llm(0, model="gpt-4o", input_tokens=100, cache_tokens=1_000)
    row = one(sessionize([call])["llm_calls"])
    assert row["input_tokens"] == 1_100 and row["cache_added_to_input"]
    assert row["cost_usd"] == pytest.approx((100 * 2.5 + 1_000 * 1.25) / 1e6)


def test_provider_prefixed_model_names_are_priced_like_the_bare_name():
    out = sessionize(
        [
            llm(0, model="openai/gpt-4o", input_tokens=1_000_000),
            llm(1, model="anthropic:claude-sonnet-4", input_tokens=1_000_000),
            llm(2, model="nowhere/gpt-4o", input_tokens=1_000_000),
        ]
    )
    got = {r["model"]: r["cost_usd"] for r in rows(out["llm_calls"])}
    assert got == {
        "openai/gpt-4o": pytest.approx(2.5),
        "anthropic:claude-sonnet-4": pytest.approx(3.0),
        "nowhere/gpt-4o": None,
    }


@pytest.mark.parametrize(
    "model",
    [
        "us.anthropic.claude-sonnet-4-20250514-v1:0",  # a cross-region inference profile
        "anthropic.claude-3-5-sonnet-20240620-v1:0",
        "global.anthropic.claude-sonnet-4-5-20250929-v1:0",
        "amazon.nova-pro-v1:0",
        "meta.llama3-1-70b-instruct-v1:0",
        "US.anthropic.claude-sonnet-4-20250514-v1:0",  # as genai-prices: case aside
    ],
)
def test_bedrock_model_ids_are_priced_as_bedrock_prices_them(model: str) -> None:
    """What Bedrock's API names a model, and so what a producer logging a Converse call's
    usage gives: no provider's name match takes it, and every such call was unpriced."""
    call = llm(0, model=model, input_tokens=12_000, output_tokens=800, cache_tokens=2_000)
    row = one(sessionize([call])["llm_calls"])
    usage = genai_prices.Usage(input_tokens=12_000, output_tokens=800, cache_read_tokens=2_000)
    price = genai_prices.calc_price(
        usage, model, provider_id="aws", genai_request_timestamp=row["ts"]
    )
    assert row["price_source"].startswith(f"genai-prices {GENAI_PRICES_VERSION}: aws/")
    assert row["cost_usd"] == pytest.approx(float(price.total_price), abs=1e-12)


@pytest.mark.parametrize(
    "model", ["ft:gpt-4o-mini-2024-07-18:acme::abc123", "ft:gpt-4o-2024-08-06:acme:custom:abc1"]
)
def test_openai_fine_tunes_are_priced_as_openai_prices_them(model: str) -> None:
    """No name says a fine-tune's provider: genai-prices prices it with OpenAI's fine-tune
    rates once told, and every such call was unpriced."""
    row = one(
        sessionize([llm(0, model=model, input_tokens=10_000, output_tokens=500)])["llm_calls"]
    )
    usage = genai_prices.Usage(input_tokens=10_000, output_tokens=500)
    price = genai_prices.calc_price(
        usage, model, provider_id="openai", genai_request_timestamp=row["ts"]
    )
    assert row["price_source"].startswith(f"genai-prices {GENAI_PRICES_VERSION}: openai/")
    assert row["cost_usd"] == pytest.approx(float(price.total_price), abs=1e-12)
    assert row["cost_usd"] > 0


@pytest.mark.parametrize(
    "model", ["my.claude-3-5-sonnet-20240620-finetune", "vertex.claude-3-5-sonnet-20240620"]
)
def test_a_dotted_name_of_no_bedrock_vendor_is_not_priced_as_bedrock(model: str) -> None:
    """AWS's Claude entries match by a bare `contains`: any `word.` prefix tried with AWS gave a
    fine-tune or another cloud's deployment Bedrock's price."""
    row = one(sessionize([llm(0, model=model, input_tokens=1_000)])["llm_calls"])
    assert row["cost_usd"] is None and row["price_source"] is None


def test_duplicates_and_invalid_rows_are_not_priced_twice():
    first = llm(0, model="gpt-4o", input_tokens=1_000_000)
    bad = llm(1, model="gpt-4o", input_tokens=-5)
    out = sessionize([first, dict(first), bad])
    assert out["llm_calls"].num_rows == 1
    assert one(out["sessions"])["cost_usd"] == pytest.approx(2.5)


# --- the price table against genai-prices' own calculation -----------------------------------


UTC = dt.UTC
TIMES = [
    dt.datetime(2024, 6, 1, 12, 0, tzinfo=UTC),
    dt.datetime(2026, 3, 12, 23, 59, 59, tzinfo=UTC),
    dt.datetime(2026, 3, 13, 0, 0, tzinfo=UTC),
    dt.datetime(2026, 11, 20, 0, 29, 59, 999999, tzinfo=UTC),
    dt.datetime(2026, 11, 20, 0, 30, tzinfo=UTC),  # DeepSeek off-peak boundaries
    dt.datetime(2026, 11, 20, 16, 30, tzinfo=UTC),
    dt.datetime(2026, 11, 20, 3, 0, tzinfo=UTC),
    dt.datetime(2027, 1, 1, 8, 0, tzinfo=UTC),
]
TOKENS = [  # input (cached included), cache reads, cache writes (of them for an hour), output
    (0, 0, 0, 0, 0),
    (1_000, 0, 0, 0, 50),
    (10_000, 4_000, 0, 0, 500),
    (200_000, 1_000, 0, 0, 10),
    (250_000, 100_000, 0, 0, 7),
    (20_003, 0, 20_000, 0, 500),
    (250_000, 100_000, 50_000, 0, 7),
    (20_003, 0, 20_000, 8_000, 500),
    (250_000, 100_000, 50_000, 50_000, 7),
]
SEARCHES = (0, 3)  # server-side web searches
MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4",
    "o3",
    "claude-sonnet-4",
    "claude-sonnet-4-5",  # tiered above 200k input tokens
    "claude-sonnet-4-6",  # tiered until 2026-03-13, flat after
    "claude-3-5-sonnet-20241022",
    "gemini-2.5-pro",  # tiered
    "deepseek-chat",  # time-of-day prices
    "deepseek-v4-flash",  # two time-of-day windows
    "perplexity/sonar",  # a price per request
    "mistral-large-latest",
    "command-r",
]


def test_price_table_matches_genai_prices_calc_price_for_every_case():
    prices = price_table(MODELS)
    assert prices.schema == PRICES
    calls, expected = [], []
    for model, ts, (i, c, w, h, o), s in itertools.product(MODELS, TIMES, TOKENS, SEARCHES):
        found = _find(model)
        assert found is not None, model
        provider, info = found
        usage = genai_prices.Usage(
            input_tokens=i,
            cache_read_tokens=c,
            cache_write_tokens=w,
            cache_write_1h_tokens=h,
            output_tokens=o,
            web_searches=s,
        )
        reference = info.calc_price(usage, provider, genai_request_timestamp=ts)
        tokens = {"input_tokens": i, "cache_tokens": c, "cache_write_tokens": w, "output_tokens": o}
        calls.append({"model": model, "ts": ts, **tokens, "cache_write_1h_tokens": h})
        calls[-1]["web_searches"] = s
        expected.append(float(reference.total_price))
    got = price_with_sql(calls, prices)
    for call, g, e in zip(calls, got, expected, strict=True):
        assert g == pytest.approx(e, rel=1e-12, abs=1e-15), call


@pytest.mark.parametrize("model", ["gpt-4o", "claude-sonnet-4", "gemini-2.5-pro", "o3"])
def test_bare_names_match_calc_price_with_the_provider_inferred(model):
    usage = genai_prices.Usage(input_tokens=300_000, cache_read_tokens=20_000, output_tokens=900)
    ts = dt.datetime(2026, 11, 20, 12, tzinfo=UTC)
    reference = float(genai_prices.calc_price(usage, model, genai_request_timestamp=ts).total_price)
    call = {"model": model, "ts": ts, "input_tokens": 300_000, "cache_tokens": 20_000}
    got = price_with_sql([{**call, "output_tokens": 900}], price_table([model]))
    assert got == [pytest.approx(reference, rel=1e-12)]


def test_tiers_and_time_of_day_pick_the_right_rates():
    # gemini-2.5-pro: every token at the higher rate once the input exceeds 200k tokens
    base = price_with_sql(
        [{"model": "gemini-2.5-pro", "ts": T0, "input_tokens": 200_000}], price_table(MODELS)
    )
    above = price_with_sql(
        [{"model": "gemini-2.5-pro", "ts": T0, "input_tokens": 200_001}], price_table(MODELS)
    )
    assert base == [pytest.approx(200_000 * 1.25 / 1e6)]
    assert above == [pytest.approx(200_001 * 2.5 / 1e6)]
    # deepseek-chat: standard 00:30-16:30 UTC, half price off-peak
    peak = dt.datetime(2026, 11, 20, 12, tzinfo=UTC)
    night = dt.datetime(2026, 11, 20, 20, tzinfo=UTC)
    calls = [
        {"model": "deepseek-chat", "ts": ts, "input_tokens": 1_000_000} for ts in (peak, night)
    ]
    assert price_with_sql(calls, price_table(["deepseek-chat"])) == [
        pytest.approx(0.27),
        pytest.approx(0.135),
    ]


def test_price_table_is_deterministic_and_skips_unknown_models():
    a = price_table(["gpt-4o", None, "zzz-unknown", "claude-sonnet-4", "gpt-4o"])
    b = price_table(["claude-sonnet-4", "gpt-4o"])
    assert a.equals(b)
    assert sorted(set(a["model"].to_pylist())) == ["claude-sonnet-4", "gpt-4o"]
    assert set(a["source"].to_pylist()) == {
        f"genai-prices {GENAI_PRICES_VERSION}: openai/gpt-4o",
        f"genai-prices {GENAI_PRICES_VERSION}: anthropic/claude-sonnet-4-0",
    }
    assert price_table([]).num_rows == 0


def cost_of_call(
    prices: Mapping[str, Any],
    input_tokens: int,
    cache_tokens: int,
    output_tokens: int,
    cache_write_tokens: int = 0,
) -> float:
    """The cost formula of `priced_calls_sql` for one price row, written out again in Python."""
    read_rate = prices.get("cache_read_per_mtok")
    write_rate = prices.get("cache_write_per_mtok")
    read = cache_tokens if read_rate is not None else 0
    written = cache_write_tokens if write_rate is not None else 0
    uncached = max(input_tokens - read - written, 0)
    total = uncached * (prices.get("input_per_mtok") or 0.0)
    total += read * (read_rate or 0.0) + written * (write_rate or 0.0)
    total += output_tokens * (prices.get("output_per_mtok") or 0.0)
    return total / 1_000_000 + (prices.get("request_usd") or 0.0)


def test_cost_of_call_is_the_documented_formula():
    row = {"input_per_mtok": 2.5, "cache_read_per_mtok": 1.25, "output_per_mtok": 10.0}
    assert cost_of_call(row, 10_000, 4_000, 500) == pytest.approx(0.025)
    assert cost_of_call({**row, "cache_read_per_mtok": None}, 10_000, 4_000, 0) == 0.025
    assert cost_of_call({**row, "request_usd": 0.012}, 0, 0, 0) == 0.012
    written = {**row, "cache_write_per_mtok": 3.125}  # 1,000 of 10,000 input tokens written
    assert cost_of_call(written, 10_000, 4_000, 500, 1_000) == pytest.approx(0.0256250)
    assert cost_of_call(row, 10_000, 4_000, 500, 1_000) == pytest.approx(0.025)  # as input
    sql = price_with_sql(  # the SQL the same way
        [
            {"model": "m", "ts": T0, "input_tokens": 10_000, "cache_tokens": 4_000}
            | {"output_tokens": 500, "cache_write_tokens": 1_000}
        ],
        pa.Table.from_pylist(
            [{"model": "m", "priority": 0, "above_input_tokens": -1, **written}], schema=PRICES
        ),
    )
    assert sql == [pytest.approx(0.0256250)]


def test_a_call_without_any_token_count_has_an_unknown_cost_not_zero():
    """A source that does not report usage (tau-bench, SWE-agent's per-call records): its calls
    are counted unpriced, so the session's cost reads as a lower bound, not a total."""
    out = sessionize(
        [
            llm(0, turn_index=0, model="gpt-4o", input_tokens=None, output_tokens=None),
            llm(1, turn_index=0, model="gpt-4o", input_tokens=None, output_tokens=1_000_000),
            llm(2, turn_index=1, model="gpt-4o", input_tokens=None, output_tokens=None),
        ]
    )
    calls = {r["event_id"]: r["cost_usd"] for r in rows(out["llm_calls"])}
    assert list(calls.values()) == [None, pytest.approx(10.0), None]  # output alone is priced
    s = one(out["sessions"])
    assert (s["cost_usd"], s["n_llm_calls_unpriced"]) == (pytest.approx(10.0), 2)
    turns = {t["turn_index"]: t for t in rows(out["turns"])}
    assert (turns[1]["cost_usd"], turns[1]["n_llm_calls_unpriced"]) == (None, 1)
