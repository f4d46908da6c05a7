"""The routing decision for one ``POST /v1/route``: the deployment's mode applied to the policy's
choice (:mod:`modelpilot.control.policy`), as a :class:`~modelpilot.schema.wire.RouteDecision`.

- ``off``: the requested model (``routing_disabled``);
- ``shadow``: the requested model, with ``shadow_model`` = what routing would have chosen, so the
  proxy meters what it would have saved (no exploration: shadow traffic teaches nothing);
- ``on``: the chosen model.

In modes ``shadow`` and ``on`` a decision also names ``candidate_model``, the cheaper model a
paired check (calibration) compares with the requested one: the cheapest allowed model that can
take the request, whether or not the policy chose it. None when routing is off, for a category
whose rule is ``never``, for a pinned requested model, and when no cheaper model qualifies.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.orm import Session

from modelpilot.control.policy import explain
from modelpilot.control.policy.choose import choose
from modelpilot.control.policy.outcomes import OutcomeCache, OutcomeRow, Outcomes
from modelpilot.control.policy.prior import Prior, load_prior
from modelpilot.control.policy.settings import RoutingSettings
from modelpilot.control.store.queries import deployments as queries
from modelpilot.schema.catalog import Catalog
from modelpilot.schema.wire import DecisionReason, RouteDecision, RouteRequest, bucket_of

#: How far back a deployment's own outcomes count: long enough to accumulate evidence, short
#: enough that a model update or a changed workload is not outvoted by old history.
OUTCOME_WINDOW = timedelta(days=14)
# An exploring decision is cached by the proxy for the whole bucket: keep that window short.
_EXPLORATION_TTL_SHARE = 10


def _decision(
    request: RouteRequest,
    *,
    model: str,
    reason: DecisionReason,
    explanation: str,
    ttl_s: int,
    routed: bool = False,
    shadow_model: str | None = None,
    candidate_model: str | None = None,
) -> RouteDecision:
    return RouteDecision(
        decision_id=str(uuid.uuid4()),
        model=model,
        routed=routed,
        reason=reason,
        ttl_s=ttl_s,
        bucket=bucket_of(request),
        explanation=explain.clip(explanation),
        shadow_model=shadow_model,
        candidate_model=candidate_model,
    )


def decide_route(
    catalog: Catalog,
    request: RouteRequest,
    *,
    settings: RoutingSettings | None = None,
    outcomes: Outcomes | None = None,
    ttl_s: int,
    exploration_rate: float = 0.0,
    rng: random.Random | None = None,
    now: datetime | None = None,
    prior: Prior | None = None,
    routing_enabled: bool | None = None,
) -> RouteDecision:
    """Choose the model for ``request`` under a deployment's ``settings`` (default: routing on at
    the default target) and its ``outcomes`` (default: none yet, the prior alone). ``rng`` draws
    exploration (default: none). ``routing_enabled=False`` is the old spelling of mode ``off``,
    kept until every caller passes ``settings``."""
    settings = settings or RoutingSettings()
    if routing_enabled is False:
        settings = settings.model_copy(update={"mode": "off"})
    outcomes = outcomes or Outcomes()
    now = now or datetime.now(UTC)
    if rng is None:
        rng, exploration_rate = random.Random(0), 0.0
    requested = catalog.get(request.requested_model)
    if requested is None:
        return _decision(
            request,
            model=request.requested_model,
            reason=DecisionReason.UNKNOWN_MODEL,
            explanation=explain.unknown_model(request.requested_model),
            ttl_s=ttl_s,
        )
    if settings.mode == "off":
        return _decision(
            request,
            model=request.requested_model,
            reason=DecisionReason.ROUTING_DISABLED,
            explanation=explain.ROUTING_OFF,
            ttl_s=ttl_s,
        )
    choice = choose(
        catalog,
        requested,
        request,
        settings,
        outcomes=outcomes,
        prior=prior or load_prior(),
        exploration_rate=exploration_rate if settings.mode == "on" else 0.0,
        rng=rng,
        now=now,
    )
    if settings.mode == "shadow":
        return _decision(
            request,
            model=request.requested_model,
            reason=DecisionReason.SHADOW,
            explanation=explain.shadow(choice.explanation),
            ttl_s=ttl_s,
            shadow_model=choice.model,
            candidate_model=choice.candidate,
        )
    if choice.reason is DecisionReason.EXPLORATION:
        ttl_s = max(1, ttl_s // _EXPLORATION_TTL_SHARE) if ttl_s > 0 else 0
    return _decision(
        request,
        model=choice.model or request.requested_model,
        routed=choice.model is not None,
        reason=choice.reason,
        explanation=choice.explanation,
        ttl_s=ttl_s,
        candidate_model=choice.candidate,
    )


def deployment_outcomes(
    session: Session, cache: OutcomeCache, *, deployment_id: uuid.UUID, now: datetime
) -> Outcomes:
    """The deployment's routed outcomes of the last :data:`OUTCOME_WINDOW`, through ``cache``."""

    def load() -> list[OutcomeRow]:
        since = now - OUTCOME_WINDOW
        rows = queries.routed_outcome_sums(session, deployment_id=deployment_id, since=since)
        return [OutcomeRow(*row) for row in rows]

    return cache.get(deployment_id, load)
