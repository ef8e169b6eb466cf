"""Price overrides: the lake's `prices.yaml`, parsed and checked entry by entry, and a digest of
its contents that makes priced outputs stale when it changes.

An override is a price period of one model; the price table (`operators/pricing.py`) ranks it
above every period of the genai-prices database from its `valid_from` on. PyYAML is imported
only when a file is parsed.
"""

import contextlib
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from trajectory_assets.errors import SettingError

OVERRIDES_FILE = "prices.yaml"
"""Where the overrides live, relative to the lake root."""


@dataclass(frozen=True)
class PriceOverride:
    """One price period of a model from the overrides file, in USD per million tokens: its
    own rates, or a `discount` off every rate the database has for it (tiers by prompt size,
    cache writes for an hour, web searches and later price changes included)."""

    model: str
    input_per_mtok: float | None
    output_per_mtok: float | None
    cache_read_per_mtok: float | None = None
    valid_from: dt.date | None = None
    cache_write_per_mtok: float | None = None
    cache_write_1h_per_mtok: float | None = None
    web_search_usd: float | None = None  # USD a server-side web search
    discount: float | None = None  # a share off the database's rates: 0.2 is 20% off


_PRICE_KEYS = (
    "input_per_mtok",
    "output_per_mtok",
    "cache_read_per_mtok",
    "cache_write_per_mtok",
    "cache_write_1h_per_mtok",
    "web_search_usd",
)
_ENTRY_KEYS = {*_PRICE_KEYS, "valid_from", "discount"}


def parse_overrides(text: str, origin: str = OVERRIDES_FILE) -> tuple[PriceOverride, ...]:
    """Overrides from the text of a `prices.yaml`:

    ```yaml
    models:
      my-finetune:                    # the model string as events carry it (case aside)
        input_per_mtok: 1.0           # USD per million input tokens (cached ones included)
        output_per_mtok: 4.0
        cache_read_per_mtok: 0.1      # optional; absent: cached input is priced as input
        cache_write_per_mtok: 1.25    # optional; absent: cache writes are priced as input
        cache_write_1h_per_mtok: 2.0  # optional; absent: at the cache-write rate
        web_search_usd: 0.01          # optional; absent: web searches cost nothing
      gpt-4o:                         # a list of periods; each holds from its valid_from
        - valid_from: 2026-12-01
          input_per_mtok: 2.0
          cache_read_per_mtok: 1.0
          output_per_mtok: 8.0
      claude-sonnet-4-5:              # a negotiated discount off every database rate
        valid_from: 2026-03-13
        discount: 0.2                 # 20% off: its tiers, cache and search prices kept
    ```

    Raises SettingError naming the entry for anything else (unknown key, negative, infinite or
    missing price, a model or key given twice, two periods of a model with the same
    `valid_from`, a `valid_from` with a time of day: prices change at UTC midnight).
    """
    import yaml

    try:
        doc = yaml.load(text, Loader=_unique_keys_loader())  # a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or " ".join(str(exc).split())
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise SettingError(f"{origin}: not valid YAML{where}: {problem}") from None
    if doc is None:
        return ()
    if not isinstance(doc, dict) or set(doc) - {"models"}:
        raise SettingError(f"{origin}: expected a mapping with one key, 'models'")
    models = doc.get("models") or {}
    if not isinstance(models, dict):
        raise SettingError(f"{origin}: 'models' must map model names to prices")
    out: list[PriceOverride] = []
    seen: dict[tuple[str, dt.date | None], str] = {}  # a period of a model -> the name it had
    for model, spec in models.items():
        entries = spec if isinstance(spec, list) else [spec]
        for i, entry in enumerate(entries):
            where = f"{origin}: models.{model}" + (f"[{i}]" if isinstance(spec, list) else "")
            override = _override(str(model), entry, where)
            period = (model_key(override.model), override.valid_from)
            if period in seen:
                other = seen[period]
                note = f" (models match whatever their case: {other!r} is the same model)"
                raise SettingError(
                    f"{where}: two periods with valid_from {override.valid_from}"
                    + (note if other != override.model else "")
                )
            seen[period] = override.model
            out.append(override)
    return tuple(sorted(out, key=override_order))


