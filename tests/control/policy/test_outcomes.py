"""Verdicts (paired checks) in the policy's tallies: direct evidence, weighted above routed
answers, read from the aggregates on both databases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from modelpilot.control.policy.estimate import estimate
from modelpilot.control.policy.outcomes import (
    VERDICT_WEIGHT,
    OutcomeCache,
    OutcomeRow,
    Tally,
    tally_outcomes,
)
from modelpilot.control.policy.settings import RoutingSettings
from modelpilot.control.routing import decide_route, deployment_outcomes
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.wire import Category, Features, RouteRequest
from tests.control.billing.seed import add_account, add_deployment, add_usage

OPUS, HAIKU, SONNET = "claude-opus-4-6", "claude-haiku-4-5", "claude-sonnet-4-6"
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)


def test_verdicts_are_successes_and_failures_worth_more_than_routed_answers():
    outcomes = tally_outcomes([OutcomeRow("code", OPUS, HAIKU, False, 0, 0, judged=10, acceptable=7)])
    assert outcomes.of("code", OPUS, HAIKU) == Tally(7 * VERDICT_WEIGHT, 3 * VERDICT_WEIGHT)
    assert VERDICT_WEIGHT > 1
    # Both kinds add up in one cell: routed answers at one each, verdicts at VERDICT_WEIGHT.
    both = tally_outcomes(
        [
            OutcomeRow("code", OPUS, HAIKU, False, 40, 1),
            OutcomeRow("code", OPUS, HAIKU, False, 0, 0, judged=4, acceptable=2),
        ],
        verdict_weight=3.0,
    )
    assert both.of("code", OPUS, HAIKU) == Tally(40 + 3 * 2, 1 + 3 * 2)


def test_escalations_are_shared_by_routed_answers_not_by_verdicts():
    rows = [
        OutcomeRow("code", OPUS, HAIKU, False, 30, 0),
        # Many verdicts on sonnet, which served no routed request: escalations are not its doing.
        OutcomeRow("code", OPUS, SONNET, False, 0, 0, judged=100, acceptable=100),
        OutcomeRow("code", OPUS, OPUS, True, 6, 0),
    ]
    outcomes = tally_outcomes(rows)
    assert outcomes.of("code", OPUS, HAIKU) == Tally(30, 6)
    assert outcomes.of("code", OPUS, SONNET) == Tally(100 * VERDICT_WEIGHT, 0)


def test_a_cell_with_verdicts_only_still_takes_unattributed_escalations():
    rows = [
        OutcomeRow("qa", OPUS, HAIKU, False, 0, 0, judged=2, acceptable=2),
        OutcomeRow("qa", OPUS, OPUS, True, 3, 0),
    ]
    assert tally_outcomes(rows).of("qa", OPUS, HAIKU) == Tally(2 * VERDICT_WEIGHT, 3)


def test_impossible_counts_are_clamped():
    outcomes = tally_outcomes([OutcomeRow("qa", OPUS, HAIKU, False, 0, 0, judged=2, acceptable=5)])
    assert outcomes.of("qa", OPUS, HAIKU) == Tally(2 * VERDICT_WEIGHT, 0)


def test_verdicts_overrule_routed_answers_that_only_passed_the_local_checks():
    # 200 routed answers passed the checks, but the paired checks found only 60 % as good.
    rows = [
        OutcomeRow("code", OPUS, HAIKU, False, 200, 0),
        OutcomeRow("code", OPUS, HAIKU, True, 2, 0),
        OutcomeRow("code", OPUS, HAIKU, False, 0, 0, judged=50, acceptable=30),
    ]
    weighted = estimate(0.9, tally_outcomes(rows).of("code", OPUS, HAIKU), strength=20)
    unweighted = estimate(0.9, tally_outcomes(rows, verdict_weight=1.0).of("code", OPUS, HAIKU), strength=20)
    # At weight one the verdicts barely dent the estimate; weighted they pull it under a 95 % target.
    assert unweighted.mean > 0.88
    assert weighted.mean < 0.8
    assert weighted.mean < unweighted.mean


def test_good_verdicts_let_the_policy_route_what_the_prior_doubted():
    catalog = load_catalog()
    hard = RouteRequest(
        requested_model=OPUS,
        category=Category.CODE,
        features=Features(input_tokens_estimate=1_000, max_tokens=500, difficulty=0.9),
    )
    cold = decide_route(catalog, hard, ttl_s=300, now=NOW)
    assert cold.routed is False
    cheapest = cold.candidate_model
    assert cheapest is not None
    proven = tally_outcomes([OutcomeRow("code", OPUS, cheapest, False, 0, 0, judged=200, acceptable=200)])
    warm = decide_route(catalog, hard, outcomes=proven, ttl_s=300, now=NOW)
    assert (warm.routed, warm.model) == (True, cheapest)
    # The explanation names the measured evidence, unweighted: what a user can check on the
    # quality page.
    assert "200 of 200 paired checks acceptable" in warm.explanation


def test_the_explanation_counts_paired_checks_once_each():
    mixed = tally_outcomes([OutcomeRow("code", OPUS, HAIKU, False, 30, 0, judged=12, acceptable=9)])
    tally = mixed.of("code", OPUS, HAIKU)
    assert (tally.judged, tally.acceptable) == (12, 9)
    # An unattributed escalation keeps the cell's paired-check counts.
    escalated = tally_outcomes(
        [
            OutcomeRow("code", OPUS, HAIKU, False, 0, 0, judged=3, acceptable=1),
            OutcomeRow("code", OPUS, OPUS, True, 2, 0),
        ]
    )
    cell = escalated.of("code", OPUS, HAIKU)
    assert cell.failures == 5 * 2 + 2  # two weighted failed verdicts, two unattributed escalations
    assert (cell.judged, cell.acceptable) == (3, 1)


def test_deployment_outcomes_read_verdicts_of_routed_and_unrouted_checks(engine):
    deployment = add_deployment(engine, add_account(engine, "verdicts@example.com"), "prod")
    hour = NOW - timedelta(hours=2)
    add_usage(engine, deployment, hour, actual=10, baseline=90, requests=12, requested=OPUS, served=HAIKU)
    # Verdicts merged into the routed bucket, and a calibration row the policy had not chosen.
    add_usage(
        engine,
        deployment,
        hour,
        actual=0,
        baseline=0,
        requests=0,
        routed=False,
        requested=OPUS,
        served=HAIKU,
        category="code",
        judged=6,
        acceptable=4,
        calibration_cost_micros=77,
    )
    add_usage(
        engine,
        deployment,
        hour - timedelta(hours=1),
        actual=1,
        baseline=9,
        requests=2,
        requested=OPUS,
        served=HAIKU,
        judged=3,
        acceptable=3,
    )
    # Unrouted traffic without verdicts is no evidence, and old verdicts have aged out.
    add_usage(
        engine, deployment, hour, actual=5, baseline=5, requests=50, routed=False, requested=OPUS, served=OPUS
    )
    add_usage(
        engine,
        deployment,
        NOW - timedelta(days=30),
        actual=0,
        baseline=0,
        requests=0,
        routed=False,
        requested=OPUS,
        served=HAIKU,
        judged=100,
        acceptable=0,
    )
    with Session(engine) as db:
        outcomes = deployment_outcomes(db, OutcomeCache(), deployment_id=deployment, now=NOW)
    assert outcomes.of("code", OPUS, HAIKU) == pytest.approx(
        Tally(12 + 2 + VERDICT_WEIGHT * (4 + 3), VERDICT_WEIGHT * 2)
    )


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "cheapest"),
        ({"mode": "shadow"}, "cheapest"),
        ({"mode": "off"}, None),
        ({"category_rules": {Category.CODE: {"action": "never"}}}, None),
        ({"pins": {OPUS: SONNET}}, None),
        ({"allowed_models": [SONNET]}, SONNET),
    ],
)
def test_decisions_name_the_candidate_a_paired_check_compares(settings, expected):
    catalog = load_catalog()
    hard = RouteRequest(
        requested_model=OPUS,
        category=Category.CODE,
        features=Features(input_tokens_estimate=1_000, max_tokens=500, difficulty=0.9),
    )
    decision = decide_route(
        catalog, hard, settings=RoutingSettings.model_validate(settings), ttl_s=300, now=NOW
    )
    if expected == "cheapest":
        # The cheapest capable model, chosen or not (this hard request is not routed).
        assert decision.candidate_model is not None and decision.candidate_model != OPUS
        assert catalog.get(decision.candidate_model).line == "haiku"
    else:
        assert decision.candidate_model == expected
