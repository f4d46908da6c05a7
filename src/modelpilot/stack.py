"""``modelpilot up``: the whole local stack in one process, with embedded defaults.

With ``ANTHROPIC_API_KEY`` set (or ``--upstream``), the proxy forwards to Anthropic with that key;
without one it starts the built-in simulator as the upstream and says so plainly, so everything
can be tried offline.
"""

from __future__ import annotations

import errno
import os
import socket

import click

from modelpilot.servers import Listener, serve_all

ANTHROPIC_URL = "https://api.anthropic.com"


def ensure_port_free(host: str, port: int, option: str) -> None:
    """Fail with a one-line fix instead of a traceback when a port is taken."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise click.UsageError(
                    f"{host}:{port} is already in use; stop what listens there or pass {option} PORT"
                ) from exc
            raise click.UsageError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


@click.command("up")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface for every server.")
@click.option("--port", default=8787, show_default=True, type=click.IntRange(0, 65535), help="Proxy port.")
@click.option(
    "--sim-port",
    default=8788,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Simulator port (used only when no Anthropic key is given).",
)
@click.option(
    "--upstream",
    default=None,
    envvar="MODELPILOT_UPSTREAM_URL",
    help="Anthropic API base URL. Default: Anthropic when ANTHROPIC_API_KEY is set, else the simulator.",
)
def up_command(host: str, port: int, sim_port: int, upstream: str | None) -> None:
    """Start ModelPilot locally: the proxy, and the simulator when there is no Anthropic key."""
    from modelpilot.proxy.app import create_app as create_proxy
    from modelpilot.proxy.settings import ProxySettings

    anthropic_key = os.environ.get("ANTHROPIC_API_KEY") or None
    use_simulator = upstream is None and anthropic_key is None
    listeners: list[Listener] = []
    ensure_port_free(host, port, "--port")
    if use_simulator:
        from modelpilot.sim import SimSettings
        from modelpilot.sim import create_app as create_sim

        ensure_port_free(host, sim_port, "--sim-port")
        # The proxy must know the simulator's address before either starts listening.
        sim_port = sim_port or free_port(host)
        listeners.append(Listener("simulator", create_sim(SimSettings()), host, sim_port))
        upstream = f"http://{host}:{sim_port}"
    upstream = upstream or ANTHROPIC_URL
    try:
        settings = ProxySettings(upstream_url=upstream, anthropic_api_key=anthropic_key)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    listeners.append(Listener("proxy", create_proxy(settings), host, port))

    def announce(urls: dict[str, str]) -> None:
        if use_simulator:
            click.echo(
                f"No ANTHROPIC_API_KEY set: answers come from the built-in simulator at {urls['simulator']},\n"
                "not from Claude, and nothing is sent to Anthropic. Set ANTHROPIC_API_KEY to use the real API."
            )
        else:
            click.echo(f"Upstream: {settings.upstream_base} (your own key; ModelPilot never sees it)")
        click.echo(f"\nPoint your application at the proxy:\n  export ANTHROPIC_BASE_URL={urls['proxy']}")
        click.echo("\nPress Ctrl-C to stop.")

    serve_all(listeners, on_started=announce)
