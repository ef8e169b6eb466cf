"""Price overrides (`prices.yaml`): parsing, refusal of bad entries, precedence over genai-prices
and the digest that makes them part of the code version."""

import datetime as dt
import json

import pytest

from tests.operators.builders import (
    T0,
    events_table,
    llm,
    one,
    price_with_sql,
    run,
)
from trajectory_assets.errors import SettingError
from trajectory_assets.operators import Sessionize
from trajectory_assets.operators.price_overrides import (
    PriceOverride,
    overrides_digest,
    parse_overrides,
)
from trajectory_assets.operators.pricing import (
    GENAI_PRICES_VERSION,
    price_table,
    pricing_metadata,
)

OVERRIDES_YAML = """
# USD per million tokens
models:
  my-finetune:
    input_per_mtok: 1.0
    output_per_mtok: 4.0
    cache_read_per_mtok: 0.5
  gpt-4o:
    - valid_from: 2026-11-20
      input_per_mtok: 2.0
      output_per_mtok: 8.0
"""


def test_parse_overrides():
    got = parse_overrides(OVERRIDES_YAML)
    assert got == (
        PriceOverride("gpt-4o", 2.0, 8.0, None, dt.date(2026, 11, 20)),
        PriceOverride("my-finetune", 1.0, 4.0, 0.5, None),
    )
    assert parse_overrides("") == ()
    assert parse_overrides("models: {}") == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: [1]", "'models' must map"),
        ("prices: {}", "one key, 'models'"),
        ("models: {m: {input_per_mtok: 1}}", "output_per_mtok is required"),
        ("models: {m: {input_per_mtok: -1, output_per_mtok: 1}}", "must be a finite number >= 0"),
        ("models: {m: {input_per_mtok: 1, output_per_mtok: 1, cached: 2}}", "unknown keys"),
        ("models: {m: {input_per_mtok: 1, output_per_mtok: 1, valid_from: soon}}", "a day"),
        (
            "models: {m: [{input_per_mtok: 1, output_per_mtok: 1},"
            " {input_per_mtok: 2, output_per_mtok: 2}]}",
            "two periods",
        ),
        ("models: {m: {input_per_mtok: 1, output_per_mtok: 1", "not valid YAML"),
        (  # PyYAML keeps the last of a key given twice: the first price was lost unseen
            "models: {m: {input_per_mtok: 1, output_per_mtok: 1},"
            " m: {input_per_mtok: 2, output_per_mtok: 2}}",
            "'m' is given twice",
        ),
        ("models: {m: {input_per_mtok: .inf, output_per_mtok: 1}}", "a finite number >= 0"),
        ("models: {[m]: {input_per_mtok: 1, output_per_mtok: 1}}", "is no name"),
        (  # a time of day was cut to the day without a word
            "models: {m: {input_per_mtok: 1, output_per_mtok: 1,"
            " valid_from: 2026-11-21T15:00:00Z}}",
            "valid_from must be a day",
        ),
    ],
)
def test_bad_overrides_are_refused_with_the_entry_named(text, message):
    with pytest.raises(ValueError, match=message):
        parse_overrides(text)


def test_overrides_win_from_their_valid_from_and_price_unknown_models():
    overrides = parse_overrides(OVERRIDES_YAML)
    before = dt.datetime(2026, 11, 19, 23, 59, tzinfo=dt.UTC)
    calls = [
        {"model": "gpt-4o", "ts": before, "input_tokens": 1_000_000},  # database: 2.5
        {"model": "gpt-4o", "ts": T0, "input_tokens": 1_000_000},  # override: 2.0
        # override without cached rate: cached tokens priced as input
        {"model": "gpt-4o", "ts": T0, "input_tokens": 1_000_000, "cache_tokens": 500_000},
        {"model": "my-finetune", "ts": before, "input_tokens": 1_000_000, "cache_tokens": 250_000},
    ]
    table = price_table(["gpt-4o", "my-finetune"], overrides)
    assert price_with_sql(calls, table) == [
        pytest.approx(2.5),
        pytest.approx(2.0),
        pytest.approx(2.0),
        pytest.approx(0.75 + 0.125),
    ]
    assert "prices.yaml: gpt-4o from 2026-11-20" in table["source"].to_pylist()


