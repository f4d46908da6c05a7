"""The SDK → the proxy → the simulator, with a stand-in control plane that routes to haiku:
routed answers, escalation for every failure kind, streams, headers and records."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from modelpilot.proxy.escalation import check_message
from tests.proxy.routing.conftest import (
    CHEAP,
    REQUESTED,
    Harness,
    cheap_behaves,
    plain_body,
    structured_body,
    tool_body,
)
from tests.proxy.upstreams import CaptureUpstream


def create(proxy: Any, body: dict[str, Any], **headers: str) -> tuple[Any, Any]:
    """``(message, raw response)`` of one non-streaming create through the SDK."""
    with proxy.sdk() as sdk:
        raw = sdk.messages.with_raw_response.create(**body, extra_headers=headers or None)
        return raw.parse(), raw


def test_a_routed_request_is_served_by_the_cheap_model(harness: Harness) -> None:
    control, url = harness.control_plane()
    proxy = harness.proxy(url)
    body = cheap_behaves("normal", plain_body)
    message, raw = create(proxy, body)
    assert message.model == CHEAP
    assert raw.headers["x-modelpilot-served-model"] == CHEAP
    assert raw.headers["x-modelpilot-routed"] == "true"
    assert raw.headers["x-modelpilot-escalated"] == "false"
    assert raw.headers["x-modelpilot-decision-id"] == control.decision_ids[-1]
    assert "x-modelpilot-fail-open" not in raw.headers
    record = proxy.record_for(raw.headers["request-id"])
    assert (record.routed, record.escalated, record.served_model, record.requested_model) == (
        True,
        False,
        CHEAP,
        REQUESTED,
    )
    assert record.decision_id == control.decision_ids[-1] and record.attempts == ()
    assert record.category == orjson.loads(control.route_bodies()[-1])["category"]


def test_a_decision_not_to_route_sends_the_request_as_it_came(harness: Harness) -> None:
    control, url = harness.control_plane(mode="requested")
    proxy = harness.proxy(url)
    message, raw = create(proxy, plain_body(1))
    assert message.model == REQUESTED
    assert raw.headers["x-modelpilot-routed"] == "false"
    assert raw.headers["x-modelpilot-decision-id"] == control.decision_ids[-1]


def test_the_routed_body_differs_from_the_callers_only_in_its_model(
    harness: Harness, client_bytes: Any
) -> None:
    upstream = CaptureUpstream()  # answers {}: an empty answer, so the request is escalated too
    upstream_url = harness.serve(upstream)
    _, cp_url = harness.control_plane()
    proxy = harness.proxy(cp_url, upstream_url=upstream_url)
    sent = (
        b'{"max_tokens":  64 ,"messages":[{"role":"user","content":"caf\\u00e9 \\"model\\": 1"}],'
        b'\n "model" : "claude-sonnet-4-6", "metadata": {"user_id": "u-1"}}'
    )
    status, _ = client_bytes(proxy.url + "/v1/messages", sent)
    assert status == 200
    routed, escalated = (r.body for r in upstream.requests)
    assert routed == sent.replace(b'"model" : "claude-sonnet-4-6"', b'"model" : "claude-haiku-4-5"')
    assert upstream.requests[0].header("content-length") == str(len(routed))
    assert escalated == sent and upstream.requests[1].header("content-length") == str(len(sent))


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("refusal", plain_body),
        ("empty", plain_body),
        ("bad_tool_input", tool_body),
        ("bad_json", structured_body),
    ],
)
def test_a_bad_cheap_answer_is_replaced_by_the_requested_models(
    harness: Harness, kind: str, make: Any
) -> None:
    _, url = harness.control_plane()
    proxy = harness.proxy(url)
    body = cheap_behaves(kind, make)
    message, raw = create(proxy, body)
    assert message.model == REQUESTED
    assert check_message(body, message.model_dump()) is None  # the caller got a good answer
    assert raw.headers["x-modelpilot-escalated"] == "true"
    assert raw.headers["x-modelpilot-routed"] == "true"
    assert raw.headers["x-modelpilot-served-model"] == REQUESTED
    record = proxy.record_for(raw.headers["request-id"])
    assert (record.escalated, record.escalation_reason, record.served_model) == (True, kind, REQUESTED)
    (attempt,) = record.attempts
    assert attempt.served_model == CHEAP and attempt.status == 200 and attempt.usage is not None


@pytest.mark.parametrize("status", [429, 500, 529])
@pytest.mark.parametrize("stream", [False, True])
def test_an_error_status_from_the_cheap_model_is_escalated(
    harness: Harness, status: int, stream: bool
) -> None:
    _, url = harness.control_plane()
    proxy = harness.proxy(url)
    body = cheap_behaves("normal", plain_body)
    fault = {"x-sim-fault": f"status={status};model={CHEAP}"}
    with proxy.sdk(**fault) as sdk:
        if stream:
            with sdk.messages.stream(**body) as events:
                message = events.get_final_message()
                headers = events.response.headers
        else:
            raw = sdk.messages.with_raw_response.create(**body)
            message, headers = raw.parse(), raw.headers
    assert message.model == REQUESTED
    assert headers["x-modelpilot-escalated"] == "true"
    record = proxy.record_for(headers["request-id"])
    assert record.escalation_reason == f"status_{status}"
    assert [(a.served_model, a.status) for a in record.attempts] == [(CHEAP, status)]


def test_a_cheap_model_that_times_out_is_escalated(harness: Harness) -> None:
    _, url = harness.control_plane()
    proxy = harness.proxy(url, read_timeout_s=0.3)
    message, raw = create(proxy, plain_body(2), **{"x-sim-fault": f"delay_ms=1500;model={CHEAP}"})
    assert message.model == REQUESTED
    assert proxy.record_for(raw.headers["request-id"]).escalation_reason == "upstream_timeout"


@pytest.mark.parametrize("stream", [False, True])
def test_a_cheap_answer_that_breaks_off_before_its_first_byte_is_escalated(
    harness: Harness, stream: bool
) -> None:
    """Headers came, then the connection closed: for a stream too, nothing reached the caller."""
    _, url = harness.control_plane()
    proxy = harness.proxy(url)
    fault = {"x-sim-fault": f"disconnect_after_events=0;model={CHEAP}"}
    with proxy.sdk(**fault) as sdk:
        if stream:
            with sdk.messages.stream(**plain_body(3)) as events:
                message = events.get_final_message()
                headers = events.response.headers
        else:
            raw = sdk.messages.with_raw_response.create(**plain_body(3))
            message, headers = raw.parse(), raw.headers
    assert message.model == REQUESTED and message.stop_reason == "end_turn"
    assert headers["x-modelpilot-escalated"] == "true"
    record = proxy.record_for(headers["request-id"])
    assert record.escalation_reason == "upstream_unavailable" and record.is_complete
    assert [a.served_model for a in record.attempts] == [CHEAP]


def test_routed_streams_are_relayed_live_and_cannot_be_escalated_once_started(harness: Harness) -> None:
    _, url = harness.control_plane()
    proxy = harness.proxy(url)
    body = cheap_behaves("bad_tool_input", tool_body)
    with proxy.sdk() as sdk, sdk.messages.stream(**body) as events:
        message = events.get_final_message()
        headers = events.response.headers
    assert message.model == CHEAP  # the bad answer went out as it streamed: the documented limit
    assert headers["x-modelpilot-routed"] == "true" and headers["x-modelpilot-escalated"] == "false"
    assert not proxy.record_for(headers["request-id"]).escalated


@pytest.mark.parametrize(
    ("kind", "make"), [("bad_tool_input", tool_body), ("bad_json", structured_body), ("normal", tool_body)]
)
def test_checked_streaming_holds_the_routed_stream_until_it_passes(
    harness: Harness, kind: str, make: Any
) -> None:
    _, url = harness.control_plane()
    proxy = harness.proxy(url, checked_streaming=True)
    body = cheap_behaves(kind, make)
    with proxy.sdk() as sdk, sdk.messages.stream(**body) as events:
        message = events.get_final_message()
        headers = events.response.headers
    expected = CHEAP if kind == "normal" else REQUESTED
    assert message.model == expected and headers["x-modelpilot-served-model"] == expected
    assert check_message(body, message.model_dump()) is None
    record = proxy.record_for(headers["request-id"])
    assert record.is_stream and record.is_complete and record.usage is not None
    assert record.escalated is (kind != "normal")
    assert len(record.attempts) == (0 if kind == "normal" else 1)


def test_checked_streaming_escalates_a_midstream_error(harness: Harness) -> None:
    _, url = harness.control_plane()
    proxy = harness.proxy(url, checked_streaming=True)
    body = cheap_behaves("normal", tool_body)
    fault = {"x-sim-fault": f"midstream_error=overloaded_error;after_events=3;model={CHEAP}"}
    with proxy.sdk(**fault) as sdk, sdk.messages.stream(**body) as events:
        message = events.get_final_message()
        request_id = events.response.headers["request-id"]
    assert message.model == REQUESTED
    assert proxy.record_for(request_id).escalation_reason == "stream_error"


def test_without_a_control_plane_nothing_changes(harness: Harness) -> None:
    proxy = harness.proxy(None)
    message, raw = create(proxy, plain_body(4))
    assert message.model == REQUESTED
    assert not [h for h in raw.headers if h.startswith("x-modelpilot-")]


def test_only_messages_requests_with_a_catalog_shaped_model_are_routed(
    harness: Harness, client_bytes: Any
) -> None:
    import gzip

    control, url = harness.control_plane()
    upstream = CaptureUpstream()
    proxy = harness.proxy(url, upstream_url=harness.serve(upstream))
    count_tokens = orjson.dumps({"model": REQUESTED, "messages": [{"role": "user", "content": "hi"}]})
    assert client_bytes(proxy.url + "/v1/messages/count_tokens", count_tokens)[0] == 200
    odd_model = orjson.dumps({**plain_body(1), "model": "gpt-4o"})
    assert client_bytes(proxy.url + "/v1/messages", odd_model)[0] == 200
    packed = gzip.compress(orjson.dumps(plain_body(2)))
    assert client_bytes(proxy.url + "/v1/messages", packed, {"content-encoding": "gzip"})[0] == 200
    assert control.route_calls == 0
    assert [r.body for r in upstream.requests] == [count_tokens, odd_model, packed]


async def test_concurrent_routed_requests(harness: Harness) -> None:
    import asyncio

    import anthropic

    control, url = harness.control_plane(ttl_s=300)
    proxy = harness.proxy(url)
    bodies = [cheap_behaves("normal", lambda i, n=n: plain_body(1000 * n + i)) for n in range(12)]
    async with anthropic.AsyncAnthropic(base_url=proxy.url, api_key="sk-ant-test", max_retries=0) as sdk:
        messages = await asyncio.gather(*(sdk.messages.create(**body) for body in bodies))
    assert {m.model for m in messages} == {CHEAP}
    assert 1 <= control.route_calls <= len(bodies)  # concurrent misses may each ask (no coalescing)
