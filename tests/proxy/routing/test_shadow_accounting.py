"""Shadow mode on the proxy's side: the charge prices the delivered usage on the shadow model too,
and the plan says which model routing would have chosen (prices by hand, $/MTok = micros/token:
sonnet-4-5 3/15, haiku-4-5 1/5)."""

from __future__ import annotations

import uuid

from modelpilot.proxy.accounting import charge_request
from modelpilot.proxy.routing import RoutePlan
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.usage import Usage
from modelpilot.schema.wire import DecisionReason, RouteDecision
from tests.proxy.metering.records import NOW, record

CATALOG = load_catalog()
USAGE = Usage(input_tokens=1000, output_tokens=200)


def test_a_shadowed_request_carries_what_the_shadow_model_would_have_cost():
    charge = charge_request(record(USAGE, shadow_model="claude-haiku-4-5-20251001"), catalog=CATALOG, now=NOW)
    assert charge is not None
    assert (charge.actual_micros, charge.baseline_micros) == (6000, 6000)  # served as requested
    assert (charge.shadow_requests, charge.shadow_micros) == (1, 1000 + 1000)


def test_no_shadow_cost_without_a_priced_shadow_decision_or_when_routed():
    for rec in (
        record(USAGE),
        record(USAGE, shadow_model="claude-nova-9"),
        record(USAGE, shadow_model="claude-fable-5-2"),  # unpriced
        record(USAGE, served="claude-haiku-4-5", routed=True, shadow_model="claude-haiku-4-5"),
        record(None, shadow_model="claude-haiku-4-5"),
    ):
        charge = charge_request(rec, catalog=CATALOG, now=NOW)
        assert charge is None or (charge.shadow_requests, charge.shadow_micros) == (0, 0)


def decision(**fields: object) -> RouteDecision:
    values: dict[str, object] = {
        "decision_id": str(uuid.uuid4()),
        "model": "claude-sonnet-4-6",
        "routed": False,
        "reason": DecisionReason.SHADOW,
        "ttl_s": 60,
        "bucket": "chat:t0",
        "shadow_model": "claude-haiku-4-5",
    }
    values.update(fields)
    return RouteDecision.model_validate(values)


def test_the_plan_names_the_shadow_model_in_a_header():
    plan = RoutePlan(requested_model="claude-sonnet-4-6", decision=decision())
    assert plan.shadow_model == "claude-haiku-4-5"
    headers = dict(plan.headers(served_model="claude-sonnet-4-6", escalated=False))
    assert headers[b"x-modelpilot-shadow-model"] == b"claude-haiku-4-5"
    assert headers[b"x-modelpilot-routed"] == b"false"
    unshadowed = RoutePlan(requested_model="claude-sonnet-4-6", decision=decision(shadow_model=None))
    assert unshadowed.shadow_model is None
    assert b"x-modelpilot-shadow-model" not in dict(unshadowed.headers(served_model="x", escalated=False))
