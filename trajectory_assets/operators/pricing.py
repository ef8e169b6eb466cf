"""Prices of llm_calls: a price table built from genai-prices (pinned) and the lake's overrides.

Prices are data, not lookups: `sessionize` builds a *price table* (schema `PRICES`) for the
models of its batch with `price_table(models, overrides)`, its overrides being the lake's file as
the engine handed it over, and joins it in SQL (`operators/call_cost.py`); a batch that already
carries a table named `prices` (a test's) is priced by that one.

The table is a faithful, flat copy of what `genai_prices.calc_price` would do for each model
string, valid at any time (no days needed):

- one row per price period of a model: genai-prices' conditional prices are tried last to first
  and the first whose constraint holds wins (`priority`, higher wins); a start-date constraint
  becomes `valid_from` (UTC midnight), a time-of-day one (DeepSeek's off-peak hours) becomes
  `tod_start_us`/`tod_end_us` (microseconds after UTC midnight, wrapping past midnight when
  start > end); the first period is the fallback and holds whenever no later one does;
- tiered prices (a higher rate for every token once a request's input exceeds a threshold) give
  one row per threshold, `above_input_tokens` (-1 for the base rate); a call takes the row of
  its period with the highest threshold strictly below its `input_tokens`;
- overrides from `<lake>/prices.yaml` are periods of higher priority than any database row, so
  they win from their `valid_from` on (from the beginning when they have none) and the database
  still prices the same model before that; a `discount` override is the database's rows of the
  model with every rate lowered, each keeping its period, tier and time of day.

The overrides file itself is parsed in `operators/price_overrides.py`. Nothing here imports
genai-prices or PyYAML at module import; `import trajectory_assets` stays cheap.
"""

import datetime as dt
import functools
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from trajectory_assets.errors import SettingError
from trajectory_assets.operators.price_overrides import (
    OVERRIDES_FILE,
    PriceOverride,
    model_key,
    override_order,
    overrides_digest,
)

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ModelInfo, ModelPrice, Provider

GENAI_PRICES_VERSION = "0.2.3"
"""The pinned genai-prices release (pyproject.toml). A test checks it is the installed one, so
bumping the pin without bumping this (and with it every priced operator's version) fails."""

PRICE_SOURCE = "genai-prices"
PRICING_VERSION = f"{PRICE_SOURCE}-{GENAI_PRICES_VERSION}"
"""Part of the version of every operator that prices calls: new prices are a new version."""

BEDROCK_ID = re.compile(
    r"(?:(?:us|us-gov|eu|apac|au|jp|in|ca|global)\.)?"
    r"(?:ai21|amazon|anthropic|cohere|deepseek|google|luma|meta|minimax|mistral|moonshotai|nvidia"
    r"|openai|qwen|stability|twelvelabs|writer|zai)\.",
    re.IGNORECASE,
)
"""A Bedrock model id: one of Bedrock's vendors and a dot
(`anthropic.claude-3-5-sonnet-20240620-v1:0`), after a cross-region inference profile's
geography (`us.`, `eu.`, `apac.`, `global.`) if any: what Bedrock's API names a model, and the
model a producer logging `response["usage"]` of a Converse call most likely gives. Any other
`word.` is no vendor (`my.claude-3-5-sonnet-20240620-finetune` stays unpriced)."""

OVERRIDE_PRIORITY = 1_000_000
"""Overrides rank above every period of the database (which has far fewer per model)."""

PRICES = pa.schema(
    [
        pa.field("model", pa.string()),  # the model string exactly as llm_call events carry it
        pa.field("priority", pa.int64()),
        pa.field("valid_from", pa.timestamp("us", tz="UTC")),
        pa.field("tod_start_us", pa.int64()),
        pa.field("tod_end_us", pa.int64()),
        pa.field("above_input_tokens", pa.int64()),
        pa.field("input_per_mtok", pa.float64()),
        pa.field("cache_read_per_mtok", pa.float64()),
        pa.field("cache_write_per_mtok", pa.float64()),
        pa.field("output_per_mtok", pa.float64()),
        pa.field("request_usd", pa.float64()),
        pa.field("cache_write_1h_per_mtok", pa.float64()),  # null: at the cache-write rate
        pa.field("web_search_usd", pa.float64()),  # a server-side web search's price
        pa.field("provider", pa.string()),
        pa.field("price_model_id", pa.string()),
        pa.field("source", pa.string()),  # what llm_calls' price_source says of the price
    ]
)
"""The price table an operator receives as the batch table `prices`."""

