"""Raw ASGI request and response primitives: the simulator serves thousands of requests a second
in benchmarks, so it skips a framework."""

from __future__ import annotations

import gzip
import time
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

import orjson

from modelpilot.sim.errors import InvalidRequestError, RequestTooLargeError
from modelpilot.sim.settings import SimSettings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

JSON_TYPE = (b"content-type", b"application/json")


class Request:
    """The parts of an HTTP request the simulator reads."""

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self._receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: dict[str, str] = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        self.query: dict[str, str] = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))

    @property
    def origin(self) -> str:
        """``scheme://host`` as the client addressed us (for absolute URLs like ``results_url``)."""
        host = self.headers.get("host")
        if host is None:
            server = self.scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{self.scope.get('scheme', 'http')}://{host}"

    async def body(self, limit: int) -> bytes:
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestTooLargeError()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise RequestTooLargeError()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    async def json(self, limit: int) -> Any:
        raw = await self.body(limit)
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise InvalidRequestError(
                f"There was an issue with your request body: invalid JSON ({exc.msg})"
            ) from exc


class ResponseHeaders:
    """Headers every answer carries: request id, organization and (informative) rate limits."""

    def __init__(self, settings: SimSettings, clock: Callable[[], float] = time.time) -> None:
        self._settings = settings
        self._clock = clock
        self._second = -1
        self._cached: Headers = []

    def common(self, request_id: str) -> Headers:
        now = int(self._clock())
        if now != self._second:
            self._second, self._cached = now, self._rate_limits(now)
        return [(b"request-id", request_id.encode()), *self._cached]

    def _rate_limits(self, now: int) -> Headers:
        s = self._settings
        reset = (
            (datetime.fromtimestamp(now, UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%SZ").encode()
        )
        headers: Headers = [(b"anthropic-organization-id", s.organization_id.encode())]
        limits = {
            "requests": (s.rate_limit_requests, s.rate_limit_requests - 1),
            "tokens": (s.rate_limit_input_tokens + s.rate_limit_output_tokens,) * 2,
            "input-tokens": (s.rate_limit_input_tokens,) * 2,
            "output-tokens": (s.rate_limit_output_tokens,) * 2,
        }
        for name, (limit, remaining) in limits.items():
            prefix = f"anthropic-ratelimit-{name}-".encode()
            headers += [
                (prefix + b"limit", str(limit).encode()),
                (prefix + b"remaining", str(remaining).encode()),
                (prefix + b"reset", reset),
            ]
        return headers


async def send_body(send: Send, status: int, body: bytes, headers: Headers) -> None:
    """A complete response with a known length, in two ASGI sends."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def maybe_gzip(request: Request, body: bytes, headers: Headers, *, enabled: bool, min_bytes: int) -> bytes:
    """Gzip a JSON answer like the API does when the client accepts it (adds the header in place)."""
    if not enabled or len(body) <= min_bytes or "gzip" not in request.headers.get("accept-encoding", ""):
        return body
    headers += [(b"content-encoding", b"gzip"), (b"vary", b"accept-encoding")]
    return gzip.compress(body, compresslevel=5, mtime=0)
