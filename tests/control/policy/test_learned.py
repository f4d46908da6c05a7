"""The policy with the proxy's learned score: it replaces the prior's per-request estimate, keeps
requests apart within a busy cell, carries over to other lines, and every decision names the
candidate a paired check compares."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from modelpilot.control.policy.choose import success_estimate
from modelpilot.control.policy.estimate import estimate, estimate_learned
from modelpilot.control.policy.outcomes import OutcomeRow, Outcomes, Tally, tally_outcomes
from modelpilot.control.policy.prior import load_prior
from modelpilot.control.policy.settings import CategoryRule, RoutingSettings
from modelpilot.control.routing import decide_route
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.wire import Category, DecisionReason, Features, RouteRequest

NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
CATALOG = load_catalog()
OPUS = "claude-opus-4-6"
HAIKU = "claude-haiku-4-5"


def request(learned: float | None, *, verdicts: int = 300, difficulty: float = 0.5) -> RouteRequest:
    return RouteRequest(
        requested_model=OPUS,
        category=Category.QA,
        features=Features(
            input_tokens_estimate=1_000,
            max_tokens=500,
            difficulty=difficulty,
            learned_acceptable=learned,
            learned_verdicts=verdicts if learned is not None else 0,
        ),
    )


def decide(req: RouteRequest, settings: RoutingSettings | None = None, outcomes: Outcomes | None = None):
    return decide_route(
        CATALOG,
        req,
        settings=settings or RoutingSettings(),
        outcomes=outcomes or Outcomes(),
        ttl_s=60,
        now=NOW,
    )


def spec(model: str):
    found = CATALOG.get(model)
    assert found is not None
    return found


def test_the_learned_score_replaces_the_priors_estimate():
    hard_by_prior = request(None, difficulty=0.6)
    learned_easy = request(0.99, difficulty=0.6)
    prior_only = success_estimate(spec(OPUS), spec(HAIKU), Category.QA, hard_by_prior.features)
    learned = success_estimate(spec(OPUS), spec(HAIKU), Category.QA, learned_easy.features)
    assert prior_only.mean < 0.6 and prior_only.learned_verdicts == 0
    assert learned.mean == pytest.approx(0.99) and learned.learned_verdicts == 300
    decision = decide(learned_easy)
    assert decision.routed and decision.reason is DecisionReason.CHEAPER_MODEL
    assert "learned locally from 300 verdicts" in decision.explanation
    assert not decide(request(0.3, difficulty=0.6)).routed


def test_a_busy_cell_does_not_flatten_the_requests_in_it():
    cell = Tally(successes=9_000, failures=1_000)  # a cell averaging 90 %
    easy = estimate_learned(0.99, cell, verdicts=300, strength=20)
    hard = estimate_learned(0.40, cell, verdicts=300, strength=20)
    # At most half-way toward the cell average: the two stay far apart and in order.
    assert easy.mean > 0.94 and hard.mean < 0.66
    assert easy.mean - hard.mean > (0.99 - 0.40) / 2 - 1e-9
    # The plain Beta blend would have made them nearly the same.
    assert estimate(0.99, cell, strength=20).mean - estimate(0.40, cell, strength=20).mean < 0.01
    # With no outcomes, the learned value as it is.
    assert estimate_learned(0.7, Tally(), verdicts=50, strength=20).mean == pytest.approx(0.7)


def test_the_cells_outcomes_still_move_the_level():
    rows = [
        OutcomeRow("qa", OPUS, HAIKU, False, 10, 0),
        OutcomeRow("qa", OPUS, HAIKU, True, 500, 0),
    ]
    outcomes = tally_outcomes(rows)
    features = request(0.97).features
    alone = success_estimate(spec(OPUS), spec(HAIKU), Category.QA, features)
    failing_cell = success_estimate(spec(OPUS), spec(HAIKU), Category.QA, features, outcomes=outcomes)
    assert failing_cell.mean < alone.mean


def test_a_learned_score_carries_over_to_a_closer_line():
    prior = load_prior()
    sonnet = next(s for s in CATALOG.models if s.line == "sonnet" and CATALOG.get(s.id) is s)
    closer = prior.learned_success(0.8, spec(OPUS), spec(HAIKU), sonnet)
    assert closer > 0.8
    assert prior.learned_success(0.8, spec(OPUS), spec(HAIKU), spec(HAIKU)) == 0.8


@pytest.mark.parametrize("mode", ["on", "shadow"])
def test_every_decision_names_the_cheapest_capable_candidate(mode: str):
    settings = RoutingSettings(mode=mode)
    routed = decide(request(0.99), settings)
    stays = decide(request(0.1), settings)
    assert routed.candidate_model is not None
    assert routed.candidate_model == stays.candidate_model
    assert not stays.routed
    cheapest = routed.candidate_model
    assert spec(cheapest).line == "haiku"
    if mode == "shadow":
        assert routed.shadow_model == cheapest and stays.shadow_model is None
    never = RoutingSettings(mode=mode, category_rules={Category.QA: CategoryRule(action="never")})
    # A never-rule decides whatever another model answers: no paired check is offered.
    assert decide(request(0.99), never).candidate_model is None
    limited = RoutingSettings(mode=mode, allowed_models=[OPUS])
    assert decide(request(0.99), limited).candidate_model is None
