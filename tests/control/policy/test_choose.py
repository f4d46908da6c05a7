"""The policy's choice and the decision per mode, on the real catalog and shipped prior."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from modelpilot.control.policy.outcomes import OutcomeRow, Outcomes, tally_outcomes
from modelpilot.control.policy.settings import CategoryRule, RoutingSettings
from modelpilot.control.routing import decide_route
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.wire import Category, DecisionReason, Features, RouteRequest

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
CATALOG = load_catalog()
OPUS = "claude-opus-4-6"


class Draw(random.Random):
    """A random source whose every draw is ``value``: exploration decided by the test."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def random(self) -> float:
        return self.value


def request(
    difficulty: float, category: Category = Category.CODE, model: str = OPUS, **flags
) -> RouteRequest:
    return RouteRequest(
        requested_model=model,
        category=category,
        features=Features(input_tokens_estimate=1_000, max_tokens=500, difficulty=difficulty, **flags),
    )


def decide(req: RouteRequest, settings: RoutingSettings | None = None, **kwargs):
    kwargs.setdefault("outcomes", Outcomes())
    kwargs.setdefault("rng", Draw(0.99))
    kwargs.setdefault("exploration_rate", 0.02)
    return decide_route(CATALOG, req, settings=settings or RoutingSettings(), ttl_s=300, now=NOW, **kwargs)


def test_an_easy_request_goes_to_the_cheapest_capable_model_with_a_reason():
    decision = decide(request(0.01))
    assert (decision.model, decision.routed, decision.reason) == (
        "claude-haiku-5-5",
        True,
        DecisionReason.CHEAPER_MODEL,
    )
    assert decision.explanation.startswith("claude-haiku-5-5 meets the 95% target for code requests (est. 99")
    assert decision.explanation.endswith("prior only)")
    assert decision.shadow_model is None and decision.ttl_s == 300


def test_a_harder_request_goes_to_a_closer_line_or_stays():
    middle = decide(request(0.1))
    assert middle.reason is DecisionReason.CHEAPER_MODEL
    assert CATALOG.get(middle.model).line == "sonnet"  # type: ignore[union-attr]
    hard = decide(request(0.5))
    assert (hard.model, hard.routed, hard.reason) == (OPUS, False, DecisionReason.BELOW_QUALITY_TARGET)
    assert (
        "no cheaper model reaches the 95% target for code requests (best: claude-opus-5-5" in hard.explanation
    )


def test_the_quality_target_and_category_rules_move_the_choice():
    assert decide(request(0.1), RoutingSettings(quality_target=0.85)).model == "claude-haiku-5-5"
    rules = {Category.CODE: CategoryRule(quality_target=0.85), Category.MATH: CategoryRule(action="never")}
    settings = RoutingSettings(category_rules=rules)
    assert decide(request(0.1), settings).model == "claude-haiku-5-5"
    never = decide(request(0.01, Category.MATH), settings)
    assert (never.model, never.reason, never.explanation) == (
        OPUS,
        DecisionReason.CATEGORY_RULE,
        "routing is off for math requests",
    )


def test_allowed_models_and_pins_apply():
    allowed = decide(request(0.01), RoutingSettings(allowed_models=["claude-sonnet-4-6"]))
    assert allowed.model == "claude-sonnet-4-6"
    none_allowed = decide(request(0.01), RoutingSettings(allowed_models=[]))
    assert none_allowed.reason is DecisionReason.NO_CHEAPER_CANDIDATE and not none_allowed.routed
    pinned = decide(request(0.9), RoutingSettings(pins={OPUS: "claude-sonnet-4-6"}))
    assert (pinned.model, pinned.routed, pinned.reason) == ("claude-sonnet-4-6", True, DecisionReason.PINNED)
    assert pinned.explanation == f"{OPUS} is pinned to claude-sonnet-4-6"
    # A pin that cannot take the request (200k context) is not applied.
    too_long = RouteRequest(
        requested_model=OPUS,
        category=Category.QA,
        features=Features(input_tokens_estimate=500_000, max_tokens=100),
    )
    kept = decide(too_long, RoutingSettings(pins={OPUS: "claude-haiku-4-5"}))
    assert (kept.model, kept.routed, kept.reason) == (OPUS, False, DecisionReason.PINNED)


