"""Which catalog models could serve a request in place of the requested one, cheapest first."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import cache

from modelpilot.schema.catalog import Catalog, ModelSpec
from modelpilot.schema.wire import Features

# When a request names no sizes, models are compared on one thousand tokens each way.
_DEFAULT_TOKENS = 1_000


def blended_price(spec: ModelSpec, features: Features) -> int | None:
    """What ``features``' token estimates would cost on ``spec`` (micro-dollars x 10^6: only the
    order matters), at the price tier the prompt size selects; None when unpriced."""
    if spec.pricing is None:
        return None
    input_tokens, output_tokens = features.input_tokens_estimate, features.max_tokens
    if input_tokens == 0 and output_tokens == 0:
        input_tokens = output_tokens = _DEFAULT_TOKENS
    rates = spec.pricing.rates_for(input_tokens)
    return input_tokens * rates.input + output_tokens * rates.output


@cache
def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _past(moment: str | None, now: datetime) -> bool:
    return moment is not None and _moment(moment) <= now


def is_current(spec: ModelSpec, now: datetime) -> bool:
    """Neither retired nor past its deprecation or retirement date."""
    if spec.lifecycle == "retired" or _past(spec.retires_at, now):
        return False
    return not (
        spec.lifecycle == "deprecated" and (spec.deprecated_at is None or _past(spec.deprecated_at, now))
    )


def supports(spec: ModelSpec, features: Features) -> bool:
    """Whether ``spec`` can take this request: context window, output limit and capabilities.
    The catalog has no document flag; PDF input goes with vision on every Claude model."""
    if features.input_tokens_estimate + features.max_tokens > spec.max_input_tokens:
        return False
    if features.max_tokens > spec.max_tokens:
        return False
    caps = spec.capabilities
    if (features.image_count > 0 or features.document_count > 0) and not caps.vision:
        return False
    if (features.has_tools or features.tool_count > 0) and not caps.tools:
        return False
    if features.thinking and not (caps.extended_thinking or caps.adaptive_thinking):
        return False
    return not (features.has_response_schema and not caps.structured_output)


def candidates(
    catalog: Catalog,
    requested: ModelSpec,
    features: Features,
    *,
    now: datetime,
    allowed: Collection[str] | None = None,
) -> list[ModelSpec]:
    """Priced, current models strictly cheaper than ``requested`` for these token estimates that
    support the request (and are in ``allowed`` when given), cheapest first. Empty when the
    requested model itself has no price: no saving could be shown."""
    ceiling = blended_price(requested, features)
    if ceiling is None:
        return []
    found: list[tuple[int, str, ModelSpec]] = []
    for spec in catalog.models:
        if spec.id == requested.id or (allowed is not None and spec.id not in allowed):
            continue
        price = blended_price(spec, features)
        if price is None or price >= ceiling or not is_current(spec, now) or not supports(spec, features):
            continue
        found.append((price, spec.id, spec))
    found.sort(key=lambda item: (item[0], item[1]))
    return [spec for _, _, spec in found]
