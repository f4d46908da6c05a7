"""Run one or more ASGI apps under uvicorn in this process, and stop them together on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn


def fast_server_options() -> dict[str, str]:
    """uvloop and httptools when installed (they are on Linux and macOS), else uvicorn's defaults."""
    options: dict[str, str] = {}
    if importlib.util.find_spec("uvloop") is not None:
        options["loop"] = "uvloop"
    if importlib.util.find_spec("httptools") is not None:
        options["http"] = "httptools"
    return options


@dataclass(frozen=True)
class Listener:
    """One app to serve: ``name`` is used in messages only."""

    name: str
    app: Any
    host: str
    port: int
    lifespan: str = "on"


class _SharedSignalServer(uvicorn.Server):
    # Several servers share one process: signals are handled once, by serve_all, for all of them.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _config(listener: Listener) -> uvicorn.Config:
    return uvicorn.Config(
        listener.app,
        host=listener.host,
        port=listener.port,
        log_level="warning",
        access_log=False,
        lifespan=listener.lifespan,  # type: ignore[arg-type]
        # Upstream Server and Date headers pass through the proxy; ours would duplicate them.
        server_header=False,
        date_header=False,
        **fast_server_options(),  # type: ignore[arg-type]
    )


def serve_all(listeners: Sequence[Listener], *, on_started: Callable[[dict[str, str]], None]) -> None:
    """Serve every listener until SIGINT or SIGTERM, then shut all of them down gracefully.

    ``on_started`` receives ``{name: base_url}`` once every server is listening (ports chosen by
    the OS when a listener asks for port 0 are resolved by then).
    """
    servers = [_SharedSignalServer(_config(listener)) for listener in listeners]
    loop_factory = None
    if fast_server_options().get("loop") == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop

    async def run() -> None:
        loop = asyncio.get_running_loop()

        def request_exit() -> None:
            for server in servers:
                if server.should_exit:
                    server.force_exit = True  # a second Ctrl-C stops without waiting
                server.should_exit = True

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, request_exit)
        tasks = [asyncio.create_task(server.serve()) for server in servers]
        while not all(server.started for server in servers):
            if any(task.done() for task in tasks):
                request_exit()
                break
            await asyncio.sleep(0.01)
        else:
            urls = {
                listener.name: f"http://{listener.host}:{server.servers[0].sockets[0].getsockname()[1]}"
                for listener, server in zip(listeners, servers, strict=True)
            }
            on_started(urls)
        await asyncio.gather(*tasks)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(run())