def _unique_keys_loader() -> type:
    """PyYAML's safe loader, refusing a key given twice in a mapping (PyYAML keeps the last
    one: a model listed twice priced every call at the second entry without a word)."""
    import yaml

    class UniqueKeys(yaml.SafeLoader):  # type: ignore[misc]
        def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
            seen: set[Any] = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`: its keys may repeat
                    continue
                key = self.construct_object(key_node, deep=deep)
                named = isinstance(key, str | int | float | bool | dt.date)
                if not named or key in seen:
                    why = "is given twice" if named else "is no name"
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} {why}", key_node.start_mark
                    )
                seen.add(key)
            mapping: dict[Any, Any] = super().construct_mapping(node, deep=deep)
            return mapping

    return UniqueKeys


def _override(model: str, entry: object, where: str) -> PriceOverride:
    if not isinstance(entry, dict):
        raise SettingError(f"{where}: expected a mapping of prices")
    unknown = set(entry) - _ENTRY_KEYS
    if unknown:
        raise SettingError(
            f"{where}: unknown keys {sorted(unknown)}; allowed {sorted(_ENTRY_KEYS)}"
        )
    discount = entry.get("discount")
    if discount is not None:
        given = sorted(k for k in _PRICE_KEYS if entry.get(k) is not None)
        if given:
            raise SettingError(
                f"{where}: a discount applies to the database's rates; give no rates beside it "
                f"(got {', '.join(given)})"
            )
        if isinstance(discount, bool) or not isinstance(discount, int | float):
            raise SettingError(f"{where}: discount must be a number, got {discount!r}")
        if not 0 <= discount < 1:
            raise SettingError(f"{where}: discount must be from 0 to below 1 (0.2 is 20% off)")
    else:
        for required in ("input_per_mtok", "output_per_mtok"):
            if entry.get(required) is None:
                raise SettingError(f"{where}: {required} is required (or a discount)")
    prices: dict[str, float | None] = {}
    for key in _PRICE_KEYS:
        value = entry.get(key)
        if value is None:
            prices[key] = None
            continue
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not 0 <= value < 1e300:  # a float, not inf (nor an int past floats)
            raise SettingError(f"{where}: {key} must be a finite number >= 0, got {value!r}")
        prices[key] = float(value)
    valid_from = entry.get("valid_from")
    if isinstance(valid_from, str):
        with contextlib.suppress(ValueError):  # no day: refused below
            valid_from = dt.date.fromisoformat(valid_from)
    if valid_from is not None and (
        isinstance(valid_from, dt.datetime) or not isinstance(valid_from, dt.date)
    ):
        raise SettingError(
            f"{where}: valid_from must be a day (YYYY-MM-DD; prices change at UTC midnight), "
            f"got {valid_from!r}"
        )
    return PriceOverride(
        model,
        prices["input_per_mtok"],
        prices["output_per_mtok"],
        cache_read_per_mtok=prices["cache_read_per_mtok"],
        valid_from=valid_from,
        cache_write_per_mtok=prices["cache_write_per_mtok"],
        cache_write_1h_per_mtok=prices["cache_write_1h_per_mtok"],
        web_search_usd=prices["web_search_usd"],
        discount=None if discount is None else float(discount),
    )


def model_key(model: str) -> str:
    """What an override's model name and an event's `model` are matched by: case and
    surrounding spaces aside, as genai-prices matches its own names (`GPT-4o` is `gpt-4o`)."""
    return model.strip().lower()


def override_order(o: PriceOverride) -> tuple[str, dt.date]:
    """Overrides by model (whatever its case), then by `valid_from` (none first): the order
    they rank in."""
    return (model_key(o.model), o.valid_from or dt.date.min)


def overrides_digest(overrides: Sequence[PriceOverride] = ()) -> str:
    """A short digest of the overrides' contents (not of the file's bytes: comments and layout
    do not matter); "none" when there are none."""
    if not overrides:
        return "none"
    text = json.dumps(
        [
            [o.model, o.input_per_mtok, o.cache_read_per_mtok, o.output_per_mtok, str(o.valid_from)]
            + ([o.cache_write_per_mtok] if o.cache_write_per_mtok is not None else [])
            + (  # keys added later count only when given: older digests stay as they were
                [o.cache_write_1h_per_mtok, o.web_search_usd]
                if o.cache_write_1h_per_mtok is not None or o.web_search_usd is not None
                else []
            )
            + ([f"discount {o.discount}"] if o.discount is not None else [])
            for o in sorted(overrides, key=override_order)
        ]
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]
