"""Candidates on the real catalog: cheaper, capable, current, allowed; cheapest first."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from modelpilot.control.policy.candidates import blended_price, candidates, is_current, supports
from modelpilot.schema.catalog import Capabilities, load_catalog
from modelpilot.schema.wire import Features

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
CATALOG = load_catalog()


def spec(model_id: str):
    found = CATALOG.get(model_id)
    assert found is not None
    return found


def ids(requested: str, features: Features, **kwargs) -> list[str]:
    return [s.id for s in candidates(CATALOG, spec(requested), features, now=NOW, **kwargs)]


def test_candidates_are_cheaper_current_priced_and_sorted_by_price():
    features = Features(input_tokens_estimate=2_000, max_tokens=1_000)
    found = ids("claude-opus-4-6", features)
    ceiling = blended_price(spec("claude-opus-4-6"), features)
    assert found[0] == "claude-haiku-5-5"  # $0.10/$0.50: the cheapest priced model
    prices = [blended_price(spec(m), features) for m in found]
    assert all(p is not None and ceiling is not None and p < ceiling for p in prices)
    assert prices == sorted(prices)  # type: ignore[type-var]
    assert "claude-sonnet-4-5" not in found  # deprecated since 2026-08-01
    assert "claude-opus-4-5" not in found  # same price: not cheaper
    assert not {m for m in found if spec(m).pricing is None}


def test_the_cheapest_model_has_no_candidates_and_unpriced_requests_none():
    features = Features(input_tokens_estimate=500, max_tokens=100)
    assert ids("claude-haiku-5-5", features) == []
    assert ids("claude-fable-5-2", features) == []  # unpriced: no saving could be shown


def test_context_and_output_limits_rule_out_small_models():
    long_prompt = Features(input_tokens_estimate=300_000, max_tokens=1_000)
    found = ids("claude-opus-4-6", long_prompt)
    assert "claude-haiku-4-5" not in found  # 200k context
    assert "claude-haiku-5-5" in found  # 1M context
    big_output = Features(input_tokens_estimate=1_000, max_tokens=100_000)
    assert "claude-haiku-4-5" not in ids("claude-opus-4-6", big_output)  # 64k output
    assert not supports(spec("claude-haiku-4-5"), big_output)


def test_allowed_models_restrict_the_candidates():
    features = Features(input_tokens_estimate=1_000, max_tokens=500)
    assert ids("claude-opus-4-6", features, allowed={"claude-sonnet-4-6"}) == ["claude-sonnet-4-6"]
    assert ids("claude-opus-4-6", features, allowed=set()) == []


@pytest.mark.parametrize(
    ("model_id", "current"),
    [("claude-haiku-4-5", True), ("claude-sonnet-4-5", False), ("claude-mythos-preview", False)],
)
def test_lifecycle(model_id, current):
    assert is_current(spec(model_id), NOW) is current


def test_deprecated_models_are_candidates_until_their_deprecation_date():
    assert is_current(spec("claude-sonnet-4-5"), datetime(2026, 7, 1, tzinfo=UTC))


def test_capabilities_are_checked_against_the_catalog():
    capable = spec("claude-haiku-4-5")
    for flags in (
        {"image_count": 2},
        {"document_count": 1},
        {"has_tools": True, "tool_count": 3},
        {"thinking": True},
        {"has_response_schema": True},
    ):
        assert supports(capable, Features(input_tokens_estimate=100, max_tokens=100, **flags))
    bare = Capabilities(
        vision=False, tools=False, extended_thinking=False, adaptive_thinking=False, structured_output=False
    )
    no_vision = dataclasses.replace(capable, capabilities=bare)
    for flags in ({"image_count": 1}, {"document_count": 1}, {"has_tools": True}, {"thinking": True}):
        assert not supports(no_vision, Features(**flags))
    assert not supports(no_vision, Features(has_response_schema=True))
