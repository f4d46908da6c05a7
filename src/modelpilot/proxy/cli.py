"""``modelpilot proxy``: run the local proxy with uvicorn.

The fallback Anthropic key comes from the environment (``ANTHROPIC_API_KEY``) or a file, never
from a flag, so it does not show in ``ps``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import click

from modelpilot.proxy.settings import ProxySettings
from modelpilot.servers import Listener, serve_all

log = logging.getLogger("modelpilot.proxy")


def _read_key_file(path: Path | None) -> str | None:
    if path is None:
        return None
    key = path.read_text("utf-8").strip()
    if not key:
        raise click.BadParameter(f"{path} is empty", param_hint="--anthropic-api-key-file")
    return key


@click.command("proxy")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option(
    "--port", default=8787, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on."
)
@click.option(
    "--upstream",
    "upstream_url",
    default="https://api.anthropic.com",
    show_default=True,
    envvar="MODELPILOT_UPSTREAM_URL",
    help="Anthropic API base URL to forward to.",
)
@click.option(
    "--public-base-url",
    default=None,
    envvar="MODELPILOT_PUBLIC_BASE_URL",
    help="Origin callers use to reach this proxy (for batch results_url); default: the request's Host.",
)
@click.option(
    "--anthropic-api-key-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="File holding the key used for requests that carry none (else $ANTHROPIC_API_KEY).",
)
def proxy_command(
    host: str, port: int, upstream_url: str, public_base_url: str | None, anthropic_api_key_file: Path | None
) -> None:
    """Run the local proxy. Point the SDK at it: ANTHROPIC_BASE_URL=http://HOST:PORT."""
    import os

    from modelpilot.proxy.app import create_app

    key = _read_key_file(anthropic_api_key_file) or os.environ.get("ANTHROPIC_API_KEY") or None
    try:
        settings = ProxySettings(
            upstream_url=upstream_url, anthropic_api_key=key, public_base_url=public_base_url
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    # serve_all stops gracefully on SIGINT/SIGTERM (the lifespan closes the upstream pool), exit 0.
    serve_all(
        [Listener("proxy", create_app(settings), host, port)],
        on_started=lambda urls: click.echo(
            f"modelpilot proxy listening on {urls['proxy']} → upstream {settings.upstream_base}", err=True
        ),
    )
