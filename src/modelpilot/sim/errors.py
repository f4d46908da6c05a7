"""Errors the simulator answers with, rendered in the Anthropic envelope by one function.

SimError            - any 4xx/5xx the simulated API returns; ``status`` and ``kind`` (error.type)
  InvalidRequestError - 400 invalid_request_error
  AuthenticationError - 401 authentication_error
  NotFoundError       - 404 not_found_error
  RequestTooLargeError - 413 request_too_large
"""

from __future__ import annotations

from typing import Any

import orjson

# The error.type the real API uses for each status (anthropic-api.md §6); unlisted 4xx use
# invalid_request_error and unlisted 5xx api_error, as the API does.
ERROR_KINDS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}

DEFAULT_MESSAGES: dict[str, str] = {
    "invalid_request_error": "Invalid request",
    "authentication_error": "invalid x-api-key",
    "billing_error": "Your credit balance is too low to access the Anthropic API.",
    "permission_error": "Your API key does not have permission to use the specified resource.",
    "not_found_error": "Not found",
    "conflict_error": "Conflict",
    "request_too_large": "Request exceeds the maximum allowed number of bytes.",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
    "overloaded_error": "Overloaded",
}


def kind_for_status(status: int) -> str:
    """The Anthropic error type for an HTTP status."""
    if status in ERROR_KINDS:
        return ERROR_KINDS[status]
    return "api_error" if status >= 500 else "invalid_request_error"


class SimError(Exception):
    """An error answer of the simulated API."""

    status = 500
    kind = "api_error"

    def __init__(
        self, message: str | None = None, *, status: int | None = None, kind: str | None = None
    ) -> None:
        if status is not None:
            self.status = status
            self.kind = kind or kind_for_status(status)
        elif kind is not None:
            self.kind = kind
        self.message = message if message is not None else DEFAULT_MESSAGES.get(self.kind, "Error")
        super().__init__(self.message)


class InvalidRequestError(SimError):
    """400: the request body or parameters are wrong."""

    status = 400
    kind = "invalid_request_error"


class AuthenticationError(SimError):
    """401: no API key, or a key the simulator was not configured to accept."""

    status = 401
    kind = "authentication_error"


class NotFoundError(SimError):
    """404: unknown path, model or batch."""

    status = 404
    kind = "not_found_error"


class RequestTooLargeError(SimError):
    """413: the body is over the endpoint's size limit."""

    status = 413
    kind = "request_too_large"


def error_object(kind: str, message: str) -> dict[str, Any]:
    """The envelope's ``error`` member."""
    return {"type": kind, "message": message}


def render_error(kind: str, message: str, request_id: str) -> bytes:
    """The JSON body of an error answer: ``{"type":"error","error":{..},"request_id":..}``."""
    return orjson.dumps({"type": "error", "error": error_object(kind, message), "request_id": request_id})
