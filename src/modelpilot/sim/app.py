"""The simulator's ASGI application: routing, auth, error rendering and the admin endpoints.

All state (prompt cache, batches, queued faults) lives on the :class:`SimApp` instance that
:func:`create_app` builds; two apps never share anything.
"""

from __future__ import annotations

from typing import Any

import orjson

from modelpilot.schema.catalog import load_catalog
from modelpilot.sim.asgi import JSON_TYPE, Headers, Receive, Request, ResponseHeaders, Scope, Send, send_body
from modelpilot.sim.batches import BatchStore
from modelpilot.sim.errors import (
    AuthenticationError,
    InvalidRequestError,
    NotFoundError,
    SimError,
    render_error,
)
from modelpilot.sim.faults import FaultQueue, parse_fault
from modelpilot.sim.ids import new_request_id
from modelpilot.sim.messages import FaultError, MessagesEndpoint
from modelpilot.sim.models import get_model, list_models
from modelpilot.sim.prompt_cache import PromptCache
from modelpilot.sim.settings import SimSettings

_BATCHES = "/v1/messages/batches"
_RESULTS_CHUNK_LINES = 64


class SimApp:
    """An Anthropic-compatible upstream, as a raw ASGI application."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = settings
        self.catalog = load_catalog()
        self.headers = ResponseHeaders(settings)
        self.faults = FaultQueue()
        self.messages = MessagesEndpoint(settings, self.catalog, PromptCache(), self.faults, self.headers)
        self.batches = BatchStore(self.messages.batch_message, processing_s=settings.batch_processing_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        request_id = new_request_id()
        try:
            await self._dispatch(request, send, request_id)
        except SimError as exc:
            headers = [*self.headers.common(request_id), JSON_TYPE]
            if isinstance(exc, FaultError):
                headers += exc.headers
            await send_body(send, exc.status, render_error(exc.kind, exc.message, request_id), headers)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _json(self, send: Send, request_id: str, payload: Any, status: int = 200) -> None:
        headers = [*self.headers.common(request_id), JSON_TYPE]
        await send_body(send, status, orjson.dumps(payload), headers)

    def _api_key(self, request: Request) -> str:
        key = request.headers.get("x-api-key", "")
        if not key:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            key = token.strip() if scheme.lower() == "bearer" else ""
        if not key:
            raise AuthenticationError("x-api-key header is required")
        if self.settings.api_keys is not None and key not in self.settings.api_keys:
            raise AuthenticationError("invalid x-api-key")
        return key

    async def _dispatch(self, request: Request, send: Send, request_id: str) -> None:
        path, method = request.path.rstrip("/") or "/", request.method
        if path.startswith("/_sim/"):
            await self._admin(request, send, request_id, path, method)
            return
        if not _is_api_path(path):
            raise NotFoundError("Not found")
        api_key = self._api_key(request)
        if path == "/v1/messages" and method == "POST":
            await self.messages.create(request, send, request_id, api_key)
        elif path == "/v1/messages/count_tokens" and method == "POST":
            body = await request.json(self.settings.max_body_bytes)
            await self._json(send, request_id, self.messages.count_tokens(body))
        elif path == "/v1/models" and method == "GET":
            await self._json(send, request_id, list_models(self.catalog, request.query))
        elif path.startswith("/v1/models/") and method == "GET" and path.count("/") == 3:
            await self._json(send, request_id, get_model(self.catalog, path.rsplit("/", 1)[1]))
        elif path == _BATCHES or path.startswith(_BATCHES + "/"):
            await self._batches(request, send, request_id, path[len(_BATCHES) :].strip("/"), method)
        else:
            raise NotFoundError("Not found")

    async def _batches(self, request: Request, send: Send, request_id: str, rest: str, method: str) -> None:
        parts = rest.split("/") if rest else []
        origin = request.origin
        if not parts and method == "POST":
            batch = self.batches.create(await request.json(self.settings.max_batch_body_bytes))
            await self._json(send, request_id, batch.render(origin))
        elif not parts and method == "GET":
            await self._json(send, request_id, self.batches.page(request.query, origin))
        elif len(parts) == 1 and method == "GET":
            await self._json(send, request_id, self.batches.get(parts[0]).render(origin))
        elif len(parts) == 1 and method == "DELETE":
            await self._json(send, request_id, self.batches.delete(parts[0]))
        elif len(parts) == 2 and parts[1] == "cancel" and method == "POST":
            await self._json(send, request_id, self.batches.cancel(parts[0]).render(origin))
        elif len(parts) == 2 and parts[1] == "results" and method == "GET":
            await self._results(send, request_id, self.batches.results(parts[0]))
        else:
            raise NotFoundError("Not found")

    async def _results(self, send: Send, request_id: str, lines: list[bytes]) -> None:
        headers: Headers = [*self.headers.common(request_id), (b"content-type", b"application/binary")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        for i in range(0, len(lines), _RESULTS_CHUNK_LINES):
            chunk = b"".join(lines[i : i + _RESULTS_CHUNK_LINES])
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _admin(self, request: Request, send: Send, request_id: str, path: str, method: str) -> None:
        if path == "/_sim/health" and method == "GET":
            await self._json(send, request_id, {"status": "ok"})
        elif path == "/_sim/faults" and method == "POST":
            body = await request.json(1024 * 1024)
            if not isinstance(body, dict) or not isinstance(body.get("fault"), str):
                raise InvalidRequestError('expected {"fault": "<x-sim-fault grammar>", "count": N}')
            count = body.get("count", 1)
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise InvalidRequestError("count: must be a positive integer")
            self.faults.add(parse_fault(body["fault"]), count)
            await self._json(send, request_id, {"queued": count})
        elif path == "/_sim/faults" and method == "DELETE":
            self.faults.clear()
            await self._json(send, request_id, {"cleared": True})
        else:
            raise NotFoundError("Not found")


def _is_api_path(path: str) -> bool:
    """Whether the simulator serves ``path``; others are a 404 before any auth check."""
    if path in ("/v1/messages", "/v1/messages/count_tokens", "/v1/models", _BATCHES):
        return True
    return (path.startswith("/v1/models/") and path.count("/") == 3) or path.startswith(_BATCHES + "/")


def create_app(settings: SimSettings | None = None) -> SimApp:
    """Build a simulator app; serve it with any ASGI server.

    >>> app = create_app(SimSettings(ttft_ms=50))
    >>> # uvicorn.run(app, port=8788)
    """
    return SimApp(settings or SimSettings())
