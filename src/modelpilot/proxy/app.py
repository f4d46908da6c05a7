"""The proxy's ASGI app: routing, lifespan and the one error renderer.

Raw ASGI rather than a framework: this code sits in front of every API call, and the per-request
work is a dictionary lookup, a header copy and a relay loop (see ``exchange.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import orjson

from modelpilot.proxy.asgi import Receive, Scope, Send, send_response
from modelpilot.proxy.errors import NotFoundError, new_request_id, render_error
from modelpilot.proxy.exchange import Exchange
from modelpilot.proxy.recording import RequestRecord, log_record
from modelpilot.proxy.settings import ProxySettings
from modelpilot.proxy.upstream import AiohttpUpstream, UpstreamClient
from modelpilot.schema.catalog import Catalog, load_catalog

log = logging.getLogger("modelpilot.proxy")

_HEALTH_BODY = orjson.dumps({"status": "ok"})
_HEALTH_HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(_HEALTH_BODY)).encode()),
]


class ProxyApp:
    """The ASGI application built by :func:`create_app`."""

    def __init__(
        self,
        settings: ProxySettings,
        *,
        upstream: UpstreamClient,
        owns_upstream: bool,
        on_record: Callable[[RequestRecord], None],
        catalog: Catalog,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self._owns_upstream = owns_upstream
        self._on_record = on_record
        self._catalog = catalog

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith("/v1/"):
                exchange = Exchange(
                    scope,
                    receive,
                    send,
                    settings=self.settings,
                    upstream=self.upstream,
                    catalog=self._catalog,
                )
                record = await exchange.run()
                self._deliver(record)
            elif path == "/healthz":
                await send_response(send, 200, list(_HEALTH_HEADERS), _HEALTH_BODY)
            else:
                error = NotFoundError(f"{scope['method']} {path} is not served by this proxy")
                await send_response(send, *render_error(error, new_request_id()))
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        # Other scope types (websocket) are not part of the Anthropic API; returning closes them.

    def _deliver(self, record: RequestRecord) -> None:
        try:
            self._on_record(record)
        except Exception:
            # A broken metering hook must not break the caller's request; make it loud instead.
            log.exception("on_record failed for %s %s", record.method, record.path)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                opener = getattr(self.upstream, "open", None)
                if opener is not None:
                    await opener()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._owns_upstream:
                    await self.upstream.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        """Close the upstream pool if the app created it (the lifespan does this by itself)."""
        if self._owns_upstream:
            await self.upstream.aclose()


def create_app(
    settings: ProxySettings,
    *,
    upstream: UpstreamClient | None = None,
    on_record: Callable[[RequestRecord], None] | None = None,
    catalog: Catalog | None = None,
) -> ProxyApp:
    """Build the proxy's ASGI app.

    ``upstream`` defaults to an :class:`~modelpilot.proxy.upstream.AiohttpUpstream` toward
    ``settings.upstream_url``, owned (and closed) by the app; an upstream passed in is the caller's
    to close. ``on_record`` receives one :class:`RequestRecord` per proxied request, after its
    response has been sent (default: a debug log line). ``catalog`` prices the usage.

    >>> app = create_app(ProxySettings(upstream_url="http://127.0.0.1:9000"))
    >>> # uvicorn.run(app, host="127.0.0.1", port=8787)
    """
    return ProxyApp(
        settings,
        upstream=upstream if upstream is not None else AiohttpUpstream(settings),
        owns_upstream=upstream is None,
        on_record=on_record or log_record,
        catalog=catalog if catalog is not None else load_catalog(),
    )


__all__ = ["ProxyApp", "create_app"]
