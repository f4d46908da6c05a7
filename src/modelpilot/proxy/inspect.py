"""``modelpilot inspect REQUEST.json``: print exactly what the proxy would send for a request.

The output is the body of ``POST /v1/route`` that the proxy sends to the control plane for this
Messages request (DESIGN.md §2), byte for byte: the same functions build it
(:func:`~modelpilot.proxy.features.wire_request.build_route_request`,
:func:`~modelpilot.proxy.features.wire_request.encode_route_request`). The only other things sent are the
headers ``content-type: application/json`` and ``authorization: Bearer <deployment key>``.
Nothing is sent when the decision comes from the cache or from the conversation's first decision.

With the local learner's file (``--learner``, by default the proxy's own beside its spool, when
it exists), the output carries the learner's score for the request (``learned_acceptable``,
``learned_verdicts``) as the proxy would send it; the learner's examples and weights are never
part of it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click
import orjson

from modelpilot.proxy.cli import default_learner_path
from modelpilot.proxy.features.wire_request import ROUTE_PATH, build_route_request, encode_route_request
from modelpilot.proxy.learning import LocalLearner


def inspect_request(body: bytes, learner: LocalLearner | None = None) -> bytes | None:
    """The ``/v1/route`` body the proxy would send for Messages request ``body`` (scored by
    ``learner``, if any), or None when the request would go upstream unrouted without asking
    (no model, not a JSON object)."""
    document = orjson.loads(body)
    if not isinstance(document, dict):
        return None
    route_request = build_route_request(document, learner)
    return encode_route_request(route_request) if route_request is not None else None


@click.command("inspect")
@click.argument("request_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--learner",
    "learner_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    envvar="MODELPILOT_LEARNER",
    help="The proxy's local learner file [default: the one beside the default spool of the key in MODELPILOT_API_KEY, if any].",
)
def inspect_command(request_file: Path, learner_path: Path | None) -> None:
    """Print the exact bytes the proxy would send to the control plane for REQUEST_FILE.

    REQUEST_FILE holds a Messages request body (the JSON your application sends to
    /v1/messages). The output is the body of POST /v1/route, without a trailing newline when
    written to a file or pipe, so it can be compared byte for byte.
    """
    deployment_key = os.environ.get("MODELPILOT_API_KEY")
    if learner_path is None and deployment_key:
        learner_path = default_learner_path(deployment_key)
    learner = LocalLearner(learner_path) if learner_path is not None and learner_path.exists() else None
    try:
        sent = inspect_request(request_file.read_bytes(), learner)
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
