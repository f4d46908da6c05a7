"""Server-rendered forms: sign-up, log-in, log-out and the "forgot your password" page (the
account's own page is :mod:`modelpilot.control.http.resources.account`). Every POST carries a
CSRF token: bound to the session once logged in, to a random nonce cookie before."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from modelpilot.control import accounts, sessions
from modelpilot.control.errors import (
    AuthError,
    ConflictError,
    InvalidRequestError,
    ModelPilotError,
    SuspendedError,
)
from modelpilot.control.http.dependencies import CSRF_COOKIE, SESSION_COOKIE, Db, State, current_session
from modelpilot.control.http.html import render
from modelpilot.control.http.return_to import safe_return_path
from modelpilot.control.http.state import ControlState
from modelpilot.control.sessions import ActiveSession

CsrfField = Annotated[str, Form()]
HOME = "/console"


def _secure(state: ControlState, request: Request) -> bool:
    configured = state.settings.cookie_secure
    return request.url.scheme == "https" if configured is None else configured


def set_session_cookie(response: Response, state: ControlState, request: Request, value: str) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        value,
        max_age=state.settings.session_ttl_s,
        httponly=True,
        samesite="lax",
        secure=_secure(state, request),
        path="/",
    )


def _anonymous_form(
    state: ControlState,
    request: Request,
    name: str,
    *,
    error: ModelPilotError | None = None,
    next_path: str | None = None,
    **context: Any,
) -> HTMLResponse:
    """The form ``name``; after a refused submission, again with the reason (and what was typed,
    passwords excepted) instead of a dead-end error page."""
    nonce = request.cookies.get(CSRF_COOKIE) or sessions.new_csrf_nonce()
    if next_path is None:
        next_path = safe_return_path(request.query_params.get("next"))
    response = render(
        state,
        name,
        csrf_token=sessions.csrf_token(state.settings, f"anon:{nonce}"),
        next_path=next_path,
        error=error.detail if error is not None else None,
        status=error.status if error is not None else 200,
        **context,
    )
    response.set_cookie(
        CSRF_COOKIE, nonce, httponly=True, samesite="lax", secure=_secure(state, request), path="/"
    )
    return response


def _check_anonymous_csrf(state: ControlState, request: Request, token: str) -> None:
    nonce = request.cookies.get(CSRF_COOKIE)
    sessions.check_csrf(state.settings, f"anon:{nonce}" if nonce else "", token if nonce else None)


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def forms_router() -> APIRouter:
    """HTML routes for people (excluded from the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/")
    def home(request: Request) -> Response:
        target = HOME if request.cookies.get(SESSION_COOKIE) else "/login"
        return RedirectResponse(target, status_code=303)

    @router.get("/signup")
    def signup_form(request: Request, state: State) -> Response:
        deleted = request.query_params.get("deleted") == "1"
        return _anonymous_form(state, request, "signup.html", deleted=deleted)

    @router.post("/signup")
    def signup(
        request: Request,
        state: State,
        db: Db,
        email: Annotated[str, Form()],
        password: Annotated[str, Form()],
        csrf_token: CsrfField,
    ) -> Response:
        _check_anonymous_csrf(state, request, csrf_token)
        try:
            account = accounts.sign_up(db, state.settings, email=email, password=password, now=state.clock())
        except (ConflictError, InvalidRequestError) as exc:
            return _anonymous_form(state, request, "signup.html", error=exc, email=email)
        cookie = sessions.start_session(db, state.settings, account=account, now=state.clock())
        response = RedirectResponse(HOME, status_code=303)
        set_session_cookie(response, state, request, cookie)
        return response

    @router.get("/password-reset")
    def forgot_password(state: State) -> Response:
        """Who can reset a password, and how (no mail is sent: an administrator does it in the
        console, or with ``modelpilot admin reset-password``)."""
        return render(state, "password_reset.html")

    @router.get("/login")
    def login_form(request: Request, state: State) -> Response:
        return _anonymous_form(state, request, "login.html")

    @router.post("/login")
    def login(
        request: Request,
        state: State,
        db: Db,
        email: Annotated[str, Form()],
        password: Annotated[str, Form()],
        csrf_token: CsrfField,
        next_path: Annotated[str, Form(alias="next")] = "",
    ) -> Response:
        _check_anonymous_csrf(state, request, csrf_token)
        try:
            account = accounts.log_in(
                db, state.settings, email=email, password=password, client=_client(request), now=state.clock()
            )
        except AuthError as exc:
            if isinstance(exc, SuspendedError):
                raise
            return _anonymous_form(
                state, request, "login.html", error=exc, email=email, next_path=safe_return_path(next_path)
            )
        cookie = sessions.start_session(db, state.settings, account=account, now=state.clock())
        response = RedirectResponse(safe_return_path(next_path) or HOME, status_code=303)
        set_session_cookie(response, state, request, cookie)
        return response

    @router.post("/logout")
    def logout(
        state: State,
        db: Db,
        active: Annotated[ActiveSession, Depends(current_session)],
        csrf_token: CsrfField = "",
    ) -> Response:
        sessions.check_csrf(state.settings, active.csrf_binding, csrf_token)
        sessions.end_session(db, active=active, now=state.clock())
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    return router
