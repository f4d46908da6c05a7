"""``modelpilot sim``: run the upstream simulator on a local port."""

from __future__ import annotations

import logging

import click

from modelpilot.ports import ensure_port_free
from modelpilot.servers import Listener, serve_all
from modelpilot.sim.app import create_app
from modelpilot.sim.settings import SimSettings

_TORN_RESPONSE = "ASGI callable returned without completing response."


class _InjectedDisconnectFilter(logging.Filter):
    """Drop uvicorn's error line for responses the simulator tears on purpose
    (``disconnect_after_events`` faults): they are the requested behaviour, not a server bug."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _TORN_RESPONSE


@click.command("sim")
@click.option(
    "--host", default="127.0.0.1", show_default=True, envvar="MODELPILOT_SIM_HOST", help="Interface."
)
@click.option(
    "--port", default=8788, show_default=True, envvar="MODELPILOT_SIM_PORT", help="Port (0 picks a free one)."
)
@click.option(
    "--ttft-ms",
    default=0.0,
    show_default=True,
    envvar="MODELPILOT_SIM_TTFT_MS",
    help="Delay to the first byte.",
)
@click.option(
    "--token-ms",
    default=0.0,
    show_default=True,
    envvar="MODELPILOT_SIM_TOKEN_MS",
    help="Delay between deltas.",
)
@click.option(
    "--batch-processing-s", default=0.0, show_default=True, help="How long batches stay in progress."
)
@click.option(
    "--api-key", "api_keys", multiple=True, help="Accept only this key (repeatable; default: any key)."
)
def sim_command(
    host: str,
    port: int,
    ttft_ms: float,
    token_ms: float,
    batch_processing_s: float,
    api_keys: tuple[str, ...],
) -> None:
    """Run an Anthropic-compatible upstream simulator (for tests, the demo and benchmarks)."""
    ensure_port_free(host, port, "--port")
    settings = SimSettings(
        ttft_ms=ttft_ms,
        token_ms=token_ms,
        batch_processing_s=batch_processing_s,
        api_keys=frozenset(api_keys) if api_keys else None,
    )
    logging.getLogger("uvicorn.error").addFilter(_InjectedDisconnectFilter())
    serve_all(
        [Listener("simulator", create_app(settings), host, port, lifespan="off")],
        on_started=lambda urls: click.echo(f"modelpilot sim listening on {urls['simulator']}", err=True),
    )