def test_an_override_prices_every_spelling_of_its_model_and_cache_writes() -> None:
    """`GPT-4o` and ` gpt-4o` kept the list price beside a negotiated `gpt-4o` (genai-prices
    matches names whatever their case); a cache-write rate of one's own applies to writes."""
    overrides = parse_overrides(
        "models:\n  GPT-4o: {input_per_mtok: 2, output_per_mtok: 8, cache_write_per_mtok: 3}\n"
    )
    tokens = {"input_tokens": 1_000_000, "cache_write_tokens": 400_000}
    models = ["gpt-4o", "GPT-4o", " gpt-4o"]
    calls = [{"model": m, "ts": T0, **tokens} for m in models]
    table = price_table(models, overrides)
    assert price_with_sql(calls, table) == [pytest.approx(0.6 * 2 + 0.4 * 3)] * 3
    periods = parse_overrides(  # the dated period wins from its day, whatever the spelling
        "models:\n  GPT-4o: {valid_from: 2027-01-01, input_per_mtok: 3, output_per_mtok: 0}\n"
        "  gpt-4o: {input_per_mtok: 1, output_per_mtok: 0}\n"
    )
    later = dt.datetime(2027, 3, 1, tzinfo=dt.UTC)
    call = {"model": "gpt-4o", "ts": later, "input_tokens": 1_000_000}
    assert price_with_sql([call], price_table(["gpt-4o"], periods)) == [pytest.approx(3.0)]
    anchored = (  # YAML's merge keys, whose keys an entry may give again
        "models:\n  a: &base {input_per_mtok: 1, output_per_mtok: 2}\n"
        "  b: {<<: *base, input_per_mtok: 3}\n"
    )
    assert [o.input_per_mtok for o in parse_overrides(anchored)] == [1.0, 3.0]
    with pytest.raises(SettingError, match="'GPT-4o' is the same model"):
        parse_overrides(
            "models:\n  GPT-4o: {input_per_mtok: 2, output_per_mtok: 8}\n"
            "  gpt-4o: {input_per_mtok: 3, output_per_mtok: 9}\n"
        )


def test_an_override_prices_an_hours_cache_writes_and_web_searches() -> None:
    """An override of Claude's own token rates halved a call's cost: its hour-long writes went
    at the 5-minute rate, its searches free, and `web_search_usd` was an unknown key."""
    text = (
        "models:\n  claude-sonnet-4-5: {input_per_mtok: 3, output_per_mtok: 15, "
        "cache_write_per_mtok: 3.75, cache_write_1h_per_mtok: 6, web_search_usd: 0.01}\n"
    )
    overrides = parse_overrides(text)
    call = {"model": "claude-sonnet-4-5", "ts": T0, "input_tokens": 100_000}
    call |= {"output_tokens": 1_000, "cache_write_tokens": 100_000}
    call |= {"cache_write_1h_tokens": 100_000, "web_searches": 20}
    table = price_table(["claude-sonnet-4-5"], overrides)
    (cost,) = price_with_sql([call], table)
    assert cost == pytest.approx(100_000 * 6 / 1e6 + 1_000 * 15 / 1e6 + 20 * 0.01)
    assert (cost,) == tuple(price_with_sql([call], price_table(["claude-sonnet-4-5"])))
    searches = {"model": "claude-sonnet-4-5", "ts": T0, "web_searches": 3}  # no token count
    assert price_with_sql([searches], table) == [pytest.approx(0.03)]
    plain = text.replace(", cache_write_1h_per_mtok: 6, web_search_usd: 0.01", "")
    assert overrides_digest(overrides) != overrides_digest(parse_overrides(plain))


