"""Issue 15, items 5, 6 and 7 (paths): the proxy's trust boundary.

5. With a fallback Anthropic key set, a DNS-rebinding request (``Host: rebind.attacker.example``)
   and cross-site browser requests are refused in Anthropic's error shape and never reach the
   upstream, so the fallback key is never added to them. So is a request with no ``Host``.
   ``--allowed-host '*'`` serves any ``Host``, but still not a cross-site or foreign-origin request.
6. A small gzip body that inflates beyond the 32 MiB limit is refused with 413 (inflated in a
   thread, never beyond the limit), and the proxy keeps answering.
7. Paths with dot segments (``/v1/../admin``, ``/v1/%2e%2e/admin``) are refused, not forwarded."""

from __future__ import annotations

import asyncio
import zlib

import aiohttp
import orjson
import pytest

from tests.proxy.routing.conftest import PLAIN, Harness, plain_body
from tests.reliability import canaries
from tests.reliability.scenarios import Scenario, record
from tests.reliability.test_bad_input import anthropic_error
from tests.servers import serve

GOOD = orjson.dumps(plain_body(1))
MIB = 1024 * 1024
FALLBACK_KEY = "sk-ant-api03-fallback-" + "f" * 40


async def send(url: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    async with (
        aiohttp.ClientSession(skip_auto_headers=("Content-Type", "User-Agent")) as session,
        session.post(url + path, data=body, headers=headers) as response,
    ):
        return response.status, await response.read()


HOSTILE: dict[str, dict[str, str]] = {
    "DNS rebinding (Host: rebind.attacker.example)": {
        "host": "rebind.attacker.example",
        "content-type": "application/json",
    },
    "DNS rebinding with a port": {"host": "rebind.attacker.example:8787", "content-type": "application/json"},
    "cross-site text/plain POST (form-like, no preflight)": {
        "content-type": "text/plain",
        "origin": "https://attacker.example",
        "sec-fetch-site": "cross-site",
        "sec-fetch-mode": "no-cors",
    },
    "cross-site fetch metadata without Origin": {
        "content-type": "text/plain",
        "sec-fetch-site": "cross-site",
    },
    "foreign Origin without fetch metadata": {
        "content-type": "text/plain",
        "origin": "http://attacker.example",
    },
    "Origin: null (sandboxed frame)": {"content-type": "text/plain", "origin": "null"},
}


@pytest.fixture
def fallback_proxy(harness: Harness):
    """A proxy without routing whose operator set a fallback Anthropic key (as ``modelpilot up``)."""
    canaries.register(FALLBACK_KEY)
    return harness.proxy(None, anthropic_api_key=FALLBACK_KEY)


def test_rebinding_and_cross_site_requests_never_get_the_fallback_key(fallback_proxy) -> None:
    refused = 0
    for name, headers in HOSTILE.items():
        status, answer = asyncio.run(send(fallback_proxy.url, "/v1/messages", GOOD, headers))
        assert status == 403, f"{name}: {status} {answer[:200]!r}"
        assert anthropic_error(answer) == "permission_error"
        refused += 1
    assert fallback_proxy.records == []  # nothing reached the upstream

    # The proxy's own callers are unaffected: loopback Host, same-origin or same-site pages.
    for headers in (
        {"content-type": "application/json"},
        {"content-type": "application/json", "host": "localhost:8787"},
        {
            "content-type": "application/json",
            "origin": "http://localhost:3000",
            "sec-fetch-site": "same-site",
        },
    ):
        status, answer = asyncio.run(send(fallback_proxy.url, "/v1/messages", GOOD, headers))
        assert status == 200, answer[:200]
    assert len(fallback_proxy.records) == 3
    record(
        Scenario(
            "attack: DNS rebinding and cross-site requests (fallback key set)",
            sent=refused,
            succeeded=refused,
            lost=0,
            note="403 permission_error; 0 forwarded with the fallback key",
        )
    )


def test_a_configured_host_is_served(harness: Harness) -> None:
    proxy = harness.proxy(None, anthropic_api_key=FALLBACK_KEY, allowed_hosts=("modelpilot-proxy",))
    headers = {"content-type": "application/json", "host": "modelpilot-proxy:8787"}
    assert asyncio.run(send(proxy.url, "/v1/messages", GOOD, headers))[0] == 200


def test_the_health_check_answers_any_host_and_only_it_does(harness: Harness) -> None:
    """Kubernetes probes name the pod's IP as Host (docs/proxy.md): /healthz forwards nothing and
    uses no key, so it answers; every other path still refuses that Host."""

    async def probe(path: str) -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.get(proxy.url + path, headers={"host": "10.1.2.3:8787"}) as response,
        ):
            return response.status

    proxy = harness.proxy(None, anthropic_api_key=FALLBACK_KEY)
    assert asyncio.run(probe("/healthz")) == 200
    assert asyncio.run(probe("/metrics")) == 403
    assert asyncio.run(probe("/v1/models")) == 403
    assert proxy.records == []


