"""The routing decision. Until the routing policy lands, every request is answered with the
model it asked for; the contract (:class:`~modelpilot.schema.wire.RouteDecision`) is final."""

from __future__ import annotations

import uuid

from modelpilot.schema.catalog import Catalog
from modelpilot.schema.wire import DecisionReason, RouteDecision, RouteRequest, bucket_of


def decide_route(
    catalog: Catalog, request: RouteRequest, *, routing_enabled: bool, ttl_s: int
) -> RouteDecision:
    """Choose the model for ``request`` (for now: the requested one)."""
    if request.requested_model not in catalog:
        reason = DecisionReason.UNKNOWN_MODEL
    elif not routing_enabled:
        reason = DecisionReason.ROUTING_DISABLED
    else:
        reason = DecisionReason.REQUESTED_MODEL
    return RouteDecision(
        decision_id=str(uuid.uuid4()),
        model=request.requested_model,
        routed=False,
        reason=reason,
        ttl_s=ttl_s,
        bucket=bucket_of(request),
    )