def test_a_discount_keeps_every_rate_tier_and_period_of_the_database() -> None:
    """A negotiated 20% off written as rates flattened Claude's 200k-token tier (a 250k-token
    call at half its contracted cost) and dropped its hour-long writes and searches: a
    `discount` takes the database's rows of the model, each rate lowered, from its day on."""
    from_day = dt.date(2026, 11, 20)
    overrides = parse_overrides(
        f"models:\n  claude-sonnet-4-5: {{valid_from: {from_day}, discount: 0.2}}\n"
    )
    before = dt.datetime(2026, 11, 19, 12, tzinfo=dt.UTC)
    big = {"model": "claude-sonnet-4-5", "input_tokens": 250_000, "output_tokens": 1_000}
    big |= {"cache_write_tokens": 20_000, "cache_write_1h_tokens": 10_000, "web_searches": 3}
    small = big | {"input_tokens": 50_000}
    calls = [big | {"ts": before}, big | {"ts": T0}, small | {"ts": T0}]
    listed = [c or 0.0 for c in price_with_sql(calls, price_table(["claude-sonnet-4-5"]))]
    table = price_table(["claude-sonnet-4-5"], overrides)
    assert price_with_sql(calls, table) == [
        pytest.approx(listed[0]),  # before its day: the list price
        pytest.approx(0.8 * listed[1]),  # the tier above 200k, writes and searches, 20% off
        pytest.approx(0.8 * listed[2]),
    ]
    assert listed[1] > 2 * listed[2] > 0  # the tier is there to keep
    assert any(
        src.startswith("prices.yaml: claude-sonnet-4-5 20% off genai-prices")
        and src.endswith(f"from {from_day}")
        for src in table["source"].to_pylist()
    )


def test_an_override_covers_every_spelling_of_its_database_model() -> None:
    """genai-prices takes `claude-sonnet-4-5-20250929` for `claude-sonnet-4-5`: an override of
    one name left the other's calls at the list price, without a word. An override of the
    spelling's own name ranks above."""
    models = ["claude-sonnet-4-5", "claude-sonnet-4-5-20250929", "azure/gpt-4o"]
    calls = [{"model": m, "ts": T0, "input_tokens": 1_000_000} for m in models]
    named = parse_overrides(
        "models:\n  claude-sonnet-4-5: {input_per_mtok: 2, output_per_mtok: 10}\n"
        "  gpt-4o: {input_per_mtok: 1, output_per_mtok: 4}\n"
    )
    listed = price_with_sql(calls, price_table(models))
    assert price_with_sql(calls, price_table(models, named)) == [
        pytest.approx(2.0),
        pytest.approx(2.0),
        pytest.approx(listed[2]),  # Azure's gpt-4o is another provider's model
    ]
    own = named + parse_overrides(
        "models:\n  claude-sonnet-4-5-20250929: {input_per_mtok: 1.5, output_per_mtok: 10}\n"
    )
    assert price_with_sql(calls[:2], price_table(models, own)) == [
        pytest.approx(2.0),
        pytest.approx(1.5),
    ]


def test_a_later_period_wins_whichever_spelling_names_it_and_fine_tunes_stay_apart() -> None:
    """An older entry of one spelling outranked a newer dated one of the model (two prices of
    one model on one day); an override of one team's fine-tune priced every fine-tune of its
    base model (the database takes them for one family)."""
    overrides = parse_overrides(
        "models:\n  claude-sonnet-4-5-20250929: {input_per_mtok: 3, output_per_mtok: 15}\n"
        "  claude-sonnet-4-5:\n    - {input_per_mtok: 3, output_per_mtok: 15}\n"
        "    - {valid_from: 2026-12-01, discount: 0.5}\n"
        "  ft:gpt-4o-mini-2024-07-18:acme::abc123: {input_per_mtok: 9, output_per_mtok: 9}\n"
    )
    later = dt.datetime(2027, 1, 5, tzinfo=dt.UTC)
    models = ["claude-sonnet-4-5", "claude-sonnet-4-5-20250929"]
    fine = ["ft:gpt-4o-mini-2024-07-18:acme::abc123", "ft:gpt-4o-mini-2024-07-18:other::zzz999"]
    calls = [{"model": m, "ts": later, "input_tokens": 100_000} for m in models + fine]
    listed = price_with_sql(calls[2:], price_table(fine))
    got = price_with_sql(calls, price_table(models + fine, overrides))
    assert got[:2] == [pytest.approx(0.15), pytest.approx(0.15)]  # the discount, both names
    assert got[2:] == [pytest.approx(0.9), pytest.approx(listed[1])]  # the other team's: list


