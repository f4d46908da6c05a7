"""The decision client's pure parts: bucket key, breaker, cache, failure kinds (through the
transport seam, with plain stand-ins for the control plane), and the body rewrite."""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelpilot.control.routing import decide_route
from modelpilot.proxy.control_client import ControlPlaneClient
from modelpilot.proxy.decisions import (
    BreakerState,
    CircuitBreaker,
    DecisionCache,
    DecisionClient,
    bucket_key,
    build_route_request,
    encode_route_request,
)
from modelpilot.proxy.errors import ControlPlaneError, UpstreamTimeoutError, UpstreamUnavailableError
from modelpilot.proxy.routing import rewrite_model
from modelpilot.proxy.upstream import RequestBody, UpstreamResponse
from modelpilot.schema.catalog import load_catalog
from modelpilot.schema.wire import Category, DecisionReason, Features, RouteDecision, RouteRequest


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


features = st.builds(
    Features,
    input_tokens_estimate=st.integers(0, 300_000),
    has_tools=st.booleans(),
    thinking=st.booleans(),
    has_response_schema=st.booleans(),
    streaming=st.booleans(),
    difficulty=st.floats(0, 1),
)
route_requests = st.builds(
    RouteRequest,
    requested_model=st.just("claude-sonnet-4-6"),
    category=st.sampled_from(Category),
    features=features,
)


@settings(max_examples=300, deadline=None)
@given(request=route_requests)
def test_the_local_bucket_is_the_control_planes_bucket(request: RouteRequest) -> None:
    decided = decide_route(load_catalog(), request, routing_enabled=True, ttl_s=60)
    assert bucket_key(request) == decided.bucket


def decision(bucket: str = "chat:t0", ttl_s: int = 60, model: str = "claude-haiku-4-5") -> RouteDecision:
    return RouteDecision(
        decision_id=str(uuid.uuid4()),
        model=model,
        routed=True,
        reason=DecisionReason.CHEAPER_MODEL,
        ttl_s=ttl_s,
        bucket=bucket,
    )


def state(breaker: CircuitBreaker) -> BreakerState:
    return breaker.state  # a call, so that mypy does not narrow the attribute across calls


def test_breaker_opens_after_n_failures_and_probes_once_after_the_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown_s=30, clock=clock)
    for _ in range(2):
        assert breaker.allows_call()
        breaker.record_failure()
    assert state(breaker) is BreakerState.CLOSED
    breaker.record_success()  # a success resets the consecutive count
    for _ in range(3):
        breaker.record_failure()
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allows_call()
    clock.now += 29.9
    assert not breaker.allows_call()
    clock.now += 0.1
    assert breaker.allows_call()  # the probe
    assert state(breaker) is BreakerState.HALF_OPEN
    assert not breaker.allows_call()  # only one probe at a time
    breaker.record_failure()  # the probe failed: open again, for a whole cooldown
    assert state(breaker) is BreakerState.OPEN
    assert not breaker.allows_call()
    clock.now += 30
    assert breaker.allows_call()
    breaker.record_success()
    assert state(breaker) is BreakerState.CLOSED
    assert breaker.allows_call() and breaker.allows_call()


def test_cache_honours_the_servers_ttl_and_bounds() -> None:
    clock = Clock()
    cache = DecisionCache(max_entries=2, clock=clock)
    first = decision("chat:t0", ttl_s=10)
    cache.put("claude-sonnet-4-6", first)
    assert cache.get("claude-sonnet-4-6", "chat:t0") == first
    assert cache.get("claude-opus-4-6", "chat:t0") is None  # keyed by requested model too
    clock.now += 9.99
    assert cache.get("claude-sonnet-4-6", "chat:t0") == first
    clock.now += 0.01
    assert cache.get("claude-sonnet-4-6", "chat:t0") is None
    cache.put("claude-sonnet-4-6", decision("code:t1", ttl_s=0))
    assert len(cache) == 0  # ttl 0: not cached
    for bucket in ("a:t1", "b:t1", "c:t1"):
        cache.put("m", decision(bucket))
    assert len(cache) == 2 and cache.get("m", "a:t1") is None


