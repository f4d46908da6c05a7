"""The model catalog: ids, lines, limits, capabilities and prices, from one versioned data file.

>>> catalog = load_catalog()
>>> catalog.get("claude-haiku-4-5-20251001").id
'claude-haiku-4-5'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Literal

Lifecycle = Literal["active", "deprecated", "retired"]

_MICROS_PER_USD = 1_000_000


@dataclass(frozen=True, slots=True)
class Rates:
    """Prices in integer micro-dollars per million tokens (so $0.125/MTok is 125_000)."""

    input: int
    cache_write_5m: int
    cache_write_1h: int
    cache_read: int
    output: int


@dataclass(frozen=True, slots=True)
class Pricing:
    """A model's prices, with an optional long-context tier that applies to the whole request
    once its prompt (input + cache writes + cache reads) exceeds ``long_context_above_tokens``."""

    base: Rates
    source: str
    long_context: Rates | None = None
    long_context_above_tokens: int | None = None

    def rates_for(self, prompt_tokens: int) -> Rates:
        if (
            self.long_context is not None
            and self.long_context_above_tokens is not None
            and prompt_tokens > self.long_context_above_tokens
        ):
            return self.long_context
        return self.base


@dataclass(frozen=True, slots=True)
class Capabilities:
    vision: bool
    tools: bool
    extended_thinking: bool
    adaptive_thinking: bool
    structured_output: bool


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """One model of the catalog. ``pricing`` is None when no trustworthy price is known: such a
    model is served when asked for but never chosen by routing."""

    id: str
    aliases: tuple[str, ...]
    line: str
    display_name: str
    created_at: str
    lifecycle: Lifecycle
    deprecated_at: str | None
    retires_at: str | None
    max_input_tokens: int
    max_tokens: int
    capabilities: Capabilities
    pricing: Pricing | None

    @property
    def is_priced(self) -> bool:
        return self.pricing is not None

    @property
    def is_routable(self) -> bool:
        return self.pricing is not None and self.lifecycle != "retired"


@dataclass(frozen=True, slots=True)
class Catalog:
    """The versioned catalog. Look models up by id or alias with :meth:`get`."""

    version: str
    models: tuple[ModelSpec, ...]
    batch_discount: Decimal
    inference_geo_multipliers: dict[str, Decimal]
    _index: dict[str, ModelSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, ModelSpec] = {}
        for model in self.models:
            for name in (model.id, *model.aliases):
                if name in index:
                    raise ValueError(f"catalog names {name!r} twice")
                index[name] = model
        object.__setattr__(self, "_index", index)

    def get(self, model_id: str) -> ModelSpec | None:
        return self._index.get(model_id)

    def __contains__(self, model_id: object) -> bool:
        return isinstance(model_id, str) and self.get(model_id) is not None


def _micros_per_mtok(usd: str) -> int:
    value = Decimal(usd) * _MICROS_PER_USD
    if value != value.to_integral_value():
        raise ValueError(f"price {usd} USD/MTok is finer than one micro-dollar per million tokens")
    return int(value)


def _rates(raw: dict[str, str]) -> Rates:
    return Rates(
        input=_micros_per_mtok(raw["input"]),
        cache_write_5m=_micros_per_mtok(raw["cache_write_5m"]),
        cache_write_1h=_micros_per_mtok(raw["cache_write_1h"]),
        cache_read=_micros_per_mtok(raw["cache_read"]),
        output=_micros_per_mtok(raw["output"]),
    )


def _pricing(raw: dict[str, object] | None) -> Pricing | None:
    if raw is None:
        return None
    long_raw = raw.get("long_context")
    long_rates = long_above = None
    if isinstance(long_raw, dict):
        long_rates = _rates(long_raw)
        long_above = int(long_raw["above_prompt_tokens"])
    return Pricing(
        base=_rates(raw),  # type: ignore[arg-type]
        source=str(raw["source"]),
        long_context=long_rates,
        long_context_above_tokens=long_above,
    )


def parse_catalog(document: dict[str, object]) -> Catalog:
    """Build a :class:`Catalog` from the JSON document shape of ``data/catalog.json``."""
    models = []
    for raw in document["models"]:  # type: ignore[attr-defined]
        models.append(
            ModelSpec(
                id=raw["id"],
                aliases=tuple(raw.get("aliases", ())),
                line=raw["line"],
                display_name=raw["display_name"],
                created_at=raw["created_at"],
                lifecycle=raw["lifecycle"],
                deprecated_at=raw.get("deprecated_at"),
                retires_at=raw.get("retires_at"),
                max_input_tokens=int(raw["max_input_tokens"]),
                max_tokens=int(raw["max_tokens"]),
                capabilities=Capabilities(**raw["capabilities"]),
                pricing=_pricing(raw.get("pricing")),
            )
        )
    return Catalog(
        version=str(document["version"]),
        models=tuple(models),
        batch_discount=Decimal(str(document["batch_discount"])),
        inference_geo_multipliers={
            k: Decimal(v)
            for k, v in document.get("inference_geo_multipliers", {}).items()  # type: ignore[attr-defined]
        },
    )


@cache
def load_catalog() -> Catalog:
    """The catalog shipped with this package (read once, then cached)."""
    text = resources.files("modelpilot.schema").joinpath("data/catalog.json").read_text("utf-8")
    return parse_catalog(json.loads(text))
