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
    """Serve every listener until SIGINT or SIGTERM, then shut them down gracefully.

    Listeners start one at a time in the order given and stop one at a time in reverse order:
    list what others depend on first (the control plane before the proxy, which reaches it at
    start-up and drains its meter spool to it at shutdown).

    ``on_started`` receives ``{name: base_url}`` once every server is listening (ports chosen by
    the OS when a listener asks for port 0 are resolved by then). A second signal stops everything
    at once without waiting for open connections.
    """
    servers = [_SharedSignalServer(_config(listener)) for listener in listeners]
    loop_factory = None
    if fast_server_options().get("loop") == "uvloop":
        import uvloop

        loop_factory = uvloop.new_event_loop

    async def run() -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()

        def request_exit() -> None:
            if stopping.is_set():
                for server in servers:
                    server.should_exit = True
                    server.force_exit = True  # a second Ctrl-C stops without waiting
            stopping.set()

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, request_exit)
        # Started one after the other, in order: a server may reach the ones before it at start-up.
        tasks: list[asyncio.Task[None]] = []
        for server in servers:
            if stopping.is_set():
                break
            tasks.append(asyncio.create_task(server.serve()))
            # A signal during start-up lets this server finish starting (then everything stops),
            # so the "listening" line is printed whenever every server did listen.
            while not server.started:
                if any(task.done() for task in tasks):
                    request_exit()
                    break
                await asyncio.sleep(0.005)
        if len(tasks) == len(servers) and all(server.started for server in servers):
            urls = {
                listener.name: f"http://{listener.host}:{server.servers[0].sockets[0].getsockname()[1]}"
                for listener, server in zip(listeners, servers, strict=True)
            }
            on_started(urls)
        await _stop_in_reverse(servers[: len(tasks)], tasks, stopping)

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(run())


async def _stop_in_reverse(
    servers: Sequence[uvicorn.Server], tasks: Sequence[asyncio.Task[None]], stopping: asyncio.Event
) -> None:
    # A server that ends by itself (it failed) stops the others too.
    stop_wait = asyncio.create_task(stopping.wait())
    await asyncio.wait([stop_wait, *tasks], return_when=asyncio.FIRST_COMPLETED)
    stopping.set()
    await stop_wait
    for server, task in zip(reversed(servers), reversed(tasks), strict=True):
        server.should_exit = True
        await asyncio.wait([task])
    await asyncio.gather(*tasks)
