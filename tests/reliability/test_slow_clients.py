"""Issue 15, item 7 (timeouts): slow-header and slow-body connections are closed by both servers
(the proxy's and the control plane's are built by ``modelpilot.servers``), and the server keeps
answering everyone else. uvicorn alone only times out idle keep-alive connections."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from modelpilot.servers import GUARDED_HTTP, Listener, _config, guarded_protocol
from tests.reliability.scenarios import Scenario, record

HELD = 50


async def hello(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


@contextmanager
def guarded_server(base: type[Any]) -> Iterator[int]:
    protocol = guarded_protocol(base, header_timeout_s=0.3, body_idle_timeout_s=0.3)
    config = uvicorn.Config(
        hello, host="127.0.0.1", port=0, lifespan="off", log_level="warning", http=protocol
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    try:
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)


async def held_open(port: int, first_bytes: bytes) -> bool:
    """Send ``first_bytes`` and nothing more; True once the server closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(first_bytes)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), timeout=20)  # EOF: closed by the server
        return b"200" not in answer
    finally:
        writer.close()


async def normal_request(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n")
        return await asyncio.wait_for(reader.read(), timeout=10)
    finally:
        writer.close()


SLOW_HEADERS = b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: "
SLOW_BODY = b'POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 1000\r\n\r\n{"model":'


@pytest.mark.parametrize("base", [HttpToolsProtocol, H11Protocol], ids=["httptools", "h11"])
def test_slow_header_and_slow_body_connections_are_closed(base: type[Any]) -> None:
    with guarded_server(base) as port:

        async def attack() -> list[bool]:
            return await asyncio.gather(
                *(held_open(port, SLOW_HEADERS if i % 2 else SLOW_BODY) for i in range(HELD)),
            )

        closed = asyncio.run(attack())
        answer = asyncio.run(normal_request(port))
    assert all(closed) and len(closed) == HELD
    assert answer.startswith(b"HTTP/1.1 200")
    record(
        Scenario(
            f"attack: {HELD} slow-header and slow-body connections ({base.__name__})",
            sent=HELD,
            succeeded=sum(closed),
            lost=0,
            note="all closed by the server; a normal request answered",
        )
    )


def test_both_servers_are_built_with_the_timeouts() -> None:
    config = _config(Listener("proxy", hello, "127.0.0.1", 0))
    assert isinstance(config.http, type) and config.http.__name__ == "GuardedProtocol"
    # ``modelpilot control --workers N``: uvicorn imports the protocol by name in each worker.
    from uvicorn.importer import import_from_string

    assert import_from_string(GUARDED_HTTP).__name__ == "GuardedProtocol"
