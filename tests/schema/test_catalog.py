from __future__ import annotations

import pytest

from modelpilot.schema.catalog import load_catalog, parse_catalog

SDK_MODEL_IDS = [
    "claude-fable-5-2",
    "claude-mythos-5-2",
    "claude-haiku-5-5",
    "claude-sonnet-5-5",
    "claude-fable-5-1",
    "claude-opus-5-5",
    "claude-mythos-5-1",
    "claude-sonnet-5",
    "claude-fable-5",
    "claude-mythos-5",
    "claude-opus-5",
    "claude-opus-4-8",
    "claude-opus-4-7",
    "claude-mythos-preview",
    "claude-opus-4-6",
    "claude-sonnet-4-6",
    "claude-haiku-4-5",
    "claude-haiku-4-5-20251001",
    "claude-opus-4-5",
    "claude-opus-4-5-20251101",
    "claude-sonnet-4-5",
    "claude-sonnet-4-5-20250929",
]


def test_every_model_id_the_sdk_knows_is_in_the_catalog() -> None:
    catalog = load_catalog()
    missing = [model_id for model_id in SDK_MODEL_IDS if model_id not in catalog]
    assert missing == []


def test_aliases_resolve_to_their_model() -> None:
    catalog = load_catalog()
    assert catalog.get("claude-haiku-4-5-20251001") is catalog.get("claude-haiku-4-5")
    assert catalog.get("claude-sonnet-4-5-20250929").id == "claude-sonnet-4-5"
    assert catalog.get("gpt-4") is None
    assert "gpt-4" not in catalog


def test_models_without_a_known_price_are_never_routable() -> None:
    catalog = load_catalog()
    unpriced = {m.id for m in catalog.models if not m.is_priced}
    assert unpriced == {"claude-fable-5-2", "claude-mythos-5-2", "claude-mythos-preview"}
    assert not any(catalog.get(model_id).is_routable for model_id in unpriced)


def test_retired_models_are_not_routable_even_when_priced() -> None:
    retired = [m for m in load_catalog().models if m.lifecycle == "retired"]
    assert retired and not any(m.is_routable for m in retired)


def test_prices_are_integer_micro_dollars_per_million_tokens() -> None:
    haiku_55 = load_catalog().get("claude-haiku-5-5")
    assert haiku_55.pricing.base.cache_write_5m == 125_000  # $0.125 / MTok
    assert haiku_55.pricing.long_context_above_tokens == 100_000
    assert haiku_55.pricing.long_context.output == 2_500_000


def test_every_price_names_its_source() -> None:
    for model in load_catalog().models:
        if model.pricing is not None:
            assert model.pricing.source.strip(), model.id


def test_a_name_listed_twice_is_refused() -> None:
    document = {
        "version": "t",
        "batch_discount": "0.5",
        "models": [
            _model("claude-a", aliases=["claude-b"]),
            _model("claude-b"),
        ],
    }
    with pytest.raises(ValueError, match="claude-b"):
        parse_catalog(document)


def test_a_price_finer_than_a_micro_dollar_per_million_is_refused() -> None:
    model = _model("claude-a")
    model["pricing"]["input"] = "0.0000001"
    with pytest.raises(ValueError, match="finer"):
        parse_catalog({"version": "t", "batch_discount": "0.5", "models": [model]})


def _model(model_id: str, *, aliases: list[str] | None = None) -> dict:
    return {
        "id": model_id,
        "aliases": aliases or [],
        "line": "haiku",
        "display_name": model_id,
        "created_at": "2026-01-01T00:00:00Z",
        "lifecycle": "active",
        "max_input_tokens": 1000,
        "max_tokens": 100,
        "capabilities": {
            "vision": True,
            "tools": True,
            "extended_thinking": False,
            "adaptive_thinking": False,
            "structured_output": False,
        },
        "pricing": {
            "input": "1",
            "cache_write_5m": "1.25",
            "cache_write_1h": "2",
            "cache_read": "0.1",
            "output": "5",
            "source": "test",
        },
    }
