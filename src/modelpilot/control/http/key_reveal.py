"""A new key's or management token's secret, shown once after a redirect (POST, redirect, GET).

Creating a key answers with a redirect to the keys page (a token: to the tokens page), so
reloading that page never creates a second one. The secret crosses the redirect in a short-lived cookie scoped to that page, signed
and bound to the session that created it; the page that shows it deletes it, so the secret is
shown exactly once. The control plane itself keeps only the key's hash.
"""

from __future__ import annotations

from fastapi import Request, Response

from modelpilot.control.credentials import sign, verify_signature
from modelpilot.control.http.state import ControlState
from modelpilot.control.sessions import ActiveSession

COOKIE = "mp_new_key"
#: Long enough for the redirect to be followed, short enough that a secret left behind expires.
MAX_AGE_S = 300


def _message(active: ActiveSession, page: str, secret: str) -> str:
    return f"new-key:{active.csrf_binding}:{page}:{secret}"


def keep_for_next_page(
    response: Response,
    state: ControlState,
    request: Request,
    active: ActiveSession,
    page: str,
    secret: str,
) -> None:
    """Attach ``secret`` to the redirect ``response`` for ``page`` (a path) to show once."""
    configured = state.settings.cookie_secure
    response.set_cookie(
        COOKIE,
        f"{secret}.{sign(state.settings.session_secrets[0], _message(active, page, secret))}",
        max_age=MAX_AGE_S,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" if configured is None else configured,
        path=page,
    )


def take(state: ControlState, request: Request, active: ActiveSession, page: str) -> str | None:
    """The secret the creating request left for this page, if any and if it is genuine."""
    value = request.cookies.get(COOKIE)
    if not value:
        return None
    secret, _, signature = value.rpartition(".")
    if not secret or not verify_signature(
        state.settings.session_secrets, _message(active, page, secret), signature
    ):
        return None
    return secret


def forget(response: Response, page: str) -> None:
    """Delete the cookie: the secret has been shown (or was not genuine)."""
    response.delete_cookie(COOKIE, path=page)
