"""Control-plane trouble of every kind: the request goes upstream exactly as sent, and succeeds;
the breaker stops paying the timeout."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from tests.proxy.routing.conftest import REQUESTED, Harness, closed_port_url, plain_body
from tests.proxy.upstreams import CaptureUpstream, reply

ANSWER = orjson.dumps({"type": "message", "model": REQUESTED, "content": [{"type": "text", "text": "Hi."}]})


async def answer(_request: Any, send: Any) -> None:
    await reply(send, 200, ANSWER)


def control_plane_url(harness: Harness, kind: str) -> str:
    if kind == "refused":
        return closed_port_url()
    if kind == "tls":
        return harness.tls_control_plane()[1]
    mode = {"timeout": "hang", "invalid_body": "invalid_json"}.get(kind, kind)
    return harness.control_plane(mode=mode)[1]


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("refused", "refused"),
        ("timeout", "timeout"),
        ("status_500", "status_5xx"),
        ("status_401", "status_4xx"),
        ("invalid_body", "invalid_body"),
        ("wrong_schema", "invalid_body"),
        ("tls", "tls"),
    ],
)
def test_each_control_plane_failure_fails_open(
    harness: Harness, client_bytes: Any, kind: str, reason: str
) -> None:
    upstream = CaptureUpstream(answer)
    proxy = harness.proxy(
        control_plane_url(harness, kind), upstream_url=harness.serve(upstream), routing_budget_ms=150
    )
    sent = orjson.dumps(plain_body(7))
    status, body = client_bytes(proxy.url + "/v1/messages", sent)
    assert status == 200 and body == ANSWER
    assert upstream.last.body == sent  # exactly as the caller sent it
    (record,) = proxy.wait_records(1)
    assert record.fail_open_reason == reason and not record.routed and record.decision_id is None
    assert proxy.counts[f"fail_open:{reason}"] == 1


def test_the_caller_sees_the_fail_open_reason(harness: Harness) -> None:
    proxy = harness.proxy(closed_port_url())
    with proxy.sdk() as sdk:
        raw = sdk.messages.with_raw_response.create(**plain_body(8))
    assert raw.parse().model == REQUESTED
    assert raw.headers["x-modelpilot-fail-open"] == "refused"
    assert raw.headers["x-modelpilot-routed"] == "false"
    assert raw.headers["x-modelpilot-served-model"] == REQUESTED


def test_the_breaker_stops_paying_the_timeout(harness: Harness) -> None:
    control, url = harness.control_plane(mode="hang")
    proxy = harness.proxy(url, routing_budget_ms=100, breaker_failures=3, breaker_cooldown_s=60)
    with proxy.sdk() as sdk:
        for i in range(8):
            assert sdk.messages.create(**plain_body(i)).model == REQUESTED
    assert control.route_calls == 3
    assert proxy.counts["fail_open:timeout"] == 3
    assert proxy.counts["fail_open:circuit_open"] == 5
    assert [r.fail_open_reason for r in proxy.wait_records(8)][-5:] == ["circuit_open"] * 5


def test_after_the_cooldown_one_probe_closes_the_circuit(harness: Harness) -> None:
    control, url = harness.control_plane(mode="status_500")
    proxy = harness.proxy(url, breaker_failures=2, breaker_cooldown_s=0.2)
    with proxy.sdk() as sdk:
        for i in range(3):
            sdk.messages.create(**plain_body(i))
        assert control.route_calls == 2
        control.mode = "route"
        time.sleep(0.25)  # the cooldown is wall-clock time in a running proxy
        raw = sdk.messages.with_raw_response.create(**plain_body(10))
    assert raw.headers["x-modelpilot-routed"] == "true"
    assert control.route_calls == 3
