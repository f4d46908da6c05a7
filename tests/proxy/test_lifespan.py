"""The ASGI lifespan opens the upstream pool at startup and closes it at shutdown."""

from __future__ import annotations

import asyncio
from typing import Any

from modelpilot.proxy.app import create_app
from modelpilot.proxy.settings import ProxySettings
from modelpilot.proxy.upstream import AiohttpUpstream


async def test_lifespan_opens_and_closes_the_pool() -> None:
    app = create_app(ProxySettings(upstream_url="http://127.0.0.1:9"))
    assert isinstance(app.upstream, AiohttpUpstream)
    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        outbox.append(dict(message))

    await inbox.put({"type": "lifespan.startup"})
    await inbox.put({"type": "lifespan.shutdown"})
    await app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, send)
    assert [m["type"] for m in outbox] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]
    # A closed pool is recreated on demand; closing twice is harmless (ResourceWarnings fail tests).
    await app.aclose()


async def test_an_upstream_passed_in_belongs_to_the_caller() -> None:
    upstream = AiohttpUpstream(ProxySettings(upstream_url="http://127.0.0.1:9"))
    app = create_app(ProxySettings(upstream_url="http://127.0.0.1:9"), upstream=upstream)
    await upstream.open()
    await app.aclose()  # not the app's to close
    await upstream.aclose()
