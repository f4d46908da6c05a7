"""The floor of a Python relay: uvloop and httptools on both sides, no HTTP library.

    python -m bench.raw_relay --port PORT --upstream http://127.0.0.1:UPSTREAM

Not a product: a measuring stick for ``bench.upstream_clients``. It relays ``Content-Length``
requests and answers over kept-alive connections (a pool of upstream connections, one request at
a time each) and knows nothing of chunked bodies, ``Expect``, pipelining, TLS or timeouts, all of
which a real relay must handle. What it shows is how far below uvicorn + aiohttp the same loop and
parser can go when nothing else runs, i.e. what hand-writing the HTTP layer could at best buy.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any, cast
from urllib.parse import urlsplit

import httptools
import uvloop

_DROP = {b"connection", b"keep-alive", b"transfer-encoding", b"host", b"content-length"}


class _Upstream(asyncio.Protocol):
    """One kept-alive connection to the upstream; one exchange at a time."""

    def __init__(self, pool: list[_Upstream]) -> None:
        self._pool = pool
        self._parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self in self._pool:
            self._pool.remove(self)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(ConnectionError("upstream closed"))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        assert self._waiter is not None
        self._waiter.set_result((self._parser.get_status_code(), self._headers, b"".join(self._body)))

    def exchange(self, request: bytes) -> asyncio.Future[tuple[int, list[tuple[bytes, bytes]], bytes]]:
        assert self.transport is not None
        self._headers, self._body = [], []
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return self._waiter


class _Relay(asyncio.Protocol):
    """One caller connection: parse a request, send it upstream, write the answer back."""

    def __init__(self, upstream: tuple[str, int], pool: list[_Upstream]) -> None:
        self._upstream = upstream
        self._pool = pool
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._parser.feed_data(data)

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append((name.lower(), value))

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        method = self._parser.get_method()
        url, headers, body = self._url, self._headers, b"".join(self._body)
        self._url, self._headers, self._body = b"", [], []
        asyncio.get_running_loop().create_task(self._forward(method, url, headers, body))

    async def _connection(self) -> _Upstream:
        if self._pool:
            return self._pool.pop()
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(lambda: _Upstream(self._pool), *self._upstream)
        return protocol

    async def _forward(
        self, method: bytes, url: bytes, headers: list[tuple[bytes, bytes]], body: bytes
    ) -> None:
        host = f"{self._upstream[0]}:{self._upstream[1]}".encode()
        lines = [method + b" " + url + b" HTTP/1.1", b"host: " + host]
        lines += [name + b": " + value for name, value in headers if name not in _DROP]
        lines.append(b"content-length: " + str(len(body)).encode())
        connection = await self._connection()
        status, answer_headers, answer = await connection.exchange(b"\r\n".join(lines) + b"\r\n\r\n" + body)
        self._pool.append(connection)
        out = [b"HTTP/1.1 " + str(status).encode() + b" OK"]
        out += [name + b": " + value for name, value in answer_headers if name not in _DROP]
        out.append(b"content-length: " + str(len(answer)).encode())
        if self._transport is not None:
            self._transport.write(b"\r\n".join(out) + b"\r\n\r\n" + answer)


async def serve(port: int, upstream: str) -> None:
    parts = urlsplit(upstream)
    target = (parts.hostname or "127.0.0.1", parts.port or 80)
    pool: list[_Upstream] = []
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Relay(target, pool), "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    args: Any = parser.parse_args(argv)
    uvloop.run(serve(args.port, args.upstream))


if __name__ == "__main__":
    main()
