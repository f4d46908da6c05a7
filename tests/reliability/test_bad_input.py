"""Issue 9, item 4: bad input. Malformed, mistyped, oversized and hostile requests get an
error in the API's own shape (Anthropic's envelope from the proxy, problem+json from the control
plane), never a 5xx, and never take either down: a good request right after still succeeds.

What exists elsewhere: invalid JSON and 32 MB+ bodies without routing (tests/proxy/test_errors.py),
schemathesis over the OpenAPI document (tests/control/test_openapi_fuzz.py), the firewall's
property tests (tests/schema/test_firewall.py), form fuzzing (tests/control/test_forms_fuzz.py)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import aiohttp
import orjson
import pytest

from tests.proxy.routing.conftest import (
    REQUESTED,
    Harness,
    plain_body,
)
from tests.reliability import canaries, logbook
from tests.reliability.scenarios import Scenario, record

GOOD = orjson.dumps(plain_body(1))
MIB = 1024 * 1024


def deep(levels: int) -> bytes:
    return (
        b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": ' + b"[" * levels + b"]" * levels + b"}"
    )


BAD_BODIES: dict[str, bytes] = {
    "invalid JSON": b'{"model": "claude-sonnet-4-6", "messages": [',
    "empty body": b"",
    "JSON array": b"[1, 2, 3]",
    "JSON number": b"42",
    "JSON string": b'"hello"',
    "JSON null": b"null",
    "invalid UTF-8 in a string": b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "\xff\xfe\xc3"}]}',
    "invalid UTF-8 outside strings": b'{"model": "claude-sonnet-4-6", \xff "max_tokens": 5}',
    "lone surrogate escape": b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [{"role": "user", "content": "\\ud800"}]}',
    "nesting 5,000 deep": deep(5000),
    "number beyond double": b'{"model": "claude-sonnet-4-6", "max_tokens": 1e400, "messages": []}',
    "model is a number": orjson.dumps({**plain_body(2), "model": 42}),
    "model is an object": orjson.dumps({**plain_body(3), "model": {"id": REQUESTED}}),
    "messages is a string": orjson.dumps({**plain_body(4), "messages": "hi"}),
    "messages hold numbers": orjson.dumps({**plain_body(5), "messages": [1, 2]}),
    "content is an object": orjson.dumps(
        {**plain_body(6), "messages": [{"role": "user", "content": {"a": 1}}]}
    ),
    "role is a number": orjson.dumps({**plain_body(7), "messages": [{"role": 7, "content": "x"}]}),
    "max_tokens is a string": orjson.dumps({**plain_body(8), "max_tokens": "many"}),
    "max_tokens is negative": orjson.dumps({**plain_body(9), "max_tokens": -5}),
    "max_tokens is huge": orjson.dumps({**plain_body(10), "max_tokens": 2**63}),
    "tools is an object": orjson.dumps({**plain_body(11), "tools": {"name": "x"}}),
    "tool without schema": orjson.dumps({**plain_body(12), "tools": [{"name": "x"}]}),
    "system is a number": orjson.dumps({**plain_body(13), "system": 5}),
    "thinking is a string": orjson.dumps({**plain_body(14), "thinking": "yes"}),
    "stream is a string": orjson.dumps({**plain_body(15), "stream": "yes"}),
    "duplicate model keys": b'{"model": "claude-sonnet-4-6", "model": 5, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}',
}


async def post(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession(skip_auto_headers=("Content-Type",)) as session,
        session.post(
            url,
            data=body,
            headers={
                "content-type": "application/json",
                "x-api-key": canaries.ANTHROPIC_KEY,
                **(headers or {}),
            },
        ) as response,
    ):
        return response.status, await response.read()


def anthropic_error(body: bytes) -> str:
    """The ``error.type`` of an Anthropic error envelope (asserting its shape)."""
    document = orjson.loads(body)
    assert document["type"] == "error" and isinstance(document["error"]["message"], str)
    return str(document["error"]["type"])


@pytest.fixture
def routed_proxy(harness: Harness) -> str:
    """A proxy with routing on (a stand-in control plane routing to haiku) in front of the simulator."""
    _, control_url = harness.control_plane()
    return harness.proxy(control_url).url


def test_malformed_and_mistyped_bodies_get_anthropic_errors(routed_proxy: str) -> None:
    logged_before = len(logbook.lines())
    answers = {}
    for name, body in BAD_BODIES.items():
        status, answer = asyncio.run(post(routed_proxy + "/v1/messages", body))
        assert 400 <= status < 500, f"{name}: {status} {answer[:200]!r}"
        answers[name] = (status, anthropic_error(answer))
    status, answer = asyncio.run(post(routed_proxy + "/v1/messages", GOOD))
    assert status == 200 and orjson.loads(answer)["type"] == "message"
    errors = [line for line in logbook.lines()[logged_before:] if " ERROR " in line or "Traceback" in line]
    assert errors == []
    record(
        Scenario("bad input: malformed and mistyped bodies (proxy)", len(answers) + 1, len(answers) + 1, 0)
    )
    # The proxy itself refuses what it cannot parse; the rest is the upstream's to judge.
    assert answers["invalid JSON"] == (400, "invalid_request_error")
    assert answers["invalid UTF-8 in a string"] == (400, "invalid_request_error")


@pytest.mark.parametrize("chunked", [False, True])
def test_bodies_over_32_mib_are_refused_with_routing_on(routed_proxy: str, chunked: bool) -> None:
    big = b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "pad": "' + b"x" * (33 * MIB) + b'"}'

    async def pieces():
        for start in range(0, len(big), MIB):
            yield big[start : start + MIB]

    status, answer = asyncio.run(
        post(routed_proxy + "/v1/messages", pieces() if chunked else io.BytesIO(big))
    )
    assert status == 413 and anthropic_error(answer) == "request_too_large"
    assert asyncio.run(post(routed_proxy + "/v1/messages", GOOD))[0] == 200


async def raw_exchange(url: str, head: bytes) -> bytes:
    """Send ``head`` as the whole request and read what comes back until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(65536), timeout=10)
    except ConnectionResetError:
        return b""
    finally:
        writer.close()