def test_every_other_spelling_names_the_same_of_two_agreeing_entries() -> None:
    """Two entries of one model at one price (the old rules asked for one per spelling): a
    third spelling named the longer one, and the daily report split the model's row."""
    overrides = parse_overrides(
        "models:\n  claude-sonnet-4-5-20250929: {input_per_mtok: 3, output_per_mtok: 15}\n"
        "  claude-sonnet-4-5: {input_per_mtok: 3, output_per_mtok: 15}\n"
    )
    models = ["anthropic/claude-sonnet-4-5", "Claude-Sonnet-4-5", "claude-sonnet-4-5-20250929"]
    table = price_table(models, overrides).to_pylist()
    top = {
        m: max((r for r in table if r["model"] == m), key=lambda r: r["priority"]) for m in models
    }
    assert {m: r["source"] for m, r in top.items()} == {
        "anthropic/claude-sonnet-4-5": "prices.yaml: claude-sonnet-4-5",
        "Claude-Sonnet-4-5": "prices.yaml: claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929": "prices.yaml: claude-sonnet-4-5-20250929",  # its own
    }


def test_two_entries_of_one_model_from_one_day_that_differ_are_refused() -> None:
    """Which one priced the model was the names' alphabetical order, without a word."""
    text = (
        "models:\n  claude-sonnet-4-5: {input_per_mtok: 2, output_per_mtok: 10}\n"
        "  anthropic/claude-sonnet-4-5: {input_per_mtok: 1, output_per_mtok: 10}\n"
    )
    with pytest.raises(SettingError, match=r"name one model .* keep one"):
        Sessionize().with_lake_files({"prices.yaml": text})
    same = text.replace("input_per_mtok: 1,", "input_per_mtok: 2,")
    Sessionize().with_lake_files({"prices.yaml": same})  # alike: one price, whatever its name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models: {m: {discount: 0.2, input_per_mtok: 1}}", "give no rates beside it"),
        ("models: {m: {discount: 1.5}}", "from 0 to below 1"),
        ("models: {m: {discount: '20%'}}", "discount must be a number"),
        ("models: {m: {valid_from: 2026-01-01}}", "input_per_mtok is required \\(or a discount"),
    ],
)
def test_bad_discounts_are_refused_with_the_entry_named(text: str, message: str) -> None:
    with pytest.raises(SettingError, match=message):
        parse_overrides(text)


def test_a_discount_of_a_model_no_database_prices_is_refused() -> None:
    """Nothing to take it off: its calls would stay unpriced without a word."""
    text = "models:\n  my-finetune: {discount: 0.1}\n"
    with pytest.raises(SettingError, match=r"models\.my-finetune: a discount needs a model"):
        Sessionize().with_lake_files({"prices.yaml": text})


def test_sessionize_prices_with_the_lakes_overrides():
    events = events_table([llm(0, model="my-finetune", input_tokens=1_000_000)])
    without = one(run(Sessionize(), events=events)["llm_calls"])
    assert without["cost_usd"] is None
    priced = Sessionize().with_lake_files({"prices.yaml": OVERRIDES_YAML})
    with_prices = run(priced, events=events)
    assert one(with_prices["llm_calls"])["cost_usd"] == pytest.approx(1.0)
    assert one(with_prices["sessions"])["n_llm_calls_unpriced"] == 0


def test_overrides_digest_and_metadata():
    overrides = parse_overrides(OVERRIDES_YAML)
    assert overrides_digest(()) == "none"
    digest = overrides_digest(overrides)
    assert digest == overrides_digest(tuple(reversed(overrides)))  # order does not matter
    assert digest != overrides_digest(overrides[:1])
    assert pricing_metadata(overrides) == {
        "price_source": "genai-prices",
        "genai_prices_version": GENAI_PRICES_VERSION,
        "price_overrides": "2",
        "price_overrides_digest": digest,
        "price_overrides_rates": json.dumps(
            [
                {"input_per_mtok": 2.0, "model": "gpt-4o", "output_per_mtok": 8.0}
                | {"valid_from": "2026-11-20"},
                {"input_per_mtok": 1.0, "model": "my-finetune", "output_per_mtok": 4.0}
                | {"cache_read_per_mtok": 0.5},
            ],
            sort_keys=True,
        ),
    }
