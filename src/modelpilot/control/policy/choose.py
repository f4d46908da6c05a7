"""The policy's choice for one request: pins and category rules first, then the cheapest
candidate whose estimated success meets the quality target, with bounded exploration."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from modelpilot.control.policy import explain
from modelpilot.control.policy.candidates import candidates, is_current, supports
from modelpilot.control.policy.estimate import Estimate, estimate, estimate_learned
from modelpilot.control.policy.outcomes import Outcomes, Tally
from modelpilot.control.policy.prior import Prior, load_prior
from modelpilot.control.policy.settings import RoutingSettings
from modelpilot.schema.catalog import Catalog, ModelSpec
from modelpilot.schema.wire import Category, DecisionReason, Features, RouteRequest


@dataclass(frozen=True, slots=True)
class Choice:
    """The model the policy would serve (``None``: the requested one), why, and in words."""

    model: str | None
    reason: DecisionReason
    explanation: str
    estimate: Estimate | None = None
    #: The cheapest allowed, capable candidate (what a paired check compares), chosen or not.
    candidate: str | None = None

    @property
    def is_cheaper(self) -> bool:
        return self.model is not None


def success_estimate(
    requested: ModelSpec,
    candidate: ModelSpec,
    category: Category,
    features: Features,
    *,
    outcomes: Outcomes | None = None,
    prior: Prior | None = None,
    reference: ModelSpec | None = None,
) -> Estimate:
    """The policy's estimated P(``candidate`` answers acceptably where ``requested`` would) for a
    request with these features: the offline prior updated with the deployment's ``outcomes``
    (none: the prior alone), or, when the proxy's local learner scored the request
    (``features.learned_acceptable``), that score in place of the prior (see
    :func:`~modelpilot.control.policy.estimate.estimate_learned`). ``reference`` is the candidate
    the learner's score is about (default: ``candidate``). ``bench/routing_quality.py`` scores
    requests with exactly this."""
    prior = prior or load_prior()
    tally = outcomes.of(category.value, requested.id, candidate.id) if outcomes is not None else Tally()
    learned = features.learned_acceptable
    if learned is not None:
        p = prior.learned_success(learned, requested, reference or candidate, candidate)
        return estimate_learned(p, tally, verdicts=features.learned_verdicts, strength=prior.strength)
    return estimate(prior.success(category, features, requested, candidate), tally, strength=prior.strength)


def candidate_estimates(
    requested: ModelSpec,
    request: RouteRequest,
    cheaper: list[ModelSpec],
    *,
    outcomes: Outcomes,
    prior: Prior,
) -> Iterator[tuple[ModelSpec, Estimate]]:
    """Each candidate (in the given order, cheapest first) with its estimated P(success), as
    :func:`success_estimate` computes it, lazily (the request's part of the prior once). A
    learned score is about the cheapest candidate, ``cheaper[0]``."""
    category = request.category.value
    features = request.features
    learned = features.learned_acceptable
    base = prior.failure_logit(request.category, features) if learned is None else 0.0
    for spec in cheaper:
        tally = outcomes.of(category, requested.id, spec.id)
        if learned is not None:
            p = prior.learned_success(learned, requested, cheaper[0], spec)
            yield (
                spec,
                estimate_learned(p, tally, verdicts=features.learned_verdicts, strength=prior.strength),
            )
        else:
            yield spec, estimate(prior.success_at(base, requested, spec), tally, strength=prior.strength)


def choose(
    catalog: Catalog,
    requested: ModelSpec,
    request: RouteRequest,
    settings: RoutingSettings,
    *,
    outcomes: Outcomes,
    prior: Prior,
    exploration_rate: float,
    rng: random.Random,
    now: datetime,
) -> Choice:
    """What routing would serve for ``request`` under ``settings`` (the mode is applied by the
    caller). ``rng`` decides exploration: pass a seeded one for reproducible decisions."""
    category = request.category
    allowed = set(settings.allowed_models) if settings.allowed_models is not None else None
    cheaper = candidates(catalog, requested, request.features, now=now, allowed=allowed)
    # What a paired check compares with the requested model, whatever is chosen below (none where
    # a pin or a category rule decides: no answer of another model could change that).
    paired = cheaper[0].id if cheaper else None
    pin = settings.pins.get(requested.id) or settings.pins.get(request.requested_model)
    if pin is not None and pin != requested.id:
        pinned = catalog.get(pin)
        if pinned is not None and is_current(pinned, now) and supports(pinned, request.features):
            return Choice(pinned.id, DecisionReason.PINNED, explain.pinned(requested.id, pinned.id))
        return Choice(None, DecisionReason.PINNED, explain.pin_unusable(requested.id, pin))
    rule = settings.category_rules.get(category)
    if rule is not None and rule.action == "never":
        return Choice(None, DecisionReason.CATEGORY_RULE, explain.category_never(category))
    target = (
        rule.quality_target
        if rule is not None and rule.quality_target is not None
        else settings.quality_target
    )
    if not cheaper:
        return Choice(None, DecisionReason.NO_CHEAPER_CANDIDATE, explain.no_candidate(requested.id))
    # Cheapest first, stopping at the first candidate that meets the target.
    scored: list[tuple[ModelSpec, Estimate]] = []
    meeting: tuple[ModelSpec, Estimate] | None = None
    for pair in candidate_estimates(requested, request, cheaper, outcomes=outcomes, prior=prior):
        if pair[1].mean >= target:
            meeting = pair
            break
        scored.append(pair)
    # Exploration tries a model cheaper than the one the estimates allow, whose upper credible
    # bound reaches the target: the only way a cheaper model earns the evidence it lacks.
    if scored and exploration_rate > 0 and rng.random() < exploration_rate:
        for spec, est in scored:
            if est.upper >= target:
                return Choice(
                    spec.id,
                    DecisionReason.EXPLORATION,
                    explain.exploring(spec.id, target, category, est),
                    est,
                    candidate=paired,
                )
    if meeting is not None:
        spec, est = meeting
        return Choice(
            spec.id,
            DecisionReason.CHEAPER_MODEL,
            explain.meets_target(spec.id, target, category, est),
            est,
            candidate=paired,
        )
    best_spec, best = max(scored, key=lambda pair: pair[1].mean)
    return Choice(
        None,
        DecisionReason.BELOW_QUALITY_TARGET,
        explain.below_target(target, category, best_spec.id, best),
        best,
        candidate=paired,
    )
