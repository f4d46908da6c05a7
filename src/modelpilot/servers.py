"""Run one or more ASGI apps under uvicorn in this process, and stop them together on a signal."""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import signal
import socket
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
    """One app to serve: ``name`` is used in messages only. A connection must send a request's
    headers within ``header_timeout_s`` (of opening, or of its previous answer) and may not pause
    for more than ``body_idle_timeout_s`` inside a request body; otherwise it is closed, so slow
    clients cannot hold connections open (uvicorn itself only times out idle keep-alives)."""

    name: str
    app: Any
    host: str
    port: int
    lifespan: str = "on"
    header_timeout_s: float = 10.0
    body_idle_timeout_s: float = 30.0
    #: A socket already bound to ``host:port`` (say, with ``SO_REUSEPORT``) to serve on.
    sock: socket.socket | None = None
    #: Whether ``X-Forwarded-Proto``/``-For`` from ``FORWARDED_ALLOW_IPS`` rewrite the scheme and
    #: client (uvicorn's proxy headers): the control plane behind a load balancer needs them;
    #: the proxy reads neither, so it skips that middleware on every request.
    forwarded_headers: bool = True


def bind_reuse_port(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` with ``SO_REUSEPORT``: several processes may each bind
    one to the same port, and the kernel spreads new connections over those that listen."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def guarded_protocol(base: type[Any], *, header_timeout_s: float, body_idle_timeout_s: float) -> type[Any]:
    """``base`` (uvicorn's httptools or h11 protocol) with the read timeouts of :class:`Listener`,
    checked by one timer per connection."""
    tick_s = max(0.01, min(header_timeout_s, body_idle_timeout_s) / 4)

    class GuardedProtocol(base):  # type: ignore[misc]
        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            now = self.loop.time()
            self._mp_waiting_cycle = self.cycle  # a new cycle means a request's headers arrived
            self._mp_header_deadline = now + header_timeout_s
            self._mp_last_data = now
            self._mp_watch = self.loop.call_later(tick_s, self._mp_check)

        def data_received(self, data: bytes) -> None:
            self._mp_last_data = self.loop.time()
            super().data_received(data)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._mp_waiting_cycle = self.cycle
            self._mp_header_deadline = self.loop.time() + header_timeout_s

        def connection_lost(self, exc: Exception | None) -> None:
            self._mp_watch.cancel()
            super().connection_lost(exc)

        def _mp_check(self) -> None:
            now = self.loop.time()
            cycle = self.cycle
            is_late = (
                now >= self._mp_header_deadline
                if cycle is self._mp_waiting_cycle
                else bool(getattr(cycle, "more_body", False))
                and now - self._mp_last_data >= body_idle_timeout_s
            )
            if is_late and not self.transport.is_closing():
                self.transport.close()
                return
            self._mp_watch = self.loop.call_later(tick_s, self._mp_check)

    return GuardedProtocol


def _http_protocol(listener: Listener) -> type[Any]:
    base: type[Any]
    if importlib.util.find_spec("httptools") is not None:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

        base = HttpToolsProtocol
    else:
        from uvicorn.protocols.http.h11_impl import H11Protocol

        base = H11Protocol
    return guarded_protocol(
        base, header_timeout_s=listener.header_timeout_s, body_idle_timeout_s=listener.body_idle_timeout_s
    )


class _SharedSignalServer(uvicorn.Server):
    # Several servers share one process: signals are handled once, by serve_all, for all of them.
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


#: ``uvicorn.run(..., http=GUARDED_HTTP)`` where uvicorn builds the config itself (``--workers``
#: processes import it by name): the default timeouts of :class:`Listener`.
GUARDED_HTTP = "modelpilot.servers:GuardedHttpProtocol"


def __getattr__(name: str) -> Any:
    # Built on first use (uvicorn's protocol modules are imported then, not with this module).
    if name == "GuardedHttpProtocol":
        return _http_protocol(Listener("default", None, "", 0))
    raise AttributeError(name)


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
        proxy_headers=listener.forwarded_headers,
        **{**fast_server_options(), "http": _http_protocol(listener)},  # type: ignore[arg-type]
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
            listener = listeners[len(tasks)]
            sockets = [listener.sock] if listener.sock is not None else None
            tasks.append(asyncio.create_task(server.serve(sockets=sockets)))
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
