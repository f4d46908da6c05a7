"""Cost arithmetic in integer micro-dollars.

Every price in the catalog is an integer number of micro-dollars per million tokens, so a cost
is an exact rational number; it is rounded once, half up, at the end of :func:`cost_micros`.

>>> from modelpilot.schema.catalog import load_catalog
>>> haiku = load_catalog().get("claude-haiku-4-5")
>>> cost_micros(Usage(input_tokens=1_000, output_tokens=500), haiku, load_catalog())
3500
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from modelpilot.schema.catalog import Catalog, ModelSpec
from modelpilot.schema.usage import Usage

_TOKENS_PER_PRICE_UNIT = 1_000_000


class UnpricedModelError(ValueError):
    """The catalog has no trustworthy price for this model."""


def _round_half_up(value: Fraction) -> int:
    return int((value * 2 + 1) // 2)


def _price_units(usage: Usage, model: ModelSpec) -> int:
    """Tokens times their rates: micro-dollars times a million, before any multiplier."""
    if model.pricing is None:
        raise UnpricedModelError(f"no price is known for {model.id}")
    rates = model.pricing.rates_for(usage.prompt_tokens)
    return (
        usage.input_tokens * rates.input
        + usage.cache_write_5m_tokens * rates.cache_write_5m
        + usage.cache_write_1h_tokens * rates.cache_write_1h
        + usage.cache_read_tokens * rates.cache_read
        + usage.output_tokens * rates.output
    )


def exact_cost(usage: Usage, model: ModelSpec, catalog: Catalog) -> Fraction:
    """The exact cost of ``usage`` on ``model`` in micro-dollars, before rounding."""
    cost = Fraction(_price_units(usage, model), _TOKENS_PER_PRICE_UNIT)
    if usage.is_batch:
        cost *= Fraction(catalog.batch_discount)
    if usage.inference_geo is not None:
        multiplier = catalog.inference_geo_multipliers.get(usage.inference_geo)
        if multiplier is not None:
            cost *= Fraction(multiplier)
    return cost


def cost_micros(usage: Usage, model: ModelSpec, catalog: Catalog) -> int:
    """What ``usage`` costs on ``model``, in integer micro-dollars (rounded half up)."""
    if usage.is_batch or usage.inference_geo in catalog.inference_geo_multipliers:
        return _round_half_up(exact_cost(usage, model, catalog))
    # The usual case has no multiplier: the same half-up rounding in integers (every request
    # is priced twice on the proxy's hot path, and Fraction costs a few microseconds each time).
    units = _price_units(usage, model)
    return (2 * units + _TOKENS_PER_PRICE_UNIT) // (2 * _TOKENS_PER_PRICE_UNIT)


@dataclass(frozen=True, slots=True)
class CostBreakdown:
    """Actual cost of what was served, the baseline (the requested model's price for the same
    usage) and the savings, all in micro-dollars. ``None`` where a model has no known price."""

    actual_micros: int | None
    baseline_micros: int | None

    @property
    def savings_micros(self) -> int | None:
        if self.actual_micros is None or self.baseline_micros is None:
            return None
        return self.baseline_micros - self.actual_micros


def price_request(usage: Usage, *, served: str, requested: str, catalog: Catalog) -> CostBreakdown:
    """Price one answer served by ``served`` for a caller that asked for ``requested``."""

    def priced(model_id: str) -> int | None:
        model = catalog.get(model_id)
        if model is None or model.pricing is None:
            return None
        return cost_micros(usage, model, catalog)

    actual = priced(served)
    baseline = actual if served == requested else priced(requested)
    return CostBreakdown(actual_micros=actual, baseline_micros=baseline)
