"""USD cost of llm_calls: a price table built from genai-prices (pinned) and the lake's overrides.

Operators are pure functions of a batch, so they never look prices up themselves: the batch
carries a *price table* under the name `prices` (schema `PRICES`), built once by
`price_table(models, overrides)`, and the operator joins it in SQL (`priced_calls_sql`).

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
  still prices the same model before that.

Cost of one call (tokens null → 0), as genai-prices computes it, in USD:

    cached   = cache_tokens                              if the row has a cache-read rate, else 0
    uncached = max(input_tokens - cached, 0)
    cost     = (uncached * input + cached * cache_read + output_tokens * output) / 1e6
               + request  (a price per call, for the few models that charge one)

`input_tokens` counts cached tokens too (SPEC.md), which is genai-prices' convention as well:
its `input_tokens` includes `cache_read_tokens`. A model with no cache-read rate has its cached
tokens priced as ordinary input. A model without a price (not in the database, no override, or a
null `model`) gets a null cost, never 0.

Nothing here imports genai-prices or PyYAML at module import; `import trajectory_assets` stays
cheap.
"""

import datetime as dt
import functools
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

if TYPE_CHECKING:
    from genai_prices.data_snapshot import DataSnapshot
    from genai_prices.types import ModelInfo, ModelPrice, Provider

GENAI_PRICES_VERSION = "0.2.3"
"""The pinned genai-prices release (pyproject.toml). A test checks it is the installed one, so
bumping the pin without bumping this (and with it every priced operator's version) fails."""

PRICE_SOURCE = "genai-prices"
PRICING_VERSION = f"{PRICE_SOURCE}-{GENAI_PRICES_VERSION}"
"""Part of the version of every operator that prices calls: new prices are a new version."""

OVERRIDES_FILE = "prices.yaml"
"""Where the overrides live, relative to the lake root."""

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
        pa.field("output_per_mtok", pa.float64()),
        pa.field("request_usd", pa.float64()),
        pa.field("provider", pa.string()),
        pa.field("price_model_id", pa.string()),
        pa.field("source", pa.string()),
    ]
)
"""The price table an operator receives as the batch table `prices`."""

_US_PER_DAY = 86_400_000_000
_KEYS = ("input_mtok", "cache_read_mtok", "output_mtok", "requests_kcount")


@dataclass(frozen=True)
class PriceOverride:
    """One price period of a model from the overrides file, in USD per million tokens."""

    model: str
    input_per_mtok: float
    output_per_mtok: float
    cache_read_per_mtok: float | None = None
    valid_from: dt.date | None = None


# --- overrides -------------------------------------------------------------------------------

_ENTRY_KEYS = {"input_per_mtok", "output_per_mtok", "cache_read_per_mtok", "valid_from"}


def parse_overrides(text: str, origin: str = OVERRIDES_FILE) -> tuple[PriceOverride, ...]:
    """Overrides from the text of a `prices.yaml`:

    ```yaml
    models:
      my-finetune:                    # the model string as events carry it (exact match)
        input_per_mtok: 1.0           # USD per million input tokens (cached ones included)
        output_per_mtok: 4.0
        cache_read_per_mtok: 0.1      # optional; absent: cached input is priced as input
      gpt-4o:                         # a list of periods; each holds from its valid_from
        - valid_from: 2026-12-01
          input_per_mtok: 2.0
          cache_read_per_mtok: 1.0
          output_per_mtok: 8.0
    ```

    Raises ValueError naming the entry for anything else (unknown key, negative or missing
    price, two periods of a model with the same `valid_from`).
    """
    import yaml

    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"{origin}: not valid YAML: {exc}") from None
    if doc is None:
        return ()
    if not isinstance(doc, dict) or set(doc) - {"models"}:
        raise ValueError(f"{origin}: expected a mapping with one key, 'models'")
    models = doc.get("models") or {}
    if not isinstance(models, dict):
        raise ValueError(f"{origin}: 'models' must map model names to prices")
    out: list[PriceOverride] = []
    for model, spec in models.items():
        entries = spec if isinstance(spec, list) else [spec]
        seen: set[dt.date | None] = set()
        for i, entry in enumerate(entries):
            where = f"{origin}: models.{model}" + (f"[{i}]" if isinstance(spec, list) else "")
            override = _override(str(model), entry, where)
            if override.valid_from in seen:
                raise ValueError(f"{where}: two periods with valid_from {override.valid_from}")
            seen.add(override.valid_from)
            out.append(override)
    return tuple(sorted(out, key=_override_order))


