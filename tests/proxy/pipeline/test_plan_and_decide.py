"""Stages 2 and 3, plan and decide: what is sent to the control plane for a request, and the one
control-plane client asking for the decision on its own pool, through in-memory transports."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import orjson
import pytest

from modelpilot.proxy.control_client import ControlPlaneClient
from modelpilot.proxy.decisions import DecisionClient
from modelpilot.proxy.errors import ControlPlaneError, UpstreamUnavailableError
from modelpilot.proxy.features.wire_request import (
    ROUTE_PATH,
    bucket_key,
    build_route_request,
    encode_route_request,
)
from modelpilot.proxy.routing import Router
from modelpilot.schema.wire import DecisionReason, RouteDecision, RouteRequest
from tests.proxy.pipeline.memory import MemoryUpstream, Reply, Sent

SECRET = "the launch code is 0000"
DOCUMENT = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 64,
    "system": SECRET,
    "messages": [{"role": "user", "content": f"Summarise: {SECRET}"}],
    "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
}
KEY = "mp_live_pipeline_test_key"


def decide(request: Sent) -> Reply:
    asked = RouteRequest.model_validate_json(request.body or b"")
    decision = RouteDecision(
        decision_id=str(uuid.uuid4()),
        model="claude-haiku-4-5",
        routed=True,
        reason=DecisionReason.CHEAPER_MODEL,
        ttl_s=60,
        bucket=bucket_key(asked),
    )
    return Reply(chunks=[decision.model_dump_json().encode()])


def test_the_wire_request_holds_numbers_and_flags_never_text() -> None:
    request = build_route_request(DOCUMENT)
    assert request is not None
    body = encode_route_request(request)
    assert SECRET.encode() not in body and b"lookup" not in body
    sent = orjson.loads(body)
    assert sent["requested_model"] == "claude-sonnet-4-6"
    assert sent["features"]["has_tools"] is True and sent["features"]["tool_count"] == 1
    assert build_route_request({**DOCUMENT, "model": "my-own-model"}) is None  # outside the catalog


async def test_decisions_go_through_their_own_pool_and_metering_through_the_other() -> None:
    bulk = MemoryUpstream(lambda _r: Reply(chunks=[b'{"ok": true}']))
    decisions = MemoryUpstream(decide)
    control = ControlPlaneClient(
        "http://control.test", api_key=KEY, timeout_s=5, transport=bulk, decision_transport=decisions
    )
    router = Router(DecisionClient(control, budget_ms=1000))
    plan = await router.plan(DOCUMENT, orjson.dumps(DOCUMENT), is_encoded=False)
    again = await router.plan({**DOCUMENT, "system": "other"}, orjson.dumps(DOCUMENT), is_encoded=False)
    assert plan.routed_model == "claude-haiku-4-5" and plan.routed_body is not None
    assert orjson.loads(plan.routed_body)["model"] == "claude-haiku-4-5"
    assert again.decision == plan.decision  # the same bucket: from the cache
    answer = await control.post_json("/v1/meter", {"rows": []})
    assert answer.is_success and answer.json == {"ok": True}
    [asked] = decisions.sent
    assert (asked.method, asked.target) == ("POST", ROUTE_PATH)
    assert asked.header("authorization") == f"Bearer {KEY}" and SECRET.encode() not in (asked.body or b"")
    assert [(s.method, s.target) for s in bulk.sent] == [("POST", "/v1/meter")]
    assert bulk.sent[0].header("authorization") == f"Bearer {KEY}"
    await control.aclose()
    assert bulk.is_closed and decisions.is_closed


async def test_a_transport_failure_is_one_error_naming_the_control_plane() -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, False, True, None, None, None),
        ConnectionRefusedError(),
    )

    def fail(_request: Sent) -> Reply:
        error = UpstreamUnavailableError("the upstream http://control.test is unreachable")
        error.__cause__ = refused
        raise error

    control = ControlPlaneClient(
        "http://control.test", api_key=KEY, timeout_s=5, transport=MemoryUpstream(fail)
    )
    with pytest.raises(ControlPlaneError) as caught:
        await control.get_json("/v1/config")
    assert caught.value.reason == "refused"
    assert "control plane" in str(caught.value) and "upstream" not in str(caught.value)


async def test_a_decision_is_bounded_by_the_routing_budget_and_fails_open() -> None:
    async def hang(_request: Sent) -> Reply:
        await asyncio.sleep(30)
        raise AssertionError("not reached")

    control = ControlPlaneClient(
        "http://control.test", api_key=KEY, timeout_s=5, decision_transport=MemoryUpstream(hang)
    )
    router = Router(DecisionClient(control, budget_ms=20))
    plan = await router.plan(DOCUMENT, orjson.dumps(DOCUMENT), is_encoded=False)
    assert plan.fail_open_reason == "timeout" and not plan.is_routed
    assert router.client.counts["fail_open:timeout"] == 1