_KEYS = (
    "input_mtok",
    "cache_read_mtok",
    "cache_write_mtok",
    "output_mtok",
    "requests_kcount",
    "cache_write_1h_mtok",
    "web_searches_kcount",
)


def pricing_metadata(overrides: Sequence[PriceOverride] = ()) -> dict[str, str]:
    """What to record in the materialization metadata of a priced asset: the overrides' own
    rates too, since `prices.yaml` is edited in place (a month's bill is reproducible from the
    run that priced it)."""
    periods = [
        {k: str(v) if isinstance(v, dt.date) else v for k, v in asdict(o).items() if v is not None}
        for o in sorted(overrides, key=override_order)
    ]
    return {
        "price_source": PRICE_SOURCE,
        "genai_prices_version": GENAI_PRICES_VERSION,
        "price_overrides": str(len(overrides)),
        "price_overrides_digest": overrides_digest(overrides),
        "price_overrides_rates": json.dumps(periods, sort_keys=True),
    }


def price_table(models: Iterable[str | None], overrides: Sequence[PriceOverride] = ()) -> pa.Table:
    """The price rows (schema PRICES) of these model strings: the database's, then overrides.

    An override applies to a model string of its name (case aside) and to every other spelling
    genai-prices takes for the same model (`claude-sonnet-4-5-20250929` for `claude-sonnet-4-5`:
    a negotiated price covered part of a team's calls), those of its own name ranking above.
    Deterministic: the same models and overrides give the same table, whatever their order.
    Models without any price have no row.
    """
    rows: list[dict[str, Any]] = []
    for model in sorted({m for m in models if m is not None}):
        database = [dict(zip(PRICES.names, r, strict=True)) for r in _database_rows(model)]
        rows.extend(database)
        mine = [o for o in overrides if _same_model(o.model, model)]
        mine.sort(key=lambda o: _rank(o, model))
        for rank, o in enumerate(mine):
            above = OVERRIDE_PRIORITY + rank * PERIODS
            if o.discount is None:
                rows.append(_override_row(model, o, above))
            else:
                rows.extend(_discounted(row, o, above) for row in database)
    return pa.Table.from_pylist(rows, schema=PRICES)


PERIODS = 1_000
"""Priorities an override's rows take: one per database period of its model (far fewer)."""

RATES = (
    "input_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
    "output_per_mtok",
    "request_usd",
    "cache_write_1h_per_mtok",
    "web_search_usd",
)


def _rank(o: PriceOverride, model: str) -> tuple[dt.date, bool, int, str]:
    """An override's rank among those covering `model`: the later `valid_from` above (each wins
    from its day, whichever spelling it names), then, on one day, its own name's, then the
    shortest name (entries of one day agree: `check_overrides`), so every other spelling names
    the same entry in its `price_source` (the daily report's one row of the model)."""
    own = model_key(o.model) == model_key(model)
    return (o.valid_from or dt.date.min, own, -len(o.model.strip()), o.model)


def _override_row(model: str, o: PriceOverride, priority: int) -> dict[str, Any]:
    return {
        "model": model,
        "priority": priority,
        "valid_from": _midnight(o.valid_from),
        "tod_start_us": None,
        "tod_end_us": None,
        "above_input_tokens": -1,
        "input_per_mtok": o.input_per_mtok,
        "cache_read_per_mtok": o.cache_read_per_mtok,
        "cache_write_per_mtok": o.cache_write_per_mtok,
        "output_per_mtok": o.output_per_mtok,
        "request_usd": None,
        "cache_write_1h_per_mtok": o.cache_write_1h_per_mtok,
        "web_search_usd": o.web_search_usd,
        "provider": None,
        "price_model_id": None,
        "source": f"{OVERRIDES_FILE}: {o.model.strip()}" + _from(o.valid_from),
    }


