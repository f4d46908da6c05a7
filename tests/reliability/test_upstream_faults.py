"""Issue 9, item 2: upstream faults. Unrouted requests (the control plane chose the requested
model, the control plane is down, or the model is outside the catalog) get the upstream's error
exactly as it came: status, body bytes and retry headers. Routed ones escalate only where
DESIGN.md §4 says (an error before any byte reached the caller); once a routed stream has started,
a mid-stream error event or a cut connection reaches the caller as it happened.

What exists: escalation of routed 429/500/529 (JSON and streams), timeouts and cut answers
(tests/proxy/routing/test_routing.py); unrouted 529 pass-through without a control plane
(tests/proxy/test_errors.py); mid-stream errors, disconnects and caller disconnects without
routing (tests/e2e/test_sdk_through_proxy.py, tests/proxy/test_streaming.py)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from tests.proxy.routing.conftest import (
    CHEAP,
    REQUESTED,
    Harness,
    cheap_behaves,
    closed_port_url,
    plain_body,
)
from tests.proxy.upstreams import CaptureUpstream, Received, Send, reply
from tests.reliability import canaries
from tests.reliability.scenarios import Scenario, record

ERRORS = {
    429: b'{"type":"error","error":{"type":"rate_limit_error","message":"Slow down."},"request_id":"req_011CReliability429"}',
    500: b'{"type":"error","error":{"type":"api_error","message":"Internal."},"request_id":"req_011CReliability500"}',
    503: b'{"type":"error","error":{"type":"api_error","message":"Unavailable."},"request_id":"req_011CReliability503"}',
    529: b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded."},"request_id":"req_011CReliability529"}',
}
RETRY_HEADERS = [(b"retry-after", b"7"), (b"retry-after-ms", b"7000"), (b"x-should-retry", b"true")]


def failing_upstream(status: int) -> CaptureUpstream:
    async def answer(_request: Received, send: Send) -> None:
        await reply(
            send,
            status,
            ERRORS[status],
            [
                (b"content-type", b"application/json"),
                (b"request-id", f"req_011CReliability{status}".encode()),
                *RETRY_HEADERS,
            ],
        )

    return CaptureUpstream(answer)


async def post(url: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            url + "/v1/messages",
            data=body,
            headers={"content-type": "application/json", "x-api-key": canaries.ANTHROPIC_KEY},
        ) as response,
    ):
        return response.status, {k.lower(): v for k, v in response.headers.items()}, await response.read()


@pytest.mark.parametrize("status", sorted(ERRORS))
@pytest.mark.parametrize(
    "unrouted", ["decision: requested model", "control plane down", "model outside the catalog"]
)
def test_unrouted_requests_get_the_upstream_error_unchanged(
    harness: Harness, status: int, unrouted: str
) -> None:
    upstream = failing_upstream(status)
    if unrouted == "control plane down":
        control_url = closed_port_url()
    else:
        _, control_url = harness.control_plane(
            mode="requested" if unrouted.startswith("decision") else "route"
        )
    proxy = harness.proxy(control_url, upstream_url=harness.serve(upstream))
    body = plain_body(status)
    if unrouted == "model outside the catalog":
        body["model"] = "gpt-4o"  # not a Claude id: the control plane is never asked
    sent = orjson.dumps(body)
    got, headers, answer = asyncio.run(post(proxy.url, sent))
    assert (got, answer) == (status, ERRORS[status])
    for name, value in RETRY_HEADERS:
        assert headers[name.decode()] == value.decode()
    assert headers["request-id"] == f"req_011CReliability{status}"
    assert [r.body for r in upstream.requests] == [sent]  # sent once, as the caller sent it
    assert headers.get("x-modelpilot-escalated", "false") == "false"


def test_a_routed_stream_that_errors_mid_stream_reaches_the_caller_as_it_happened(harness: Harness) -> None:
    _, control_url = harness.control_plane()
    proxy = harness.proxy(control_url)
    body = cheap_behaves("normal", plain_body)
    fault = {"x-sim-fault": f"midstream_error=overloaded_error;after_events=3;model={CHEAP}"}
    with anthropic.Anthropic(base_url=proxy.url, api_key=canaries.ANTHROPIC_KEY, max_retries=0) as sdk:
        with (
            pytest.raises(anthropic.APIStatusError) as caught,
            sdk.messages.stream(**body, extra_headers=fault) as stream,
        ):
            for _ in stream:
                pass
        headers = stream.response.headers
    assert caught.value.type == "overloaded_error"
    assert headers["x-modelpilot-routed"] == "true" and headers["x-modelpilot-escalated"] == "false"
    record_ = proxy.record_for(headers["request-id"])
    assert record_.served_model == CHEAP and not record_.escalated and not record_.is_complete


def test_a_routed_stream_cut_mid_way_reaches_the_caller_cut(harness: Harness) -> None:
    _, control_url = harness.control_plane()
    proxy = harness.proxy(control_url)
    body = cheap_behaves("normal", plain_body)
    fault = {"x-sim-fault": f"disconnect_after_events=4;model={CHEAP}"}
    with (
        anthropic.Anthropic(base_url=proxy.url, api_key=canaries.ANTHROPIC_KEY, max_retries=0) as sdk,
        sdk.messages.stream(**body, extra_headers=fault) as stream,
    ):
        try:
            message = stream.get_final_message()
        except anthropic.APIConnectionError:
            message = None
        headers = stream.response.headers
    assert message is None or message.stop_reason is None  # never passed off as complete
    record_ = proxy.record_for(headers["request-id"])
    assert record_.served_model == CHEAP and not record_.escalated and not record_.is_complete


def test_a_slow_routed_upstream_within_the_timeout_is_waited_for(harness: Harness) -> None:
    _, control_url = harness.control_plane()
    proxy = harness.proxy(control_url, read_timeout_s=5)
    body = cheap_behaves("normal", plain_body)
    with anthropic.Anthropic(base_url=proxy.url, api_key=canaries.ANTHROPIC_KEY, max_retries=0) as sdk:
        raw = sdk.messages.with_raw_response.create(**body, extra_headers={"x-sim-fault": "delay_ms=400"})
    assert raw.parse().model == CHEAP and raw.headers["x-modelpilot-escalated"] == "false"


REQUESTS = 12
READ_TIMEOUT_S = 0.3
#: Faults of the cheap model on a routed request, each escalated to the requested model.
ESCALATED = {
    "429 with retry-after": "status=429;retry_after_ms=7000;should_retry=true",
    "500": "status=500",
    "503": "status=503",
    "529 overloaded with retry-after": "status=529;retry_after_ms=2000;should_retry=true",
    "connection closed before the answer": "disconnect_after_events=0",
    f"slower than the read timeout (1.5 s, timeout {READ_TIMEOUT_S * 1000:.0f} ms)": "delay_ms=1500",
}


def routed_bodies(tag: str) -> list[dict[str, Any]]:
    """A warm-up and ``REQUESTS`` distinct bodies (each its own conversation: one that was
    escalated stays with the requested model) that the cheap model answers well."""
    bodies: list[dict[str, Any]] = []
    while len(bodies) < 1 + REQUESTS:
        offset = len(bodies) * 10_000
        bodies.append(
            cheap_behaves(
                "normal", lambda i, offset=offset: plain_body(offset + i, metadata={"user_id": tag})
            )
        )
    return bodies


def send_routed(
    url: str, bodies: list[dict[str, Any]], fault: str | None, *, stream: bool
) -> tuple[list[float], list[str]]:
    """Each body once through the proxy, after a warm-up: latencies in ms and the served models."""
    headers = {"x-sim-fault": f"{fault};model={CHEAP}"} if fault else None
    latencies, served = [], []
    with anthropic.Anthropic(
        base_url=url, api_key=canaries.ANTHROPIC_KEY, max_retries=0, default_headers=headers
    ) as sdk:
        for i, body in enumerate(bodies):
            started = time.perf_counter()
            if stream:
                with sdk.messages.stream(**body) as events:
                    message = events.get_final_message()
            else:
                message = sdk.messages.create(**body)
            elapsed = (time.perf_counter() - started) * 1000
            assert message.content and message.stop_reason == "end_turn"
            if i:
                latencies.append(elapsed)
                served.append(message.model)
    return latencies, served


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_every_routed_request_survives_a_failing_cheap_model(harness: Harness, stream: bool) -> None:
    """Every fault of the cheap model before a byte reached the caller is escalated: every
    request succeeds with the requested model's answer, and the table shows what it cost."""
    _, control_url = harness.control_plane()
    kind = "stream" if stream else "JSON"
    bodies = routed_bodies(kind)
    latencies, served = send_routed(
        harness.proxy(control_url, read_timeout_s=READ_TIMEOUT_S).url, bodies, None, stream=stream
    )
    assert served == [CHEAP] * REQUESTS
    baseline = Scenario(f"upstream: routed {kind}, no fault (baseline)", REQUESTS, REQUESTS, 0, latencies)
    baseline.baseline_ms = baseline.median_ms
    record(baseline)
    for name, fault in ESCALATED.items():
        proxy = harness.proxy(control_url, read_timeout_s=READ_TIMEOUT_S)
        latencies, served = send_routed(proxy.url, bodies, fault, stream=stream)
        assert served == [REQUESTED] * REQUESTS
        reasons = {r.escalation_reason for r in proxy.wait_records(REQUESTS + 1)}
        assert all(r.escalated for r in proxy.records)
        scenario = Scenario(
            f"upstream {name}, routed {kind}", REQUESTS, len(served), 0, latencies, baseline.median_ms
        )
        scenario.note = f"escalated to the requested model ({', '.join(sorted(map(str, reasons)))})"
        record(scenario)