def test_any_host_turns_off_only_the_host_check(harness: Harness) -> None:
    """``--allowed-host '*'`` (docs/proxy.md): any ``Host`` is served, the browser checks stay on
    (a rebound page's POST carries its own origin, which ``*`` does not allow)."""
    proxy = harness.proxy(None, anthropic_api_key=FALLBACK_KEY, allowed_hosts=("*",))
    json = {"content-type": "application/json"}
    for host in ("10.1.2.3:8787", "rebind.attacker.example", "modelpilot-proxy"):
        assert asyncio.run(send(proxy.url, "/v1/messages", GOOD, {**json, "host": host}))[0] == 200, host
    browser = {
        "a rebound page's POST": {
            **json,
            "host": "rebind.attacker.example",
            "origin": "http://rebind.attacker.example",
            "sec-fetch-site": "same-origin",
        },
        "an Origin of '*'": {**json, "origin": "http://*"},
        # The cross-site and foreign-origin requests (the others only name a foreign Host).
        **{name: headers for name, headers in HOSTILE.items() if "host" not in headers},
    }
    served = len(proxy.records)
    for name, headers in browser.items():
        status, answer = asyncio.run(send(proxy.url, "/v1/messages", GOOD, headers))
        assert status == 403, f"{name}: {status} {answer[:200]!r}"
        assert anthropic_error(answer) == "permission_error"
    assert len(proxy.records) == served  # none of them reached the upstream
    same_site = {**json, "origin": "http://localhost:3000", "sec-fetch-site": "same-site"}
    assert asyncio.run(send(proxy.url, "/v1/messages", GOOD, same_site))[0] == 200


@pytest.mark.parametrize("protocol", ["httptools", "h11"])
def test_a_request_without_a_host_header_is_refused(harness: Harness, protocol: str) -> None:
    proxy = harness.proxy(None, anthropic_api_key=FALLBACK_KEY)
    body = GOOD.decode()
    refused = 0
    with serve(proxy.app, http=protocol, **PLAIN) as url:
        for version in ("HTTP/1.1", "HTTP/1.0"):
            head = (
                f"POST /v1/messages {version}\r\ncontent-type: application/json\r\n"
                f"content-length: {len(GOOD)}\r\nconnection: close\r\n\r\n{body}"
            ).encode()
            answer = asyncio.run(raw_exchange(url, head))
            status_line, _, rest = answer.partition(b"\r\n")
            assert status_line.split()[1] == b"400", f"{version}: {answer[:300]!r}"
            if not (protocol == "h11" and version == "HTTP/1.1"):  # h11 refuses it itself, in plain text
                assert anthropic_error(rest.partition(b"\r\n\r\n")[2]) == "invalid_request_error"
            refused += 1
    assert proxy.records == []  # nothing forwarded with the fallback key
    record(
        Scenario(
            f"bad input: requests without a Host header (HTTP/1.1 and 1.0, {protocol})",
            sent=2,
            succeeded=refused,
            lost=len(proxy.records),
            note=f"400; {len(proxy.records)} forwarded with the fallback key",
        )
    )


DOT_SEGMENT_PATHS = ["/v1/../admin", "/v1/%2e%2e/admin", "/v1/%2E%2E/admin", "/v1/./messages"]


def test_paths_with_dot_segments_are_refused(fallback_proxy) -> None:
    host, port = fallback_proxy.url.removeprefix("http://").split(":")
    refused = 0
    for path in DOT_SEGMENT_PATHS:
        head = f"GET {path} HTTP/1.1\r\nhost: {host}:{port}\r\nconnection: close\r\n\r\n".encode()
        answer = asyncio.run(raw_exchange(fallback_proxy.url, head))
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.split()[1] == b"400", f"{path}: {answer[:300]!r}"
        assert anthropic_error(rest.partition(b"\r\n\r\n")[2]) == "invalid_request_error"
        refused += 1
    forwarded = len(fallback_proxy.records)
    record(
        Scenario(
            "attack: paths with dot segments (/v1/../admin, %2e%2e, /./)",
            sent=len(DOT_SEGMENT_PATHS),
            succeeded=refused,
            lost=forwarded,
            note=f"400 invalid_request_error; {forwarded} forwarded",
        )
    )
    assert forwarded == 0


async def raw_exchange(url: str, head: bytes) -> bytes:
    """Send ``head`` as the whole request (bytes as written: no client normalises the path) and
    read the answer until the server closes."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write(head)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


def gzip_bomb(inflated_bytes: int) -> bytes:
    squeezer = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = b'{"model": "claude-sonnet-4-6", "max_tokens": 5, "messages": [], "pad": "'
    parts = [squeezer.compress(head)]
    chunk = b"0" * MIB
    for _ in range(inflated_bytes // MIB):
        parts.append(squeezer.compress(chunk))
    parts.append(squeezer.compress(b'"}'))
    parts.append(squeezer.flush())
    return b"".join(parts)


def test_a_gzip_bomb_is_refused_with_413_and_the_proxy_keeps_answering(harness: Harness) -> None:
    _, control_url = harness.control_plane()
    proxy = harness.proxy(control_url)
    bomb = gzip_bomb(48 * MIB)  # over the 32 MiB limit once inflated, about 50 KiB on the wire
    assert len(bomb) < 100 * 1024
    headers = {
        "content-type": "application/json",
        "content-encoding": "gzip",
        "x-api-key": canaries.ANTHROPIC_KEY,
    }

    async def attack() -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(send(proxy.url, "/v1/messages", bomb, headers) for _ in range(3)))

    answers = asyncio.run(attack())
    for status, answer in answers:
        assert status == 413, answer[:200]
        assert anthropic_error(answer) == "request_too_large"
    plain = {"content-type": "application/json", "x-api-key": canaries.ANTHROPIC_KEY}
    assert asyncio.run(send(proxy.url, "/v1/messages", GOOD, plain))[0] == 200
    # A small compressed body is still inflated, checked and forwarded (the simulator itself
    # does not read gzip bodies, so its answer is not the point here).
    forwarded = len(proxy.records)
    status, answer = asyncio.run(send(proxy.url, "/v1/messages", zlib.compress(GOOD, wbits=31), headers))
    assert status != 413 and len(proxy.records) == forwarded + 1, answer
    record(
        Scenario(
            "attack: 3 gzip bombs at once (50 KiB inflating to 48 MiB)",
            sent=4,
            succeeded=4,
            lost=0,
            note="413 request_too_large, then a good request answered",
        )
    )
