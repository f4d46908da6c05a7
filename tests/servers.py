"""Run our ASGI apps on real loopback sockets for tests (uvicorn in a background thread)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


class _Server(uvicorn.Server):
    """uvicorn's server with a main loop that :meth:`stop` wakes at once: uvicorn's own sleeps
    0.1 s between checks of ``should_exit``, half of which every test server's stop waited for
    nothing. Between wake-ups it ticks as uvicorn does (the Date header, once a second)."""

    _wake: asyncio.Event | None = None
    _loop: asyncio.AbstractEventLoop | None = None

    async def main_loop(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    def stop(self) -> None:
        self.should_exit = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop already closed
                loop.call_soon_threadsafe(wake.set)


@contextmanager
def serve(
    app: Any, *, host: str = "127.0.0.1", startup_timeout_s: float = 10.0, **config: Any
) -> Iterator[str]:
    """Serve ``app`` on an ephemeral port of ``host`` and yield its base URL (``http://h:p``).

    The server runs its own event loop in a daemon thread and is shut down on exit.
    """
    cfg = uvicorn.Config(app, host=host, port=0, **({"log_level": "warning", "lifespan": "off"} | config))
    server = _Server(cfg)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.005)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        thread.join(timeout=10)
