from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack
from typing import Any

import aiohttp
import pytest

from modelpilot.proxy.app import create_app
from modelpilot.proxy.recording import RequestRecord, log_record
from modelpilot.proxy.settings import ProxySettings
from tests.proxy.upstreams import CaptureUpstream, Handler, wait_for
from tests.servers import serve

# The upstream's own Date/Server must pass through; uvicorn's would be added on top.
PLAIN: dict[str, Any] = {"server_header": False, "date_header": False}


class Records:
    """RequestRecords delivered by the proxy (from its server thread)."""

    def __init__(self) -> None:
        self.items: list[RequestRecord] = []

    def append(self, record: RequestRecord) -> None:
        self.items.append(record)

    async def next(self, index: int = 0) -> RequestRecord:
        """The record number ``index``, waiting briefly: it is made after the last byte was sent."""
        assert await wait_for(lambda: len(self.items) > index), "no RequestRecord was delivered"
        return self.items[index]


class Stack:
    """Starts upstreams and proxies for one test and stops them all at its end."""

    def __init__(self, stack: ExitStack) -> None:
        self._stack = stack
        self.records = Records()

    def upstream(self, handler: Handler | None = None) -> tuple[CaptureUpstream, str]:
        app = CaptureUpstream(handler)
        return app, self._stack.enter_context(serve(app, **PLAIN))

    def proxy(self, upstream_url: str, **settings: Any) -> str:
        def on_record(record: RequestRecord) -> None:
            log_record(record)  # the default hook too, so tests see its log lines
            self.records.append(record)

        app = create_app(ProxySettings(upstream_url=upstream_url, **settings), on_record=on_record)
        return self._stack.enter_context(serve(app, **PLAIN))

    def pair(self, handler: Handler | None = None, **settings: Any) -> tuple[CaptureUpstream, str]:
        """A capture upstream and a proxy in front of it: ``(upstream app, proxy URL)``."""
        upstream, url = self.upstream(handler)
        return upstream, self.proxy(url, **settings)


@pytest.fixture
def stack() -> Iterator[Stack]:
    with ExitStack() as exit_stack:
        yield Stack(exit_stack)


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    """A raw HTTP client that sends only the headers a test gives it and never decompresses."""
    async with aiohttp.ClientSession(
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
    ) as session:
        yield session


Factory = Callable[..., Any]
