"""Fault injection: pre-stream errors and SDK exception mapping, retries, mid-stream errors,
disconnects, latency, and the admin fault queue."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest

from modelpilot.sim import SimSettings, create_app
from tests.servers import serve
from tests.sim.conftest import API_KEY

HELLO = [{"role": "user", "content": "Hello there"}]
PARAMS: dict[str, Any] = {"model": "claude-sonnet-4-6", "max_tokens": 50, "messages": HELLO}


@pytest.mark.parametrize(
    ("status", "kind", "exception"),
    [
        (400, "invalid_request_error", anthropic.BadRequestError),
        (401, "authentication_error", anthropic.AuthenticationError),
        (403, "permission_error", anthropic.PermissionDeniedError),
        (404, "not_found_error", anthropic.NotFoundError),
        (413, "request_too_large", anthropic.APIStatusError),
        (429, "rate_limit_error", anthropic.RateLimitError),
        (500, "api_error", anthropic.InternalServerError),
        (503, "api_error", anthropic.InternalServerError),
        (529, "overloaded_error", anthropic.OverloadedError),
    ],
)
def test_status_faults_map_to_sdk_exceptions(
    client: anthropic.Anthropic, status: int, kind: str, exception: type[anthropic.APIStatusError]
) -> None:
    with pytest.raises(exception) as caught:
        client.messages.create(**PARAMS, extra_headers={"x-sim-fault": f"status={status}"})
    error = caught.value
    assert error.status_code == status
    assert error.body["type"] == "error" and error.body["error"]["type"] == kind
    assert error.request_id is not None and error.request_id.startswith("req_011C")


async def test_retry_headers(http: aiohttp.ClientSession, sim_url: str) -> None:
    fault = "status=429;retry_after_ms=1500;should_retry=false"
    headers = {"x-api-key": API_KEY, "x-sim-fault": fault}
    async with http.post(f"{sim_url}/v1/messages", json=PARAMS, headers=headers) as response:
        assert response.status == 429
        assert response.headers["retry-after-ms"] == "1500" and response.headers["retry-after"] == "1.5"
        assert response.headers["x-should-retry"] == "false"
        assert orjson.loads(await response.read())["error"]["type"] == "rate_limit_error"


def test_sdk_retries_through_a_fault_with_attempts(sim_url: str) -> None:
    fault = {"x-sim-fault": "status=529;retry_after_ms=5;attempts=2"}
    with anthropic.Anthropic(base_url=sim_url, api_key=API_KEY, max_retries=2) as sdk:
        raw = sdk.messages.with_raw_response.create(**PARAMS, extra_headers=fault)
        assert raw.retries_taken == 2 and raw.parse().stop_reason is not None
        with pytest.raises(anthropic.OverloadedError):
            sdk.messages.create(
                **PARAMS, extra_headers={"x-sim-fault": "status=529;retry_after_ms=5;attempts=3"}
            )
        with pytest.raises(anthropic.OverloadedError):  # x-should-retry: false stops the SDK retrying
            sdk.messages.create(
                **PARAMS, extra_headers={"x-sim-fault": "status=529;should_retry=false;attempts=1"}
            )


def test_model_scoped_fault_only_hits_that_model(client: anthropic.Anthropic) -> None:
    fault = {"x-sim-fault": "status=529;model=claude-haiku-4-5"}
    assert client.messages.create(**PARAMS, extra_headers=fault).model == "claude-sonnet-4-6"
    with pytest.raises(anthropic.OverloadedError):
        client.messages.create(**{**PARAMS, "model": "claude-haiku-4-5"}, extra_headers=fault)


def test_midstream_error_raises_status_200(client: anthropic.Anthropic) -> None:
    fault = {"x-sim-fault": "midstream_error=overloaded_error;after_events=4"}
    received: list[str] = []
    with pytest.raises(anthropic.APIStatusError) as caught:
        for event in client.messages.create(**PARAMS, stream=True, extra_headers=fault):
            received.append(event.type)
    assert received == ["message_start", "content_block_start", "content_block_delta"]  # the ping is dropped
    assert caught.value.status_code == 200 and caught.value.type == "overloaded_error"
    assert not isinstance(caught.value, anthropic.OverloadedError)


def test_disconnect_mid_stream(client: anthropic.Anthropic) -> None:
    # The SDK stops at the torn chunked body: httpx2 raises a protocol error, which the SDK does
    # not wrap for streamed bodies. message_stop never arrives.
    fault = {"x-sim-fault": "disconnect_after_events=4"}
    received: list[str] = []
    with pytest.raises(Exception) as caught:
        for event in client.messages.create(**PARAMS, stream=True, extra_headers=fault):
            received.append(event.type)
    assert type(caught.value).__name__ == "RemoteProtocolError"
    assert received == ["message_start", "content_block_start", "content_block_delta"]


def test_disconnect_without_streaming_is_a_connection_error(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIConnectionError):
        client.messages.create(**PARAMS, extra_headers={"x-sim-fault": "disconnect_after_events=0"})


def test_delay_fault_and_latency_settings_are_lower_bounds(client: anthropic.Anthropic) -> None:
    started = time.perf_counter()
    client.messages.create(**PARAMS, extra_headers={"x-sim-fault": "delay_ms=60"})
    assert time.perf_counter() - started >= 0.06
    started = time.perf_counter()
    client.messages.create(**PARAMS, extra_headers={"x-sim-latency": "ttft_ms=40;token_ms=0"})
    assert time.perf_counter() - started >= 0.04


async def test_ttft_and_token_pacing(http: aiohttp.ClientSession) -> None:
    body = {**PARAMS, "max_tokens": 30, "stream": True}
    with serve(create_app(SimSettings(ttft_ms=50, token_ms=2))) as url:
        started = time.perf_counter()
        async with http.post(f"{url}/v1/messages", json=body, headers={"x-api-key": API_KEY}) as response:
            first = await response.content.readany()
            first_byte_s = time.perf_counter() - started
            rest = await response.read()
        total_s = time.perf_counter() - started
    deltas = (first + rest).count(b"event: content_block_delta")
    assert first_byte_s >= 0.05
    assert total_s >= 0.05 + deltas * 0.002


async def test_admin_fault_queue(
    http: aiohttp.ClientSession, sim_url: str, client: anthropic.Anthropic
) -> None:
    async with http.get(f"{sim_url}/_sim/health") as response:
        assert response.status == 200
    async with http.post(f"{sim_url}/_sim/faults", json={"fault": "status=529", "count": 2}) as response:
        assert response.status == 200
    for _ in range(2):
        with pytest.raises(anthropic.OverloadedError):
            client.messages.create(**PARAMS)
    assert client.messages.create(**PARAMS).content
    async with http.post(f"{sim_url}/_sim/faults", json={"fault": "status=500", "count": 5}) as response:
        assert response.status == 200
    async with http.delete(f"{sim_url}/_sim/faults") as response:
        assert response.status == 200
    assert client.messages.create(**PARAMS).content
    async with http.post(f"{sim_url}/_sim/faults", json={"fault": "status=1"}) as response:
        assert response.status == 400


def test_bad_fault_grammar_is_a_400(client: anthropic.Anthropic) -> None:
    for value in ("status", "colour=red", "status=abc", "should_retry=maybe"):
        with pytest.raises(anthropic.BadRequestError, match="x-sim-fault"):
            client.messages.create(**PARAMS, extra_headers={"x-sim-fault": value})
    with pytest.raises(anthropic.BadRequestError, match="x-sim-behaviour"):
        client.messages.create(**PARAMS, extra_headers={"x-sim-behaviour": "sulky"})


async def test_queued_faults_wait_for_their_model(http: aiohttp.ClientSession, sim_url: str) -> None:
    fault = {"fault": "status=529;model=claude-haiku-4-5", "count": 1}
    async with http.post(f"{sim_url}/_sim/faults", json=fault) as response:
        assert response.status == 200
    with anthropic.Anthropic(base_url=sim_url, api_key=API_KEY, max_retries=0) as sdk:
        assert sdk.messages.create(**PARAMS).content  # sonnet: not matched, not consumed
        with pytest.raises(anthropic.OverloadedError):
            sdk.messages.create(**{**PARAMS, "model": "claude-haiku-4-5"})
        assert sdk.messages.create(**{**PARAMS, "model": "claude-haiku-4-5"}).content
