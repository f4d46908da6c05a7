"""An in-memory ``UpstreamClient`` (as httpx's ``MockTransport``) and an in-memory caller, to
drive one pipeline stage at a time without a server.

``MemoryUpstream(handler)`` calls ``handler(request)`` for each request sent through it; the
handler returns a :class:`Reply` (status, headers, body chunks; ``break_after`` makes the body
break off with ``UpstreamUnavailableError`` after that many chunks) or raises an
``UpstreamError``. ``Caller`` is the ASGI side: the body messages it sends and every message the
proxy sends back, in order, beside the ``commit`` marks of the records delivered.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from modelpilot.proxy.errors import UpstreamUnavailableError
from modelpilot.proxy.recording import RequestRecord
from modelpilot.proxy.upstream import RequestBody, UpstreamResponse


@dataclass
class Sent:
    """One request as the upstream seam received it (a streamed body is read whole)."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes | None

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


@dataclass
class Reply:
    status: int = 200
    headers: list[tuple[bytes, bytes]] = field(
        default_factory=lambda: [(b"content-type", b"application/json")]
    )
    chunks: list[bytes] = field(default_factory=lambda: [b"{}"])
    break_after: int | None = None  # the body breaks off after this many chunks
    framed: bool = True  # a content-length header for the whole body


class MemoryResponse:
    def __init__(self, reply: Reply) -> None:
        self.status = reply.status
        headers = list(reply.headers)
        if reply.framed and reply.break_after is None:
            headers.append((b"content-length", str(sum(len(c) for c in reply.chunks)).encode()))
        self.raw_headers: Sequence[tuple[bytes, bytes]] = headers
        self._reply = reply
        self.closed = self.released = False

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        for index, chunk in enumerate(self._reply.chunks):
            if self._reply.break_after is not None and index >= self._reply.break_after:
                raise UpstreamUnavailableError("the upstream connection broke off")
            await asyncio.sleep(0)  # a chunk arrives: other tasks run in between, as on a socket
            yield chunk
        if self._reply.break_after is not None and self._reply.break_after >= len(self._reply.chunks):
            raise UpstreamUnavailableError("the upstream connection broke off")

    def close(self) -> None:
        self.closed = True

    def release(self) -> None:
        self.released = True


Handler = Callable[[Sent], Reply | Awaitable[Reply]]


class MemoryUpstream:
    """An ``UpstreamClient`` answering from ``handler``; ``sent`` and ``responses`` in order."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.sent: list[Sent] = []
        self.responses: list[MemoryResponse] = []
        self.is_closed = False

    async def send(
        self, method: str, target: str, headers: list[tuple[str, str]], body: RequestBody
    ) -> UpstreamResponse:
        if body is not None and not isinstance(body, bytes):
            body = b"".join([chunk async for chunk in body])
        request = Sent(method, target, list(headers), body)
        self.sent.append(request)
        reply = self.handler(request)
        if not isinstance(reply, Reply):
            reply = await reply
        response = MemoryResponse(reply)
        self.responses.append(response)
        return response

    async def aclose(self) -> None:
        self.is_closed = True


class Caller:
    """The ASGI caller: ``body`` goes out in ``messages`` (the request side); ``out`` collects
    what the proxy sends, and ``("commit", record)`` where a record was delivered."""

    def __init__(self, *bodies: bytes, disconnect_after: int | None = None) -> None:
        self._incoming: list[dict[str, Any]] = [
            {"type": "http.request", "body": body, "more_body": i < len(bodies) - 1}
            for i, body in enumerate(bodies or (b"",))
        ]
        if disconnect_after is not None:
            self._incoming = [*self._incoming[:disconnect_after], {"type": "http.disconnect"}]
        self.received = 0
        self.out: list[Any] = []
        self._idle = asyncio.Event()  # never set: after its body the caller only waits

    async def receive(self) -> dict[str, Any]:
        if self.received < len(self._incoming):
            self.received += 1
            return self._incoming[self.received - 1]
        await self._idle.wait()
        raise AssertionError("not reached")

    async def send(self, message: dict[str, Any]) -> None:
        self.out.append(message)

    def deliver(self, record: RequestRecord) -> None:
        self.out.append(("commit", record))

    def kinds(self) -> list[str]:
        """The order of events: ``start``, ``body`` (more to come), ``last`` and ``commit``."""
        names = []
        for item in self.out:
            if isinstance(item, tuple):
                names.append("commit")
            elif item["type"] == "http.response.start":
                names.append("start")
            else:
                names.append("body" if item.get("more_body") else "last")
        return names

    def body(self) -> bytes:
        return b"".join(
            m.get("body", b"") for m in self.out if isinstance(m, dict) and m["type"] == "http.response.body"
        )