def read_overrides(path: str | Path) -> tuple[PriceOverride, ...]:
    """Overrides from a local file; none when it does not exist."""
    file = Path(path)
    if not file.exists():
        return ()
    return parse_overrides(file.read_text(encoding="utf-8"), str(file))


def _override(model: str, entry: object, where: str) -> PriceOverride:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping of prices")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed {sorted(_ENTRY_KEYS)}")
    for required in ("input_per_mtok", "output_per_mtok"):
        if entry.get(required) is None:
            raise ValueError(f"{where}: {required} is required")
    prices: dict[str, float | None] = {}
    for key in ("input_per_mtok", "output_per_mtok", "cache_read_per_mtok"):
        value = entry.get(key)
        if value is None:
            prices[key] = None
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"{where}: {key} must be a number >= 0, got {value!r}")
        prices[key] = float(value)
    valid_from = entry.get("valid_from")
    if isinstance(valid_from, dt.datetime):
        valid_from = valid_from.date()
    elif isinstance(valid_from, str):
        try:
            valid_from = dt.date.fromisoformat(valid_from)
        except ValueError:
            raise ValueError(f"{where}: valid_from must be a date, got {valid_from!r}") from None
    elif valid_from is not None and not isinstance(valid_from, dt.date):
        raise ValueError(f"{where}: valid_from must be a date, got {valid_from!r}")
    input_price, output_price = prices["input_per_mtok"], prices["output_per_mtok"]
    assert input_price is not None and output_price is not None
    return PriceOverride(
        model, input_price, output_price, prices["cache_read_per_mtok"], valid_from
    )


def _override_order(o: PriceOverride) -> tuple[str, dt.date]:
    return (o.model, o.valid_from or dt.date.min)


