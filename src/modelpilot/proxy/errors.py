"""Errors the proxy itself originates, rendered in Anthropic's envelope.

ProxyError                      500 api_error
  UpstreamError                 - the upstream could not be used
    UpstreamUnavailableError    502 api_error      unreachable, refused, reset, TLS failure
    UpstreamTimeoutError        504 timeout_error  no connection or no bytes within the timeout
  InvalidRequestError           400 invalid_request_error  body is not JSON where JSON is required
  RequestTooLargeError          413 request_too_large
  NotFoundError                 404 not_found_error        a path the proxy does not serve
  ControlPlaneError             - the control plane could not be used: never shown to the
                                  caller. Metering stays in the spool; a request without a
                                  routing decision goes upstream unrouted (fail open). ``reason``
                                  names the kind: refused, unavailable, timeout, tls (transport,
                                  from control_client.py), and for decisions status_4xx,
                                  status_5xx, invalid_body, circuit_open (decisions.py)

Foreign exceptions (aiohttp, OSError) are translated once, in ``upstream.py``, with ``from exc``;
``control_client.py`` turns those of the control plane's pools into ControlPlaneError.
The statuses are chosen with the SDK in mind: it retries 5xx, so an unreachable upstream (502) and
a timeout (504) are retried like the real API's own transient failures, and 4xx are not.
"""

from __future__ import annotations

import secrets

import orjson


class ProxyError(Exception):
    """Base of every error the proxy answers by itself. ``status`` and ``kind`` (the Anthropic
    ``error.type``) decide the response; the message is safe to show (never a key or a body)."""

    status = 500
    kind = "api_error"


class UpstreamError(ProxyError):
    """The upstream could not be reached or did not answer in time."""

    status = 502


class UpstreamUnavailableError(UpstreamError):
    status = 502
    kind = "api_error"


class UpstreamTimeoutError(UpstreamError):
    status = 504
    kind = "timeout_error"


class InvalidRequestError(ProxyError):
    status = 400
    kind = "invalid_request_error"


class RequestTooLargeError(ProxyError):
    status = 413
    kind = "request_too_large"


class NotFoundError(ProxyError):
    status = 404
    kind = "not_found_error"


class ControlPlaneError(ProxyError):
    """The control plane could not be used; ``reason`` is the failure kind. For a routing
    decision the request fails open, and the reason is counted by the decision client and shown
    in ``x-modelpilot-fail-open``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def new_request_id() -> str:
    """An id in the API's ``req_…`` shape for answers the upstream never saw."""
    return "req_mp" + secrets.token_hex(12)


def render_error(error: ProxyError, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The one renderer: ``(status, headers, body)`` of the Anthropic error envelope."""
    body = orjson.dumps(
        {"type": "error", "error": {"type": error.kind, "message": str(error)}, "request_id": request_id}
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"request-id", request_id.encode()),
    ]
    if isinstance(error, UpstreamError):
        # Tell the SDK explicitly that retrying is sensible, whatever its status heuristics.
        headers.append((b"x-should-retry", b"true"))
    return error.status, headers, body
