"""The official SDK → the proxy → the simulator, all over loopback HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import anthropic
import pytest

from modelpilot.proxy.app import create_app
from modelpilot.proxy.recording import RequestRecord
from modelpilot.proxy.settings import ProxySettings
from tests.proxy.upstreams import wait_for
from tests.servers import serve

API_KEY = "sk-ant-test"
PLAIN: dict[str, Any] = {"server_header": False, "date_header": False}


class Tee:
    """Wraps the simulator and keeps the exact body bytes it sent, by ``request-id``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.sent: dict[str, bytes] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        parts: list[bytes] = []

        async def tee(message: Any) -> None:
            nonlocal request_id
            if message["type"] == "http.response.start":
                request_id = dict(message.get("headers", [])).get(b"request-id", b"").decode()
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
                if not message.get("more_body", False):
                    self.sent[request_id] = b"".join(parts)
            await send(message)

        try:
            await self.app(scope, receive, tee)
        finally:
            self.sent.setdefault(request_id, b"".join(parts))


@dataclass
class Deployment:
    sim_url: str
    proxy_url: str
    records: list[RequestRecord]
    sim: Tee

    async def record_for(self, request_id: str | None) -> RequestRecord:
        """The proxy's record of the request the upstream answered with ``request_id``."""
        assert request_id is not None

        def find() -> RequestRecord | None:
            return next((r for r in self.records if r.request_id == request_id), None)

        assert await wait_for(lambda: find() is not None), f"no record for {request_id}"
        record = find()
        assert record is not None
        return record

    def sync_record_for(self, request_id: str | None) -> RequestRecord:
        """:meth:`record_for` for synchronous tests."""
        assert request_id is not None
        return self.sync_record_where(lambda record: record.request_id == request_id)

    def sync_record_where(self, predicate: Callable[[RequestRecord], bool]) -> RequestRecord:
        """The first record matching ``predicate``, polling for up to 10 s."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for record in list(self.records):
                if predicate(record):
                    return record
            time.sleep(0.001)
        raise AssertionError("no matching RequestRecord was delivered")


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    """One simulator and one proxy in front of it per test module."""
    from modelpilot.sim import SimSettings
    from modelpilot.sim import create_app as create_sim

    records: list[RequestRecord] = []
    # The simulator's cheap-model misbehaviour is switched off: these tests check transport.
    sim = Tee(create_sim(SimSettings(cheap_failure_rate=0.0, gzip_min_bytes=64)))
    with serve(sim, **PLAIN) as sim_url:
        proxy_app = create_app(ProxySettings(upstream_url=sim_url), on_record=records.append)
        with serve(proxy_app, **PLAIN) as proxy_url:
            yield Deployment(sim_url, proxy_url, records, sim)


@pytest.fixture
def client(deployment: Deployment) -> Iterator[anthropic.Anthropic]:
    with anthropic.Anthropic(
        base_url=deployment.proxy_url, api_key=API_KEY, max_retries=0, _strict_response_validation=True
    ) as sdk:
        yield sdk


@pytest.fixture
async def aclient(deployment: Deployment) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(
        base_url=deployment.proxy_url, api_key=API_KEY, max_retries=0, _strict_response_validation=True
    ) as sdk:
        yield sdk


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw client that adds no headers and leaves bodies compressed, for byte-level checks."""
    async with aiohttp.ClientSession(
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
    ) as session:
        yield session