def overrides_digest(overrides: Sequence[PriceOverride] = ()) -> str:
    """A short digest of the overrides' contents (not of the file's bytes: comments and layout
    do not matter); "none" when there are none."""
    if not overrides:
        return "none"
    text = json.dumps(
        [
            [o.model, o.input_per_mtok, o.cache_read_per_mtok, o.output_per_mtok, str(o.valid_from)]
            for o in sorted(overrides, key=_override_order)
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def priced_version(op_version: str, overrides: Sequence[PriceOverride] = ()) -> str:
    """The version of a priced operator's outputs under these overrides: the operator's own
    version (which includes `PRICING_VERSION`) plus the overrides' digest when there are any.
    The engine uses it where it uses `op.version` (checkpoint keys, Dagster code versions), so
    editing `prices.yaml` makes the priced partitions stale."""
    return op_version if not overrides else f"{op_version}+prices-{overrides_digest(overrides)}"


def pricing_metadata(overrides: Sequence[PriceOverride] = ()) -> dict[str, str]:
    """What to record in the materialization metadata of a priced asset."""
    return {
        "price_source": PRICE_SOURCE,
        "genai_prices_version": GENAI_PRICES_VERSION,
        "price_overrides": str(len(overrides)),
        "price_overrides_digest": overrides_digest(overrides),
    }


# --- the price table -------------------------------------------------------------------------


def price_table(models: Iterable[str | None], overrides: Sequence[PriceOverride] = ()) -> pa.Table:
    """The price rows (schema PRICES) of these model strings: the database's, then overrides.

    Deterministic: the same models and overrides give the same table, whatever their order.
    Models without any price have no row.
    """
    by_model: dict[str, list[PriceOverride]] = {}
    for o in overrides:
        by_model.setdefault(o.model, []).append(o)
    rows: list[dict[str, Any]] = []
    for model in sorted({m for m in models if m is not None}):
        rows.extend(dict(zip(PRICES.names, r, strict=True)) for r in _database_rows(model))
        for rank, o in enumerate(sorted(by_model.get(model, ()), key=_override_order)):
            rows.append(
                {
                    "model": model,
                    "priority": OVERRIDE_PRIORITY + rank,
                    "valid_from": _midnight(o.valid_from),
                    "tod_start_us": None,
                    "tod_end_us": None,
                    "above_input_tokens": -1,
                    "input_per_mtok": o.input_per_mtok,
                    "cache_read_per_mtok": o.cache_read_per_mtok,
                    "output_per_mtok": o.output_per_mtok,
                    "request_usd": None,
                    "provider": None,
                    "price_model_id": None,
                    "source": "override",
                }
            )
    return pa.Table.from_pylist(rows, schema=PRICES)


def prices_for_events(events: pa.Table, overrides: Sequence[PriceOverride] = ()) -> pa.Table:
    """The price table of a batch of raw events (schema EVENTS): every model of its llm_calls.

    This is what the engine puts in a priced operator's batch under the name `prices`."""
    import pyarrow.compute as pc

    calls = events.filter(pc.equal(events["event_type"], "llm_call"))
    return price_table(pc.unique(calls["model"]).to_pylist(), overrides)


@functools.cache
def _snapshot() -> "DataSnapshot":
    """The database bundled with the pinned release (never an auto-updated one)."""
    from genai_prices.data import providers
    from genai_prices.data_snapshot import DataSnapshot

    return DataSnapshot(providers=providers, from_auto_update=False)


def _find(model: str) -> "tuple[Provider, ModelInfo] | None":
    """genai-prices' (provider, model) for a model string, or None.

    Tried as given (the provider is inferred from the name, as `calc_price` does without a
    provider), then, for `provider/model` or `provider:model`, with that provider."""
    from genai_prices.data_snapshot import find_provider_by_id

    snapshot = _snapshot()
    try:
        return snapshot.find_provider_model(model, None, None, None)
    except LookupError:
        pass
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
    source = f"{PRICE_SOURCE} {GENAI_PRICES_VERSION}"
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
                    prices["output_mtok"],
                    None if prices["requests_kcount"] is None else prices["requests_kcount"] / 1000,
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


# --- SQL -------------------------------------------------------------------------------------


def priced_calls_sql(calls: str, prices: str = "prices") -> str:
    """SQL: every row of the relation `calls` with `cost_usd` added.

    `calls` needs `app_id, session_id, event_id` (unique), `model`, `ts`, `input_tokens`,
    `cache_tokens`, `output_tokens`; `prices` is a relation of schema PRICES."""
    tokens_in = "coalesce(c.input_tokens, 0)"
    cached = "coalesce(c.cache_tokens, 0)"
    time_of_day = f"(((epoch_us(c.ts) % {_US_PER_DAY}) + {_US_PER_DAY}) % {_US_PER_DAY})"
    return f"""
    WITH matches AS (
        SELECT c.app_id, c.session_id, c.event_id,
            (CASE WHEN p.cache_read_per_mtok IS NULL
                  THEN {tokens_in} * coalesce(p.input_per_mtok, 0.0)
                  ELSE greatest({tokens_in} - {cached}, 0) * coalesce(p.input_per_mtok, 0.0)
                       + {cached} * p.cache_read_per_mtok END
             + coalesce(c.output_tokens, 0) * coalesce(p.output_per_mtok, 0.0)) / 1000000.0
            + coalesce(p.request_usd, 0.0) AS cost_usd,
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
    )
    SELECT c.*, m.cost_usd
    FROM {calls} c
    LEFT JOIN (SELECT * FROM matches WHERE pick = 1) m
      ON m.app_id = c.app_id AND m.session_id = c.session_id AND m.event_id = c.event_id
    """


def cost_of_call(
    prices: Mapping[str, Any], input_tokens: int, cache_tokens: int, output_tokens: int
) -> float:
    """The cost formula of `priced_calls_sql` for one price row, in Python (docs and tests)."""
    input_rate = prices.get("input_per_mtok") or 0.0
    cache_rate = prices.get("cache_read_per_mtok")
    cached = cache_tokens if cache_rate is not None else 0
    uncached = max(input_tokens - cached, 0)
    total = uncached * input_rate + cached * (cache_rate or 0.0)
    total += output_tokens * (prices.get("output_per_mtok") or 0.0)
    return total / 1_000_000 + (prices.get("request_usd") or 0.0)
