"""The control plane's errors. Domain code raises these; the HTTP layer renders each one once,
as ``application/problem+json`` (RFC 9457) for the APIs and as an HTML page for the forms.

ModelPilotError          500 - anything unexpected
  AuthError              401 - missing, unknown, expired or revoked key or session; bad password
    SuspendedError       403 - the account is suspended
  ForbiddenError         403 - authenticated but not allowed (CSRF failure, not an admin)
  NotFoundError          404 - absent, or owned by another tenant (indistinguishable on purpose)
  ConflictError          409 - e.g. the email address is taken
  InvalidRequestError    422 - the payload does not match its schema
    ContentRefusedError  422 - the content firewall refused the payload
  ThrottledError         429 - too many failed log-ins; retry later
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProblemDetail:
    """One entry of a problem's ``errors`` list: where (a JSON path) and why. Never the value."""

    path: str
    reason: str


class ModelPilotError(Exception):
    """Base of every control-plane error; ``status`` and ``title`` drive the HTTP rendering."""

    status = 500
    title = "Internal error"
    type_slug = "internal"

    def __init__(self, detail: str, *, errors: tuple[ProblemDetail, ...] = ()) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class AuthError(ModelPilotError):
    status = 401
    title = "Not authenticated"
    type_slug = "unauthenticated"


class SuspendedError(AuthError):
    status = 403
    title = "Account suspended"
    type_slug = "suspended"


class ForbiddenError(ModelPilotError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class NotFoundError(ModelPilotError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class ConflictError(ModelPilotError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class InvalidRequestError(ModelPilotError):
    status = 422
    title = "Invalid request"
    type_slug = "invalid-request"


class ContentRefusedError(InvalidRequestError):
    title = "Content refused"
    type_slug = "content-refused"


class ThrottledError(ModelPilotError):
    status = 429
    title = "Too many attempts"
    type_slug = "throttled"

    def __init__(self, detail: str, *, retry_after_s: int) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s
