"""Errors the proxy answers by itself, in Anthropic's envelope."""

from __future__ import annotations

import io
import socket
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from tests.proxy.conftest import Stack
from tests.proxy.upstreams import Received, Send, ThreadEvent, reply

MESSAGE = orjson.dumps(
    {"model": "claude-haiku-4-5", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}
)


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def envelope(response: aiohttp.ClientResponse) -> dict[str, object]:
    body = await response.json()
    assert body["type"] == "error"
    assert body["request_id"] == response.headers["request-id"]
    assert str(body["request_id"]).startswith("req_")
    return body["error"]  # type: ignore[no-any-return]


async def test_unreachable_upstream_is_a_502_api_error(stack: Stack, client: aiohttp.ClientSession) -> None:
    upstream_url = closed_port_url()
    proxy = stack.proxy(upstream_url)
    async with client.post(proxy + "/v1/messages", data=MESSAGE) as response:
        assert response.status == 502
        error = await envelope(response)
    assert error["type"] == "api_error"
    assert upstream_url in str(error["message"])
    record = await stack.records.next()
    assert record.status == 502 and record.error_type == "api_error"
    assert record.requested_model == "claude-haiku-4-5" and record.usage is None


async def test_upstream_timeout_is_a_504_timeout_error(stack: Stack, client: aiohttp.ClientSession) -> None:
    release = ThreadEvent()

    async def answer(_: Received, send: Send) -> None:
        await release.wait()
        await reply(send)

    _, proxy = stack.pair(answer, read_timeout_s=0.05)
    try:
        async with client.get(proxy + "/v1/models") as response:
            assert response.status == 504
            assert (await envelope(response))["type"] == "timeout_error"
    finally:
        release.set()


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("body", [b"{not json", b"", b'{"model": "x"'])
async def test_invalid_json_is_a_400_and_never_sent_upstream(
    stack: Stack, client: aiohttp.ClientSession, path: str, body: bytes
) -> None:
    upstream, proxy = stack.pair()
    async with client.post(proxy + path, data=body, headers={"content-type": "application/json"}) as response:
        assert response.status == 400
        assert (await envelope(response))["type"] == "invalid_request_error"
    assert upstream.requests == []


async def test_a_wrong_content_type_is_tolerated(stack: Stack, client: aiohttp.ClientSession) -> None:
    upstream, proxy = stack.pair()
    async with client.post(
        proxy + "/v1/messages", data=MESSAGE, headers={"content-type": "text/plain"}
    ) as response:
        assert response.status == 200
    assert upstream.last.body == MESSAGE
    assert upstream.last.header("content-type") == "text/plain"


async def test_a_body_over_32_mib_is_a_413(stack: Stack, client: aiohttp.ClientSession) -> None:
    upstream, proxy = stack.pair()
    big = b'{"model":"claude-haiku-4-5","pad":"' + b"x" * (33 * 1024 * 1024) + b'"}'
    async with client.post(proxy + "/v1/messages", data=io.BytesIO(big)) as response:
        assert response.status == 413
        assert (await envelope(response))["type"] == "request_too_large"
    assert upstream.requests == []


async def test_a_chunked_body_over_the_limit_is_a_413(stack: Stack, client: aiohttp.ClientSession) -> None:
    upstream, proxy = stack.pair(max_body_bytes=1000)

    async def body() -> AsyncIterator[bytes]:  # no content-length: the limit is enforced while reading
        for _ in range(3):
            yield b"x" * 600

    async with client.post(proxy + "/v1/messages/count_tokens", data=body()) as response:
        assert response.status == 413
    assert upstream.requests == []


async def test_upstream_errors_pass_through_untouched(stack: Stack, client: aiohttp.ClientSession) -> None:
    error_body = (
        b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}'
    )

    async def answer(_: Received, send: Send) -> None:
        await reply(
            send,
            529,
            error_body,
            [(b"content-type", b"application/json"), (b"request-id", b"req_1"), (b"retry-after-ms", b"10")],
        )

    _, proxy = stack.pair(answer)
    async with client.post(proxy + "/v1/messages", data=MESSAGE) as response:
        assert response.status == 529
        assert response.headers["retry-after-ms"] == "10"
        assert await response.read() == error_body
    record = await stack.records.next()
    assert record.status == 529 and record.error_type == "overloaded_error" and record.usage is None
