"""The only rewrite: batch results_url points at the proxy."""

from __future__ import annotations

import gzip

import aiohttp
import pytest

from modelpilot.proxy.batches import rewrite_results_urls
from tests.proxy.conftest import Stack
from tests.proxy.upstreams import Received, Send, reply

BATCH = (
    b'{"id":"msgbatch_01","type":"message_batch","processing_status":"ended",'
    b'"request_counts":{"processing":0,"succeeded":2},  "note":"keep \\"results_url\\": this",'
    b'"results_url":"https://api.anthropic.com/v1/messages/batches/msgbatch_01/results?x=1"}'
)
LIST = b'{"data":[' + BATCH + b', {"id":"msgbatch_02","results_url":null}],"has_more":false}'


def test_rewrite_changes_only_the_url_strings() -> None:
    out = rewrite_results_urls(LIST, origin="http://127.0.0.1:8787")
    assert out == LIST.replace(b"https://api.anthropic.com", b"http://127.0.0.1:8787")
    escaped = b'{"results_url": "https:\\/\\/up.example\\/v1\\/messages\\/batches\\/b\\/results"}'
    assert (
        rewrite_results_urls(escaped, origin="http://p:1")
        == b'{"results_url": "http://p:1/v1/messages/batches/b/results"}'
    )


@pytest.mark.parametrize("compressed", [False, True])
async def test_batch_objects_point_results_url_at_the_proxy(
    stack: Stack, client: aiohttp.ClientSession, compressed: bool
) -> None:
    async def answer(_: Received, send: Send) -> None:
        headers = [(b"content-type", b"application/json"), (b"request-id", b"req_b")]
        body = LIST
        if compressed:
            body = gzip.compress(LIST)
            headers.append((b"content-encoding", b"gzip"))
        await reply(send, 200, body, headers)

    _, proxy = stack.pair(answer)
    async with client.get(
        proxy + "/v1/messages/batches?limit=2", headers={"accept-encoding": "gzip"}
    ) as response:
        body = await response.read()
        assert "content-encoding" not in response.headers
        assert response.headers["content-length"] == str(len(body))
        assert response.headers["request-id"] == "req_b"
    assert body == LIST.replace(b"https://api.anthropic.com", proxy.encode())


async def test_public_base_url_overrides_the_host(stack: Stack, client: aiohttp.ClientSession) -> None:
    async def answer(_: Received, send: Send) -> None:
        await reply(send, 200, BATCH)

    _, proxy = stack.pair(answer, public_base_url="https://proxy.internal:9443/anthropic")
    async with client.post(proxy + "/v1/messages/batches/msgbatch_01/cancel") as response:
        body = await response.read()
    assert (
        b'"results_url":"https://proxy.internal:9443/anthropic/v1/messages/batches/msgbatch_01/results?x=1"'
        in body
    )


async def test_results_and_other_paths_are_never_rewritten(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    async def answer(_: Received, send: Send) -> None:
        await reply(send, 200, BATCH + b"\n", [(b"content-type", b"application/json")])

    _, proxy = stack.pair(answer)
    for path in ("/v1/messages/batches/msgbatch_01/results", "/v1/files/f"):
        async with client.get(proxy + path) as response:
            assert await response.read() == BATCH + b"\n"