def _discounted(row: dict[str, Any], o: PriceOverride, priority: int) -> dict[str, Any]:
    """A database row `o.discount` off, in force from the override's day (or the row's, if
    later): each period, tier and time of day of the database keeps its place above."""
    assert o.discount is not None
    starts = [d for d in (row["valid_from"], _midnight(o.valid_from)) if d is not None]
    start = max(starts) if starts else None
    share = 1 - o.discount
    return (
        row
        | {rate: None if row[rate] is None else row[rate] * share for rate in RATES}
        | {
            "priority": priority + row["priority"],
            "valid_from": start,
            "source": f"{OVERRIDES_FILE}: {o.model.strip()} {o.discount * 100:g}% off "
            f"{row['source']}{_from(start.date() if start else None)}",
        }
    )


def _from(day: dt.date | None) -> str:
    return f" from {day}" if day else ""


def _same_model(named: str, model: str) -> bool:
    """An override's name covers this model string: the same name, or the same model of the
    database (`_spelled_model`)."""
    if model_key(named) == model_key(model):
        return True
    found = _spelled_model(named)
    return found is not None and found == _spelled_model(model)


def _spelled_model(model: str) -> tuple[str, str] | None:
    """The database's model (provider, model id) whose every spelling an override of this name
    covers; None for a fine-tune, which the database takes for its base model's family (one
    team's `ft:…:acme::abc123` is not another's), and for a model it does not price."""
    return None if model.strip().startswith("ft:") else _identity(model)


@functools.lru_cache(maxsize=8192)
def _identity(model: str) -> tuple[str, str] | None:
    found = _find(model)
    return None if found is None else (found[0].id, found[1].id)


def check_overrides(overrides: Sequence[PriceOverride]) -> None:
    """SettingError for what only the database can tell wrong: a discount of a model it does
    not price (nothing to take it off: its calls would stay unpriced without a word), and two
    entries of one model from one day that differ (which to take would be a name's order)."""
    by_day: dict[tuple[tuple[str, str], dt.date | None], PriceOverride] = {}
    for o in overrides:
        if o.discount is not None and _identity(o.model) is None:
            raise SettingError(
                f"{OVERRIDES_FILE}: models.{o.model}: a discount needs a model genai-prices "
                "prices; give this one its rates (input_per_mtok, output_per_mtok, ...)"
            )
        identity = _spelled_model(o.model)
        if identity is None:
            continue
        other = by_day.setdefault((identity, o.valid_from), o)
        if other is not o and replace(other, model=o.model) != o:
            raise SettingError(
                f"{OVERRIDES_FILE}: models.{o.model} and models.{other.model} name one model "
                f"({identity[0]}/{identity[1]}) with other prices from "
                f"{o.valid_from or 'the beginning'}: keep one"
            )


@functools.cache
def _snapshot() -> "DataSnapshot":
    """The database bundled with the pinned release (never an auto-updated one)."""
    from genai_prices.data import providers
    from genai_prices.data_snapshot import DataSnapshot

    return DataSnapshot(providers=providers, from_auto_update=False)