@pytest.mark.parametrize(
    "flood",
    [
        "5,000 headers",
        "one 1 MiB header",
        "a 64 KiB request line",
        "a header with a NUL byte",
        "garbage instead of HTTP",
    ],
)
def test_header_floods_and_broken_http_never_take_the_proxy_down(routed_proxy: str, flood: str) -> None:
    body = GOOD
    start = b"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
    length = b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    heads = {
        "5,000 headers": start + b"".join(b"x-flood-%d: %d\r\n" % (i, i) for i in range(5000)) + length,
        "one 1 MiB header": start + b"x-big: " + b"a" * MIB + b"\r\n" + length,
        "a 64 KiB request line": b"POST /v1/messages?" + b"q" * 65536 + b" HTTP/1.1\r\nhost: x\r\n" + length,
        "a header with a NUL byte": start + b"x-nul: a\x00b\r\n" + length,
        "garbage instead of HTTP": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 200,
    }
    answer = asyncio.run(raw_exchange(routed_proxy, heads[flood]))
    status_line = answer.split(b"\r\n", 1)[0]
    # Refused by the HTTP server (400/431) or answered after the proxy read it whole; never a 5xx.
    assert not status_line.startswith((b"HTTP/1.1 5", b"HTTP/1.0 5")), status_line
    status, _ = asyncio.run(post(routed_proxy + "/v1/messages", GOOD))
    assert status == 200


CONTROL_BAD_BODIES: dict[str, tuple[bytes, str]] = {
    "invalid JSON": (b'{"requested_model": ', "application/json"),
    "empty body": (b"", "application/json"),
    "invalid UTF-8": (b'{"requested_model": "\xff\xfe"}', "application/json"),
    "lone surrogate escape": (b'{"requested_model": "\\ud800"}', "application/json"),
    "nesting 5,000 deep": (b"[" * 5000 + b"]" * 5000, "application/json"),
    "JSON array": (b"[]", "application/json"),
    "number beyond double": (b'{"requested_model": 1e400}', "application/json"),
    "form instead of JSON": (b"requested_model=x&category=code", "application/x-www-form-urlencoded"),
    "a long string value": (b'{"requested_model": "' + b"x" * 2000 + b'"}', "application/json"),
    "a megabyte string value": (b'{"requested_model": "' + b"eyJ." * 250_000 + b'"}', "application/json"),
    "a body over 4 MiB": (b'{"rows": [' + b"0," * (2 * 1024 * 1024 + 1) + b"0]}", "application/json"),
}


@pytest.mark.parametrize("path", ["/v1/route", "/v1/meter", "/v1/logs", "/v1/telemetry"])
async def test_the_control_plane_answers_bad_bytes_with_problems_not_5xx(make_client, settings, path) -> None:
    client = make_client(settings)
    statuses = {}
    for name, (body, content_type) in CONTROL_BAD_BODIES.items():
        response = await client.post(
            path,
            content=body,
            headers={"content-type": content_type, "authorization": "Bearer mp_live_" + "x" * 40},
        )
        assert 400 <= response.status_code < 500, f"{name}: {response.status_code}"
        assert response.headers["content-type"].startswith("application/problem+json"), name
        assert response.json()["status"] == response.status_code, name
        statuses[name] = response.status_code
    assert (await client.get("/healthz")).status_code == 200
    assert statuses["invalid JSON"] == 422  # FastAPI refuses undecodable bytes (400) before that
    assert statuses["a body over 4 MiB"] == 413


async def test_a_chunked_body_over_the_cap_is_refused_as_a_problem(make_client, settings) -> None:
    client = make_client(settings)

    async def chunks():
        yield b'{"rows": ['
        for _ in range(80):
            yield b"0," * 32_768  # 64 KiB each: 5 MiB in all, with no content-length declared
        yield b"0]}"

    response = await client.post("/v1/meter", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["title"] == "Content too large"
    assert (await client.get("/healthz")).status_code == 200
