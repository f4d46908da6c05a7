"""Rendering the server-side HTML pages: one place that adds what every console page needs
(who is signed in, the CSRF token, the static assets' versioned URLs), and what every console
form handler does (check the CSRF field, redirect after a POST)."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Annotated, Any

from fastapi import Form
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelpilot.control import sessions
from modelpilot.control.http.state import ControlState
from modelpilot.control.sessions import ActiveSession

#: The console's static files: name -> media type. Nothing else is served.
STATIC_FILES = {"console.css": "text/css; charset=utf-8", "console.js": "text/javascript; charset=utf-8"}


@cache
def static_body(name: str) -> bytes:
    """The bytes of one of :data:`STATIC_FILES` (read once per process)."""
    return resources.files("modelpilot.control").joinpath("static", name).read_bytes()


@cache
def static_version(name: str) -> str:
    """A content hash, so a changed file gets a new URL and the old one can be cached for long."""
    return hashlib.sha256(static_body(name)).hexdigest()[:12]


def static_url(name: str) -> str:
    return f"/static/{name}?v={static_version(name)}"


def render(
    state: ControlState,
    name: str,
    *,
    active: ActiveSession | None = None,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render template ``name``; with ``active``, the page gets the signed-in navigation and
    the session's CSRF token. Signed-in pages are never cached by the browser or a proxy."""
    if active is not None:
        context.setdefault("csrf_token", sessions.csrf_token(state.settings, active.csrf_binding))
        context.setdefault("signed_in", active.account)
    page = state.templates.get_template(name).render(static_url=static_url, **context)
    response = HTMLResponse(page, status_code=status)
    if active is not None:
        response.headers["cache-control"] = "no-store"
    return response


#: A form's CSRF token field (checked with :func:`check_form_csrf`).
CsrfField = Annotated[str, Form()]


def check_form_csrf(state: ControlState, active: ActiveSession, token: str | None) -> None:
    """Every console POST carries the session's CSRF token (:class:`ForbiddenError` if not)."""
    sessions.check_csrf(state.settings, active.csrf_binding, token)


def see_other(url: str) -> Response:
    """POST-redirect-GET."""
    return RedirectResponse(url, status_code=303)
