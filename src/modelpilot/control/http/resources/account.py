"""The account: its security page (password, signing out everywhere, deleting the account),
its management API tokens (a page to create, list and revoke them; ``/api/tokens``), and
``/api/session``. Token management needs a session: a token cannot mint or list tokens, so a
leaked one cannot entrench itself."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from modelpilot.control import accounts, sessions, tokens
from modelpilot.control.errors import AuthError, InvalidRequestError, ModelPilotError
from modelpilot.control.http import key_reveal
from modelpilot.control.http.dependencies import SESSION_COOKIE, Db, SessionWriter, SignedIn, State
from modelpilot.control.http.forms import set_session_cookie
from modelpilot.control.http.html import CsrfField, check_form_csrf, render, see_other
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.http.resources.keys import UNKNOWN_CONTROL_PLANE_URL, shown_control_plane_url
from modelpilot.control.http.routers import combined
from modelpilot.control.http.state import ControlState
from modelpilot.control.http.views import (
    CreatedManagementToken,
    ManagementTokenView,
    NameBody,
    SessionView,
)
from modelpilot.control.sessions import ActiveSession

TOKENS_PAGE = "/account/tokens"


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    def account_form(state: ControlState, active: ActiveSession, **errors: ModelPilotError) -> Response:
        """The account page; after a refused form, again with the reason beside that form."""
        status = next((error.status for error in errors.values()), 200)
        return render(
            state,
            "account.html",
            active=active,
            nav="account",
            email=active.account.email,
            status=status,
            **{name: error.detail for name, error in errors.items()},
        )

    @pages.get("/account")
    def account_page(state: State, active: SignedIn) -> Response:
        return account_form(state, active)

    @pages.post("/account/password")
    def change_password(
        request: Request,
        state: State,
        db: Db,
        active: SignedIn,
        current_password: Annotated[str, Form()] = "",
        new_password: Annotated[str, Form()] = "",
        csrf_token: CsrfField = "",
    ) -> Response:
        check_form_csrf(state, active, csrf_token)
        try:
            accounts.change_password(
                db,
                state.settings,
                account=active.account,
                current=current_password,
                new=new_password,
                now=state.clock(),
            )
        except (AuthError, InvalidRequestError) as exc:
            return account_form(state, active, password_error=exc)
        # Every session was revoked, this one included; the person who just proved the
        # password gets a fresh one.
        cookie = sessions.start_session(db, state.settings, account=active.account, now=state.clock())
        response = RedirectResponse("/account", status_code=303)
        set_session_cookie(response, state, request, cookie)
        return response

    @pages.post("/account/sign-out-everywhere")
    def sign_out_everywhere(
        state: State,
        db: Db,
        active: SignedIn,
        csrf_token: CsrfField = "",
    ) -> Response:
        check_form_csrf(state, active, csrf_token)
        accounts.sign_out_everywhere(db, account_id=active.account.id, now=state.clock())
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @pages.post("/account/delete")
    def delete_account(
        state: State,
        db: Db,
        active: SignedIn,
        csrf_token: CsrfField = "",
        confirmation_email: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
    ) -> Response:
        """Delete the account and all its data, once the person typed its email and password."""
        check_form_csrf(state, active, csrf_token)
        try:
            accounts.delete_account(
                db, account=active.account, password=password, confirmation_email=confirmation_email
            )
        except (AuthError, InvalidRequestError) as exc:
            return account_form(state, active, delete_error=exc)
        response = RedirectResponse("/signup?deleted=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    @pages.get(TOKENS_PAGE)
    def token_list(state: State, db: Db, active: SignedIn, request: Request) -> Response:
        """The account's management tokens; right after one is created, its secret, this once."""
        new_secret = key_reveal.take(state, request, active, TOKENS_PAGE)
        response = render(
            state,
            "account_tokens.html",
            active=active,
            nav="account",
            tokens=tokens.list_tokens(db, account_id=active.account.id),
            new_secret=new_secret,
            control_plane_url=shown_control_plane_url(state.settings.public_url, request),
            unknown_control_plane_url=UNKNOWN_CONTROL_PLANE_URL,
        )
        if request.cookies.get(key_reveal.COOKIE):
            key_reveal.forget(response, TOKENS_PAGE)
        return response

    @pages.post(TOKENS_PAGE)
    def token_create(
        state: State,
        db: Db,
        active: SignedIn,
        request: Request,
        csrf_token: CsrfField = "",
        name: Annotated[str, Form()] = "",
    ) -> Response:
        check_form_csrf(state, active, csrf_token)
        _, secret = tokens.create_token(db, account_id=active.account.id, name=name, now=state.clock())
        response = see_other(TOKENS_PAGE)
        key_reveal.keep_for_next_page(response, state, request, active, TOKENS_PAGE, secret)
        return response

    @pages.post(TOKENS_PAGE + "/{token_id}/revoke")
    def token_revoke(
        token_id: uuid.UUID, state: State, db: Db, active: SignedIn, csrf_token: CsrfField = ""
    ) -> Response:
        check_form_csrf(state, active, csrf_token)
        tokens.revoke_token(db, account_id=active.account.id, token_id=token_id, now=state.clock())
        return see_other(TOKENS_PAGE)

    api = APIRouter(prefix="/api", tags=["console"], responses=problem_responses(401, 403, 404, 422))

    @api.get("/session", response_model=SessionView)
    def get_session(active: SignedIn, state: State) -> SessionView:
        """The logged-in account and its CSRF token."""
        return SessionView(
            account_id=active.account.id,
            email=active.account.email,
            is_admin=active.account.is_admin,
            csrf_token=sessions.csrf_token(state.settings, active.csrf_binding),
        )

    @api.get("/tokens", response_model=list[ManagementTokenView], tags=["management"])
    def list_tokens(active: SignedIn, db: Db) -> list[ManagementTokenView]:
        """The account's management tokens (a session only: a token cannot list tokens)."""
        return [ManagementTokenView.of(t) for t in tokens.list_tokens(db, account_id=active.account.id)]

    @api.post("/tokens", response_model=CreatedManagementToken, status_code=201, tags=["management"])
    def create_token(body: NameBody, active: SessionWriter, db: Db, state: State) -> CreatedManagementToken:
        """Create a management token. The response is the only time its secret is ever shown."""
        token, secret = tokens.create_token(
            db, account_id=active.account.id, name=body.name, now=state.clock()
        )
        return CreatedManagementToken(token=ManagementTokenView.of(token), secret=secret)

    @api.delete("/tokens/{token_id}", status_code=204, response_class=Response, tags=["management"])
    def revoke_token(token_id: uuid.UUID, active: SessionWriter, db: Db, state: State) -> Response:
        """Revoke a management token: refused from the next request on."""
        tokens.revoke_token(db, account_id=active.account.id, token_id=token_id, now=state.clock())
        return Response(status_code=204)

    return combined(pages, api)