def test_the_deployments_outcomes_override_the_prior():
    failing = tally_outcomes(
        [
            OutcomeRow("code", OPUS, "claude-haiku-5-5", False, 60, 0),
            OutcomeRow("code", OPUS, OPUS, True, 40, 0),  # escalations of routed requests
        ]
    )
    decision = decide(request(0.01), outcomes=failing)
    assert decision.model != "claude-haiku-5-5" and decision.routed
    assert decision.explanation.startswith(f"{decision.model} meets")
    proven = tally_outcomes([OutcomeRow("code", OPUS, "claude-haiku-5-5", False, 400, 0)])
    assert decide(request(0.1), outcomes=proven).model == "claude-haiku-5-5"
    assert "400 outcomes" in decide(request(0.1), outcomes=proven).explanation


def test_exploration_is_bounded_by_the_rate_and_says_so():
    # Prior ~90% for haiku at this difficulty: below 95%, but its upper bound reaches it.
    explored = decide(request(0.1), exploration_rate=0.02, rng=Draw(0.01))
    assert (explored.model, explored.reason) == ("claude-haiku-5-5", DecisionReason.EXPLORATION)
    assert explored.explanation.startswith("exploring claude-haiku-5-5 for code requests")
    assert explored.ttl_s == 30  # an exploring decision is reused briefly
    assert decide(request(0.1), exploration_rate=0.02, rng=Draw(0.03)).reason is DecisionReason.CHEAPER_MODEL
    assert decide(request(0.1), exploration_rate=0.0, rng=Draw(0.0)).reason is DecisionReason.CHEAPER_MODEL
    # A seeded source explores at most about the configured share of decisions.
    rng = random.Random(7)
    reasons = [decide(request(0.1), exploration_rate=0.02, rng=rng).reason for _ in range(2_000)]
    assert 0 < reasons.count(DecisionReason.EXPLORATION) <= 0.03 * len(reasons)
    # Nothing to explore when even the upper bound is far below the target.
    assert (
        decide(request(0.9), exploration_rate=1.0, rng=Draw(0.0)).reason
        is DecisionReason.BELOW_QUALITY_TARGET
    )


@pytest.mark.parametrize("difficulty", [0.01, 0.5])
def test_modes(difficulty):
    on = decide(request(difficulty), RoutingSettings(mode="on"))
    off = decide(request(difficulty), RoutingSettings(mode="off"))
    assert (off.model, off.routed, off.reason, off.shadow_model) == (
        OPUS,
        False,
        DecisionReason.ROUTING_DISABLED,
        None,
    )
    shadow = decide(request(difficulty), RoutingSettings(mode="shadow"), rng=Draw(0.0))
    assert (shadow.model, shadow.routed, shadow.reason) == (OPUS, False, DecisionReason.SHADOW)
    assert shadow.shadow_model == (on.model if on.routed else None)
    assert shadow.explanation.startswith("shadow mode, served as requested: ")


def test_unknown_models_are_served_as_requested():
    decision = decide(request(0.01, model="claude-nova-9"))
    assert (decision.model, decision.routed, decision.reason) == (
        "claude-nova-9",
        False,
        DecisionReason.UNKNOWN_MODEL,
    )


def test_settings_validate_ranges_and_rules():
    with pytest.raises(ValueError):
        RoutingSettings(quality_target=0.4)
    with pytest.raises(ValueError):
        RoutingSettings(mode="auto")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CategoryRule(action="sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        RoutingSettings(log_retention_days=0)