def _find(model: str) -> "tuple[Provider, ModelInfo] | None":
    """genai-prices' (provider, model) for a model string, or None.

    Tried as given, surrounding spaces aside (the provider is inferred from the name, as
    `calc_price` does without a provider), then, for a Bedrock model id (which no provider's
    name match takes), with AWS Bedrock, then, for an OpenAI fine-tune (`ft:…`, whose provider
    no name says), with OpenAI, then, for `provider/model` or `provider:model`, with that
    provider."""
    from genai_prices.data_snapshot import find_provider_by_id

    model = model.strip()
    snapshot = _snapshot()
    try:
        return snapshot.find_provider_model(model, None, None, None)
    except LookupError:
        pass
    if BEDROCK_ID.match(model):
        try:
            return snapshot.find_provider_model(model, None, "aws", None)
        except LookupError:
            pass
    if model.startswith("ft:"):  # an OpenAI fine-tune, `ft:<base model>:<org>:<name>:<id>`
        try:
            return snapshot.find_provider_model(model, None, "openai", None)
        except LookupError:
            return None
    for sep in ("/", ":"):
        prefix, found, rest = model.partition(sep)
        if found and rest and find_provider_by_id(snapshot.providers, prefix) is not None:
            try:
                return snapshot.find_provider_model(rest, None, prefix, None)
            except LookupError:
                return None
    return None


@functools.lru_cache(maxsize=8192)
def _database_rows(model: str) -> tuple[tuple[Any, ...], ...]:
    from genai_prices import types

    found = _find(model)
    if found is None:
        return ()
    provider, info = found
    Constraint = types.StartDateConstraint | types.TimeOfDateConstraint | None
    periods: list[tuple[Constraint, types.ModelPrice]]
    if isinstance(info.prices, types.ModelPrice):
        periods = [(None, info.prices)]
    else:
        periods = [(c.constraint, c.prices) for c in info.prices]
    rows = []
    source = f"{PRICE_SOURCE} {GENAI_PRICES_VERSION}: {provider.id}/{info.id}"
    for priority, (constraint, price) in enumerate(periods):
        valid_from = tod_start = tod_end = None
        if priority > 0 and isinstance(constraint, types.StartDateConstraint):
            valid_from = _midnight(constraint.start_date)
        elif priority > 0 and isinstance(constraint, types.TimeOfDateConstraint):
            tod_start, tod_end = _utc_us(constraint.start_time), _utc_us(constraint.end_time)
        elif priority > 0 and constraint is not None:
            raise TypeError(f"genai-prices constraint {constraint!r} of {model!r} is not supported")
        for above, prices in _tiers(price):
            rows.append(
                (
                    model,
                    priority,
                    valid_from,
                    tod_start,
                    tod_end,
                    above,
                    prices["input_mtok"],
                    prices["cache_read_mtok"],
                    prices["cache_write_mtok"],
                    prices["output_mtok"],
                    _per_one(prices["requests_kcount"]),
                    prices["cache_write_1h_mtok"],
                    _per_one(prices["web_searches_kcount"]),
                    provider.id,
                    info.id,
                    source,
                )
            )
    return tuple(rows)


def _tiers(price: "ModelPrice") -> list[tuple[int, dict[str, float | None]]]:
    """(threshold, prices) rows of one period: the base rates above -1 input tokens, then at each
    tier start the rate of every key for a request with more input tokens than that start."""
    from genai_prices import types

    values = {key: getattr(price, key, None) for key in _KEYS}
    starts = sorted(
        {t.start for v in values.values() if isinstance(v, types.TieredPrices) for t in v.tiers}
    )

    def at(value: Any, above: int) -> float | None:
        if value is None:
            return None
        if isinstance(value, types.TieredPrices):
            applicable: Decimal = value.base
            for tier in value.tiers:  # sorted ascending by genai-prices
                if above >= tier.start:
                    applicable = tier.price
            return float(applicable)
        return float(value)

    return [(above, {k: at(v, above) for k, v in values.items()}) for above in (-1, *starts)]


def _per_one(per_thousand: float | None) -> float | None:
    return None if per_thousand is None else per_thousand / 1000


def _midnight(day: dt.date | None) -> dt.datetime | None:
    if day is None:
        return None
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def _utc_us(value: dt.time) -> int:
    """A time of day as microseconds after UTC midnight (naive times are UTC)."""
    if value.tzinfo is not None:
        offset = value.utcoffset() or dt.timedelta(0)
        base = dt.datetime.combine(dt.date(1970, 1, 2), value.replace(tzinfo=None)) - offset
        value = base.time()
    return ((value.hour * 60 + value.minute) * 60 + value.second) * 1_000_000 + value.microsecond
