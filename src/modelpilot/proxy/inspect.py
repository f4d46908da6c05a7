"""``modelpilot inspect REQUEST.json``: print exactly what the proxy would send for a request.

The output is the body of ``POST /v1/route`` that the proxy sends to the control plane for this
Messages request (DESIGN.md §2), byte for byte: the same functions build it
(:func:`~modelpilot.proxy.decisions.build_route_request`,
:func:`~modelpilot.proxy.decisions.encode_route_request`). The only other things sent are the
headers ``content-type: application/json`` and ``authorization: Bearer <deployment key>``.
Nothing is sent when the decision comes from the cache or from the conversation's first decision.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from modelpilot.proxy.decisions import ROUTE_PATH, build_route_request, encode_route_request


def inspect_request(body: bytes) -> bytes | None:
    """The ``/v1/route`` body the proxy would send for Messages request ``body``, or None when
    the request would go upstream unrouted without asking (no model, not a JSON object)."""
    document = orjson.loads(body)
    if not isinstance(document, dict):
        return None
    route_request = build_route_request(document)
    return encode_route_request(route_request) if route_request is not None else None


@click.command("inspect")
@click.argument("request_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def inspect_command(request_file: Path) -> None:
    """Print the exact bytes the proxy would send to the control plane for REQUEST_FILE.

    REQUEST_FILE holds a Messages request body (the JSON your application sends to
    /v1/messages). The output is the body of POST /v1/route, without a trailing newline when
    written to a file or pipe, so it can be compared byte for byte.
    """
    try:
        sent = inspect_request(request_file.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{request_file} is not JSON: {exc}") from exc
    if sent is None:
        click.echo("nothing: this request has no usable model id and is forwarded unrouted", err=True)
        return
    click.echo(f"POST {ROUTE_PATH}", err=True)
    sys.stdout.buffer.write(sent)
    if sys.stdout.isatty():
        sys.stdout.buffer.write(b"\n")
    sys.stdout.flush()


__all__ = ["inspect_command", "inspect_request"]
