"""Requests and answers cross the proxy byte for byte, minus hop-by-hop headers."""

from __future__ import annotations

import gzip
import io
import logging

import aiohttp
import pytest

from tests.proxy.conftest import Stack
from tests.proxy.upstreams import Received, Send, reply

KEY = "sk-ant-caller-0001"


async def test_method_path_query_body_and_headers_are_forwarded_exactly(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    upstream, proxy = stack.pair()
    body = b'{"a":1,  "b":"\xc3\xa9"}'
    headers = [
        ("X-Api-Key", KEY),
        ("anthropic-version", "2023-06-01"),
        ("Content-Type", "application/vnd.custom+json; charset=utf-8"),
        ("X-Custom", "one"),
        ("X-Custom", "two"),
        ("Connection", "keep-alive, X-Hop"),
        ("X-Hop", "dropped because Connection names it"),
        ("Keep-Alive", "timeout=5"),
        ("TE", "trailers"),
        ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
        ("Upgrade", "h2c"),
    ]
    url = proxy + "/v1/skills/sk%2Fx/versions?limit=2&after_id=a%20b&flag"
    async with client.request("PATCH", url, data=body, headers=headers) as response:
        assert response.status == 200
        assert await response.read() == b"{}"
    seen = upstream.last
    assert seen.method == "PATCH"
    assert seen.raw_path == b"/v1/skills/sk%2Fx/versions"
    assert seen.query_string == b"limit=2&after_id=a%20b&flag"
    assert seen.body == body
    assert seen.header("x-api-key") == KEY
    assert seen.header("content-type") == "application/vnd.custom+json; charset=utf-8"
    assert [v for k, v in seen.headers if k == b"x-custom"] == [b"one", b"two"]
    names = seen.header_names()
    for hop in ("keep-alive", "te", "proxy-authorization", "upgrade", "x-hop"):
        assert hop not in names
    # Nothing added that the caller did not send (aiohttp would add accept, user-agent, ...).
    assert set(names) <= {
        "host",
        "x-api-key",
        "anthropic-version",
        "content-type",
        "x-custom",
        "content-length",
        "connection",
    }


async def test_host_header_names_the_upstream(stack: Stack, client: aiohttp.ClientSession) -> None:
    upstream, upstream_url = stack.upstream()
    proxy = stack.proxy(upstream_url, allowed_hosts=("proxy.example",))
    async with client.get(proxy + "/v1/models", headers={"Host": "proxy.example:1234"}) as response:
        assert response.status == 200
    assert upstream.last.header("host") == upstream_url.removeprefix("http://")


async def test_status_headers_and_body_of_the_answer_pass_through(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    async def answer(_: Received, send: Send) -> None:
        await reply(
            send,
            418,
            b"not json at all",
            [
                (b"content-type", b"text/plain"),
                (b"request-id", b"req_011CUpstream"),
                (b"anthropic-ratelimit-requests-remaining", b"49"),
                (b"Server", b"upstream-server"),
                (b"Date", b"Sat, 28 Nov 2026 01:00:00 GMT"),
                (b"connection", b"keep-alive"),
                (b"keep-alive", b"timeout=5"),
            ],
        )

    _, proxy = stack.pair(answer)
    async with client.delete(proxy + "/v1/files/file_1", headers={"x-api-key": KEY}) as response:
        assert response.status == 418
        assert await response.read() == b"not json at all"
        assert response.headers["request-id"] == "req_011CUpstream"
        assert response.headers["anthropic-ratelimit-requests-remaining"] == "49"
        assert response.headers["server"] == "upstream-server"
        assert response.headers.getall("date") == ["Sat, 28 Nov 2026 01:00:00 GMT"]
        assert "keep-alive" not in response.headers
    record = await stack.records.next()
    assert (record.method, record.path, record.status, record.request_id) == (
        "DELETE",
        "/v1/files/file_1",
        418,
        "req_011CUpstream",
    )


async def test_gzip_answer_passes_through_compressed(stack: Stack, client: aiohttp.ClientSession) -> None:
    compressed = gzip.compress(b'{"data":[],"has_more":false}' * 50, mtime=0)

    async def answer(_: Received, send: Send) -> None:
        await reply(
            send, 200, compressed, [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
        )

    _, proxy = stack.pair(answer)
    async with client.get(proxy + "/v1/models", headers={"Accept-Encoding": "gzip"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["content-length"] == str(len(compressed))
        assert await response.read() == compressed


async def test_gzip_request_body_passes_through_compressed(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    upstream, proxy = stack.pair()
    compressed = gzip.compress(b'{"requests":[]}', mtime=0)
    headers = {"content-encoding": "gzip", "content-type": "application/json"}
    async with client.post(proxy + "/v1/messages/batches", data=compressed, headers=headers) as response:
        assert response.status == 200
    assert upstream.last.body == compressed
    assert upstream.last.header("content-encoding") == "gzip"


async def test_caller_key_is_forwarded_and_the_fallback_key_is_not_added(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    upstream, proxy = stack.pair(anthropic_api_key="sk-ant-fallback")
    async with client.get(proxy + "/v1/models", headers={"x-api-key": KEY}):
        pass
    async with client.get(proxy + "/v1/models", headers={"Authorization": f"Bearer {KEY}"}):
        pass
    by_key, by_bearer = upstream.requests
    assert by_key.header("x-api-key") == KEY and by_key.header("authorization") is None
    assert by_bearer.header("authorization") == f"Bearer {KEY}" and by_bearer.header("x-api-key") is None


async def test_fallback_key_is_used_only_when_the_caller_sent_none(
    stack: Stack, client: aiohttp.ClientSession
) -> None:
    upstream, proxy = stack.pair(anthropic_api_key="sk-ant-fallback")
    async with client.get(proxy + "/v1/models"):
        pass
    assert upstream.last.header("x-api-key") == "sk-ant-fallback"
    upstream2, proxy2 = stack.pair()
    async with client.get(proxy2 + "/v1/models"):
        pass
    assert upstream2.last.header("x-api-key") is None
    assert upstream2.last.header("authorization") is None


async def test_paths_outside_v1_get_an_anthropic_404(stack: Stack, client: aiohttp.ClientSession) -> None:
    upstream, proxy = stack.pair()
    async with client.get(proxy + "/v2/messages") as response:
        assert response.status == 404
        body = await response.json()
        assert body["type"] == "error" and body["error"]["type"] == "not_found_error"
        assert response.headers["request-id"] == body["request_id"]
        assert body["request_id"].startswith("req_")
    async with client.get(proxy + "/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}
    assert upstream.requests == []


async def test_keys_never_reach_the_logs(
    stack: Stack, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _, proxy = stack.pair(anthropic_api_key="sk-ant-fallback-secret")
    async with client.post(proxy + "/v1/messages", data=b"{bad json", headers={"x-api-key": KEY}) as response:
        assert response.status == 400
    async with client.get(proxy + "/v1/models"):
        pass
    await stack.records.next(1)
    assert [r for r in caplog.records if r.name == "modelpilot.proxy"], "expected the proxy's debug lines"
    assert KEY not in caplog.text and "sk-ant-fallback-secret" not in caplog.text


async def test_a_large_messages_body_is_forwarded_whole(stack: Stack, client: aiohttp.ClientSession) -> None:
    upstream, proxy = stack.pair()
    body = b'{"model":"claude-haiku-4-5","pad":"' + b"y" * (5 * 1024 * 1024) + b'"}'
    async with client.post(proxy + "/v1/messages", data=io.BytesIO(body)) as response:
        assert response.status == 200
    assert upstream.last.body == body
    assert upstream.last.header("content-length") == str(len(body))
    assert upstream.last.header("transfer-encoding") is None


async def test_an_upstream_url_with_a_path_prefix(stack: Stack, client: aiohttp.ClientSession) -> None:
    upstream, upstream_url = stack.upstream()
    proxy = stack.proxy(upstream_url + "/anthropic/")
    async with client.get(proxy + "/v1/models?limit=1") as response:
        assert response.status == 200
    assert upstream.last.raw_path == b"/anthropic/v1/models"
    assert upstream.last.query_string == b"limit=1"
