"""The prior (same arithmetic as the proxy's score), the Beta posterior and outcome tallies."""

from __future__ import annotations

import uuid

import pytest

from modelpilot.control.policy.estimate import estimate
from modelpilot.control.policy.outcomes import OutcomeCache, OutcomeRow, Tally, tally_outcomes
from modelpilot.control.policy.prior import load_prior
from modelpilot.proxy.decisions import wire_features
from modelpilot.proxy.features import extract_features, need_strong_score
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.wire import Category, Features

CATALOG = load_catalog()
REQUESTS = [
    {"max_tokens": 64, "messages": [{"role": "user", "content": "hi there, how are you?"}]},
    {
        "max_tokens": 2048,
        "messages": [{"role": "user", "content": "Prove that there are infinitely many primes."}],
    },
    {
        "max_tokens": 1024,
        "thinking": {"type": "enabled", "budget_tokens": 512},
        "messages": [{"role": "user", "content": "def f(x):\n    return x*2\n# why does this fail on None?"}],
    },
    {
        "max_tokens": 512,
        "tools": [{"name": "get", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "tool", "name": "get"},
        "messages": [{"role": "user", "content": "Fetch the weather in Paris."}],
    },
]


@pytest.mark.parametrize("body", REQUESTS)
def test_the_prior_scores_need_for_the_strong_model_as_the_proxy_does(body):
    local = extract_features({**body, "model": "claude-opus-4-6"})
    ours = load_prior().need_strong(local.category, wire_features(local))
    assert ours == pytest.approx(need_strong_score(local), abs=1e-9)


def test_success_falls_with_difficulty_and_rises_as_lines_get_closer():
    prior = load_prior()
    opus, sonnet, haiku = (
        CATALOG.get(m) for m in ("claude-opus-4-6", "claude-sonnet-4-6", "claude-haiku-4-5")
    )
    assert opus and sonnet and haiku
    easy, hard = Features(difficulty=0.05), Features(difficulty=0.6)
    assert prior.success(Category.QA, easy, opus, haiku) > prior.success(Category.QA, hard, opus, haiku)
    assert prior.success(Category.QA, hard, opus, sonnet) > prior.success(Category.QA, hard, opus, haiku)
    assert prior.success(Category.AGENTIC, easy, opus, haiku) < prior.success(
        Category.CHAT, easy, opus, haiku
    )


def test_the_posterior_moves_from_the_prior_toward_the_observed_rate():
    no_data = estimate(0.9, Tally(), strength=20)
    assert no_data.mean == pytest.approx(0.9) and no_data.outcomes == 0
    good = estimate(0.9, Tally(successes=200, failures=2), strength=20)
    bad = estimate(0.9, Tally(successes=50, failures=50), strength=20)
    assert good.mean > 0.97 and bad.mean < 0.6
    assert good.outcomes == 202
    # The upper bound is wide with little evidence and tight with a lot.
    few = estimate(0.9, Tally(successes=5, failures=1), strength=20)
    many = estimate(0.9, Tally(successes=500, failures=100), strength=20)
    assert few.upper - few.mean > many.upper - many.mean > 0


def test_tallies_attribute_escalations_to_the_candidates_of_their_cell():
    rows = [
        OutcomeRow("code", "claude-opus-4-6", "claude-haiku-4-5", False, 30, 2),
        OutcomeRow("code", "claude-opus-4-6", "claude-sonnet-4-6", False, 10, 0),
        # Escalated requests are metered under the requested model that delivered the answer.
        OutcomeRow("code", "claude-opus-4-6", "claude-opus-4-6", True, 8, 0),
        OutcomeRow("qa", "claude-opus-4-6", "claude-opus-4-6", True, 4, 0),
    ]
    outcomes = tally_outcomes(rows)
    haiku = outcomes.of("code", "claude-opus-4-6", "claude-haiku-4-5")
    sonnet = outcomes.of("code", "claude-opus-4-6", "claude-sonnet-4-6")
    assert haiku.successes == 30 and haiku.failures == pytest.approx(2 + 6)
    assert sonnet.successes == 10 and sonnet.failures == pytest.approx(2)
    # No candidate served a qa request: the escalations count against any of them.
    assert outcomes.of("qa", "claude-opus-4-6", "claude-haiku-5-5").failures == 4
    assert outcomes.of("math", "claude-opus-4-6", "claude-haiku-4-5") == Tally()


def test_the_outcome_cache_loads_once_per_ttl():
    now = [1000.0]
    loads: list[int] = []
    cache = OutcomeCache(ttl_s=30, clock=lambda: now[0])
    deployment = uuid.uuid4()

    def load() -> list[OutcomeRow]:
        loads.append(1)
        return [OutcomeRow("code", "claude-opus-4-6", "claude-haiku-4-5", False, len(loads), 0)]

    first = cache.get(deployment, load)
    now[0] += 29
    assert cache.get(deployment, load) is first
    now[0] += 2
    assert cache.get(deployment, load).of("code", "claude-opus-4-6", "claude-haiku-4-5").successes == 2
    assert len(loads) == 2
    cache.get(uuid.uuid4(), load)
    assert len(loads) == 3