# -- the client through its transport seam --------------------------------------------------------
class Answer:
    """An UpstreamResponse standing in for the control plane's answer."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.raw_headers: Sequence[tuple[bytes, bytes]] = []
        self._body = body
        self.released = self.closed = False

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        yield self._body

    def close(self) -> None:
        self.closed = True

    def release(self) -> None:
        self.released = True


class Transport:
    """An UpstreamClient: ``behaviour(body)`` returns an Answer or raises."""

    def __init__(self, behaviour: Any) -> None:
        self.behaviour = behaviour
        self.sent: list[tuple[str, str, list[tuple[str, str]], RequestBody]] = []

    async def send(
        self, method: str, target: str, headers: list[tuple[str, str]], body: RequestBody
    ) -> UpstreamResponse:
        self.sent.append((method, target, headers, body))
        result = self.behaviour(body)
        if asyncio.iscoroutine(result):
            result = await result
        return result  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        pass


_REQUEST = build_route_request(
    {"model": "claude-sonnet-4-6", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
)
assert _REQUEST is not None
REQUEST: RouteRequest = _REQUEST


def good(body: Any) -> Answer:
    request = RouteRequest.model_validate_json(body)
    return Answer(200, decision(bucket_key(request)).model_dump_json().encode())


def raises(error: Exception) -> Any:
    def behaviour(_body: Any) -> Answer:
        raise error

    return behaviour


def caused(error: Exception, cause: BaseException) -> Exception:
    error.__cause__ = cause
    return error


async def hang(_body: Any) -> Answer:
    await asyncio.sleep(10)
    raise AssertionError("not reached")


cert_error = aiohttp.ClientConnectorCertificateError(
    aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, True, True, None, None, None),
    ssl.SSLCertVerificationError(),
)
refused = aiohttp.ClientConnectorError(
    aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 1, False, True, None, None, None),
    ConnectionRefusedError(),
)


def control_over(transport: Transport, api_key: str) -> ControlPlaneClient:
    """The proxy's control-plane client with ``transport`` as its decisions pool."""
    return ControlPlaneClient(
        "http://control.test", api_key=api_key, timeout_s=5, transport=transport, decision_transport=transport
    )


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (raises(caused(UpstreamUnavailableError("x"), refused)), "refused"),
        (raises(caused(UpstreamUnavailableError("x"), cert_error)), "tls"),
        (raises(caused(UpstreamUnavailableError("x"), aiohttp.ServerDisconnectedError())), "unavailable"),
        (raises(UpstreamTimeoutError("x")), "timeout"),
        (hang, "timeout"),
        (lambda _b: Answer(401, b"{}"), "status_4xx"),
        (lambda _b: Answer(503, b"{}"), "status_5xx"),
        (lambda _b: Answer(200, b"not json"), "invalid_body"),
        (lambda _b: Answer(200, b'{"model": "claude-haiku-4-5"}'), "invalid_body"),
        (lambda _b: Answer(200, b" " * 70_000), "invalid_body"),
    ],
)
async def test_every_failure_kind_fails_open_counted(behaviour: Any, reason: str) -> None:
    client = DecisionClient(control_over(Transport(behaviour), "mp_k"), budget_ms=20)
    with pytest.raises(ControlPlaneError) as caught:
        await client.decide(REQUEST)
    assert caught.value.reason == reason
    assert client.counts[f"fail_open:{reason}"] == 1
    assert client.breaker.failures == 1


async def test_what_is_sent_and_the_cache_and_the_breaker() -> None:
    clock = Clock()
    transport = Transport(good)
    client = DecisionClient(
        control_over(transport, "mp_key"), breaker_failures=2, breaker_cooldown_s=5, clock=clock
    )
    first = await client.decide(REQUEST)
    again = await client.decide(REQUEST)
    assert again == first and len(transport.sent) == 1 and client.counts["cache_hits"] == 1
    method, target, headers, body = transport.sent[0]
    assert (method, target, body) == ("POST", "/v1/route", encode_route_request(REQUEST))
    assert isinstance(body, bytes)
    assert headers == [
        ("content-type", "application/json"),
        ("authorization", "Bearer mp_key"),
        ("content-length", str(len(body))),
    ]
    clock.now += 60  # the decision expired
    transport.behaviour = lambda _b: Answer(500, b"")
    for _ in range(2):
        with pytest.raises(ControlPlaneError):
            await client.decide(REQUEST)
    with pytest.raises(ControlPlaneError) as caught:
        await client.decide(REQUEST)
    assert caught.value.reason == "circuit_open" and len(transport.sent) == 3
    clock.now += 5
    transport.behaviour = good
    assert (await client.decide(REQUEST)).routed  # the half-open probe succeeded
    assert state(client.breaker) is BreakerState.CLOSED


# -- the body rewrite -------------------------------------------------------------------------------
def test_rewrite_splices_only_the_model_value() -> None:
    body = (
        b'{ "max_tokens" : 5, "messages": [{"role": "user", "content": "say \\"model\\": x"}],\n'
        b'  "tools": [{"name": "t", "input_schema": {"type": "object", "properties": {"model": {"type": "string"}}}}],\n'
        b'  "model"  :  "claude-sonnet-4-6", "metadata": {"model": "claude-sonnet-4-6"} }'
    )
    document = orjson.loads(body)
    out = rewrite_model(body, document, "claude-haiku-4-5")
    assert out == body.replace(b'"model"  :  "claude-sonnet-4-6"', b'"model"  :  "claude-haiku-4-5"')


def test_rewrite_with_an_escaped_key() -> None:
    body = b'{"nested": {"model": "claude-sonnet-4-6"}, "mod\\u0065l": "claude-sonnet-4-6", "max_tokens": 1}'
    out = rewrite_model(body, orjson.loads(body), "claude-haiku-4-5")
    assert (
        out
        == b'{"nested": {"model": "claude-sonnet-4-6"}, "mod\\u0065l": "claude-haiku-4-5", "max_tokens": 1}'
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["model", "a", 'b"', "c\\"]), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(
    rest=st.dictionaries(st.sampled_from(["messages", "system", "tools", "x"]), json_values, max_size=4),
    at=st.integers(0, 4),
    indent=st.booleans(),
)
def test_rewrite_changes_exactly_the_top_level_model(rest: dict[str, Any], at: int, indent: bool) -> None:
    items = list(rest.items())
    items.insert(min(at, len(items)), ("model", "claude-sonnet-4-6"))
    document = dict(items)
    body = orjson.dumps(document, option=orjson.OPT_INDENT_2 if indent else 0)
    out = rewrite_model(body, orjson.loads(body), "claude-haiku-4-5")
    assert orjson.loads(out) == {**document, "model": "claude-haiku-4-5"}
    assert len(out) == len(body) - 1  # one byte shorter: nothing else was re-encoded


def test_plan_headers_never_carry_the_callers_text() -> None:
    from modelpilot.proxy.routing import RoutePlan

    plan = RoutePlan(requested_model="x\r\nset-cookie: a=b", fail_open_reason="refused")
    headers = dict(plan.headers(served_model=plan.requested_model, escalated=False))
    assert headers == {
        b"x-modelpilot-routed": b"false",
        b"x-modelpilot-escalated": b"false",
        b"x-modelpilot-fail-open": b"refused",
    }
