"""Password recovery where no mail is configured: the "forgot your password" page says who can
reset it and how; an administrator resets it from the console (a new password, shown once) or
with ``modelpilot admin reset-password EMAIL``. Either way every session of the account ends."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Form
from fastapi.responses import Response

from modelpilot.control import accounts, sessions
from modelpilot.control.errors import NotFoundError
from modelpilot.control.http.dependencies import Db, State, current_session
from modelpilot.control.http.html import render
from modelpilot.control.sessions import ActiveSession

Reader = Annotated[ActiveSession, Depends(current_session)]


def password_reset_router() -> APIRouter:
    """HTML routes for password recovery (excluded from the OpenAPI document)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/password-reset")
    def forgot_password(state: State) -> Response:
        return render(state, "password_reset.html")

    @router.post("/console/admin/accounts/{account_id}/reset-password")
    def admin_reset_password(
        account_id: uuid.UUID,
        active: Reader,
        db: Db,
        state: State,
        csrf_token: Annotated[str, Form()] = "",
    ) -> Response:
        """A new password for the account, shown to the administrator this once."""
        # The CSRF check comes first, like on every other POST; then non-admins get a 404.
        sessions.check_csrf(state.settings, active.csrf_binding, csrf_token)
        if not active.account.is_admin:
            raise NotFoundError("no such page")
        password = accounts.reset_password(
            db, state.settings, account_id=account_id, new=None, now=state.clock()
        )
        account = accounts.get_account(db, account_id=account_id)
        return render(
            state,
            "console/password_reset_done.html",
            active=active,
            nav="admin",
            email=account.email,
            password=password,
        )

    return router
