"""Streams, uploads and disconnects over real loopback sockets."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator

import aiohttp
import orjson
import pytest

from modelpilot.schema.usage import Usage
from tests.proxy.conftest import Stack
from tests.proxy.streams import TEXT_STREAM, events
from tests.proxy.upstreams import Received, Send, ThreadEvent, wait_for

SSE_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"), (b"request-id", b"req_011CStream")]
MESSAGE_BODY = orjson.dumps(
    {
        "model": "claude-sonnet-4-6",
        "max_tokens": 64,
        "stream": True,
        "messages": [{"role": "user", "content": "hi"}],
    }
)


async def start(send: Send, headers: list[tuple[bytes, bytes]] = SSE_HEADERS) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": headers})


async def chunk(send: Send, data: bytes, *, more: bool = True) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": more})


async def test_sse_is_relayed_event_by_event_without_buffering(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    parts = events(TEXT_STREAM)
    got_first = ThreadEvent()

    async def answer(_: Received, send: Send) -> None:
        await start(send)
        await chunk(send, parts[0])
        # Only a proxy that already delivered event 1 lets the test set this.
        assert await got_first.wait(), "the caller never received the first event"
        for part in parts[1:]:
            await chunk(send, part)
        await chunk(send, b"", more=False)

    _, proxy = stack.pair(answer)
    received = b""
    async with client.post(proxy + "/v1/messages", data=MESSAGE_BODY) as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        while len(received) < len(parts[0]):
            received += await response.content.readany()
        assert received == parts[0]
        got_first.set()
        received += await response.content.read()
    assert received == TEXT_STREAM
    record = await stack.records.next()
    assert record.is_stream and record.is_complete and not record.is_client_disconnected
    assert record.request_id == "req_011CStream"
    assert record.requested_model == "claude-sonnet-4-6" and record.served_model == "claude-sonnet-4-6"
    assert record.usage == Usage(input_tokens=12, output_tokens=6, service_tier="standard")
    assert record.cost is not None and record.cost.actual_micros == 126  # 12*3 + 6*15 micro-dollars
    assert record.stop_reason == "end_turn"
    assert record.ttfb_ms is not None and record.ttfb_ms <= record.latency_ms


async def test_usage_is_read_from_awkwardly_split_crlf_streams(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    stream = TEXT_STREAM.replace(b"\n", b"\r\n")

    async def answer(_: Received, send: Send) -> None:
        await start(send)
        for i in range(0, len(stream), 7):  # cuts inside names, JSON and between \r and \n
            await chunk(send, stream[i : i + 7])
        await chunk(send, b"", more=False)

    _, proxy = stack.pair(answer)
    async with client.post(proxy + "/v1/messages", data=MESSAGE_BODY) as response:
        assert await response.read() == stream
    record = await stack.records.next()
    assert record.usage == Usage(input_tokens=12, output_tokens=6, service_tier="standard")
    assert record.is_complete


async def test_a_stream_the_upstream_cuts_short_is_ended_and_recorded(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    head = TEXT_STREAM[: TEXT_STREAM.index(b"event: content_block_stop")]

    async def answer(_: Received, send: Send) -> None:
        await start(send)
        await chunk(send, head)
        raise RuntimeError("upstream dies mid-stream (expected in this test)")

    _, proxy = stack.pair(answer)
    async with client.post(proxy + "/v1/messages", data=MESSAGE_BODY) as response:
        assert response.status == 200
        assert await response.read() == head
    record = await stack.records.next()
    assert record.is_stream and not record.is_complete
    assert record.error_type == "api_error"
    assert record.usage == Usage(input_tokens=12, output_tokens=1, service_tier="standard")


async def test_a_stream_without_message_stop_is_not_complete(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    head = TEXT_STREAM[: TEXT_STREAM.index(b"event: message_stop")]

    async def answer(_: Received, send: Send) -> None:
        await start(send)
        await chunk(send, head, more=False)

    _, proxy = stack.pair(answer)
    async with client.post(proxy + "/v1/messages", data=MESSAGE_BODY) as response:
        assert await response.read() == head
    record = await stack.records.next()
    assert not record.is_complete and record.error_type is None
    assert record.usage == Usage(input_tokens=12, output_tokens=6, service_tier="standard")


async def test_caller_disconnect_cancels_the_upstream_request(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    parts = events(TEXT_STREAM)
    upstream_saw_disconnect = ThreadEvent()

    async def answer(request: Received, send: Send) -> None:
        await start(send)
        await chunk(send, parts[0])
        # The proxy must drop its upstream connection once its caller is gone.
        assert request.receive is not None
        while (await request.receive())["type"] != "http.disconnect":
            pass
        upstream_saw_disconnect.set()

    _, proxy = stack.pair(answer)
    response = await client.post(proxy + "/v1/messages", data=MESSAGE_BODY)
    assert (await response.content.readany()).startswith(b"event: message_start")
    response.close()  # the caller goes away mid-stream
    assert await upstream_saw_disconnect.wait(), "the upstream request was not cancelled"
    record = await stack.records.next()
    assert record.is_client_disconnected and not record.is_complete
    assert record.usage == Usage(input_tokens=12, output_tokens=1, service_tier="standard")


async def test_a_large_upload_is_streamed_through_not_buffered(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    upstream, proxy = stack.pair()
    part = os.urandom(1024 * 1024)
    total_mb = 50
    digest = hashlib.sha256()

    async def upload() -> AsyncIterator[bytes]:
        digest.update(part)
        yield part
        # A buffering proxy would wait for the whole body before the upstream sees a byte.
        assert await wait_for(upstream.first_chunk_seen.is_set), (
            "upstream saw nothing before the upload ended"
        )
        for _ in range(total_mb - 1):
            digest.update(part)
            yield part

    headers = {"content-type": "multipart/form-data; boundary=xyz", "x-api-key": "sk-ant-1"}
    async with client.post(proxy + "/v1/files", data=upload(), headers=headers) as response:
        assert response.status == 200
    seen = upstream.last
    assert len(seen.body) == total_mb * len(part)
    assert hashlib.sha256(seen.body).digest() == digest.digest()
    assert seen.header("content-type") == "multipart/form-data; boundary=xyz"


async def test_binary_content_with_length_is_relayed(stack: Stack, client: aiohttp.ClientSession) -> None:
    blob = os.urandom(3 * 1024 * 1024 + 17)

    async def answer(_: Received, send: Send) -> None:
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(len(blob)).encode()),
        ]
        await start(send, headers)
        for i in range(0, len(blob), 65536):
            await chunk(send, blob[i : i + 65536])
        await chunk(send, b"", more=False)

    _, proxy = stack.pair(answer)
    async with client.get(proxy + "/v1/files/file_1/content") as response:
        assert response.headers["content-length"] == str(len(blob))
        assert await response.read() == blob


async def test_caller_disconnect_while_waiting_for_the_answer_cancels_upstream(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    upstream_saw_disconnect = ThreadEvent()

    async def never_answers(request: Received, send: Send) -> None:
        assert request.receive is not None
        while (await request.receive())["type"] != "http.disconnect":
            pass
        upstream_saw_disconnect.set()

    upstream, proxy = stack.pair(never_answers)
    body = orjson.dumps({"model": "claude-opus-4-6", "max_tokens": 8, "messages": []})
    request = asyncio.ensure_future(client.post(proxy + "/v1/messages", data=body))
    assert await wait_for(lambda: bool(upstream.requests))
    request.cancel()  # the caller gives up before any byte of the answer
    with contextlib.suppress(asyncio.CancelledError):
        await request
    assert await upstream_saw_disconnect.wait(), "the upstream request was not cancelled"
    record = await stack.records.next()
    assert record.is_client_disconnected and record.status == 0
    assert record.requested_model == "claude-opus-4-6"


async def test_a_framed_body_cut_short_upstream_is_cut_short_for_the_caller(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    async def answer(_: Received, send: Send) -> None:
        headers = [(b"content-type", b"application/octet-stream"), (b"content-length", b"1000")]
        await start(send, headers)
        await chunk(send, b"x" * 400)
        raise RuntimeError("upstream dies mid-body (expected in this test)")

    _, proxy = stack.pair(answer)
    async with client.get(proxy + "/v1/files/file_1/content") as response:
        assert response.status == 200
        # Ending cleanly would be a lie about a 1000-byte body: the caller must see the truncation.
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
    record = await stack.records.next()
    assert not record.is_complete and record.error_type == "api_error"
