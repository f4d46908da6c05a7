"""Small upstream ASGI apps written for the proxy tests: they record exactly what they received
and answer what the test tells them to. Each runs on its own loopback server (``tests.servers``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Received:
    """One request as the upstream saw it (header names lower-cased by the server)."""

    method: str
    raw_path: bytes
    query_string: bytes
    headers: list[tuple[bytes, bytes]]
    body: bytes
    chunks: list[bytes] = field(default_factory=list)
    receive: Receive | None = None  # the server's receive(), for handlers that watch for disconnect

    def header(self, name: str) -> str | None:
        values = [v.decode("latin-1") for k, v in self.headers if k == name.encode()]
        return values[0] if values else None

    def header_names(self) -> list[str]:
        return [k.decode() for k, _ in self.headers]


Handler = Callable[[Received, Send], Awaitable[None]]


async def reply(
    send: Send, status: int = 200, body: bytes = b"{}", headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A complete answer with content-length (unless the test passes its own framing headers)."""
    all_headers = list(headers if headers is not None else [(b"content-type", b"application/json")])
    if not any(k in (b"content-length", b"transfer-encoding") for k, _ in all_headers):
        all_headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": all_headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class CaptureUpstream:
    """Records every request, then runs ``handler`` (default: 200 ``{}``) to answer it.

    ``requests`` is filled from the server thread; read it after the response arrived.
    ``on_first_chunk`` is set (thread-safely) when the first body chunk of a request arrives.
    """

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler: Handler = handler or (lambda _req, send: reply(send))
        self.requests: list[Received] = []
        self.first_chunk_seen = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        received = Received(
            method=scope["method"],
            raw_path=scope["raw_path"],
            query_string=scope["query_string"],
            headers=list(scope["headers"]),
            body=b"",
            receive=receive,
        )
        self.requests.append(received)
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            if chunk:
                received.chunks.append(chunk)
                self.first_chunk_seen.set()
            more = message.get("more_body", False)
        received.body = b"".join(received.chunks)
        await self.handler(received, send)

    @property
    def last(self) -> Received:
        return self.requests[-1]


class ThreadEvent:
    """An event set from the test's loop and awaited from the server's loop (another thread)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    async def wait(self, timeout_s: float = 10.0) -> bool:
        """Poll (1 ms) so no executor thread outlives the server's loop."""
        return await wait_for(self._event.is_set, timeout_s)


async def wait_for(predicate: Callable[[], bool], timeout_s: float = 10.0) -> bool:
    """Poll ``predicate`` every millisecond until it holds or ``timeout_s`` passes."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.001)
    return True
