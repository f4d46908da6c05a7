"""Run our ASGI apps on real loopback sockets for tests (uvicorn in a background thread)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serve(
    app: Any, *, host: str = "127.0.0.1", startup_timeout_s: float = 10.0, **config: Any
) -> Iterator[str]:
    """Serve ``app`` on an ephemeral port of ``host`` and yield its base URL (``http://h:p``).

    The server runs its own event loop in a daemon thread and is shut down on exit.
    """
    cfg = uvicorn.Config(app, host=host, port=0, **({"log_level": "warning", "lifespan": "off"} | config))
    server = uvicorn.Server(cfg)
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
        server.should_exit = True
        thread.join(timeout=10)
