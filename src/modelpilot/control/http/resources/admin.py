"""Administration (administrators only, through the one :func:`require_admin` dependency):
the accounts page, suspending, reinstating and resetting a password from the console, and
suspend/reinstate under ``/api/admin`` (a session with its CSRF token; never a management
token). The incident pages (status) use the same dependency."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from modelpilot.control import accounts
from modelpilot.control.errors import ForbiddenError
from modelpilot.control.http.dependencies import Admin, Db, State, csrf_checked_session, require_admin
from modelpilot.control.http.html import CsrfField, check_form_csrf, render, see_other
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.http.routers import combined
from modelpilot.control.http.views import AccountStatusView
from modelpilot.control.sessions import ActiveSession

__all__ = ["require_admin", "router"]


def _set_suspended(
    state: State, db: Db, admin: ActiveSession, account_id: uuid.UUID, *, suspended: bool
) -> None:
    if suspended and account_id == admin.account.id:
        raise ForbiddenError("administrators cannot suspend themselves")
    accounts.set_suspended(db, account_id=account_id, suspended=suspended, now=state.clock())


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/console/admin/accounts")
    def admin_accounts(admin: Admin, db: Db, state: State) -> Response:
        return render(
            state, "console/admin.html", active=admin, nav="admin", accounts=accounts.list_accounts(db)
        )

    @pages.post("/console/admin/accounts/{account_id}/suspend")
    def admin_suspend(
        account_id: uuid.UUID, admin: Admin, db: Db, state: State, csrf_token: CsrfField = ""
    ) -> Response:
        """Suspend: every session is revoked and the keys are refused from the next request."""
        check_form_csrf(state, admin, csrf_token)
        _set_suspended(state, db, admin, account_id, suspended=True)
        return see_other("/console/admin/accounts")

    @pages.post("/console/admin/accounts/{account_id}/reinstate")
    def admin_reinstate(
        account_id: uuid.UUID, admin: Admin, db: Db, state: State, csrf_token: CsrfField = ""
    ) -> Response:
        check_form_csrf(state, admin, csrf_token)
        _set_suspended(state, db, admin, account_id, suspended=False)
        return see_other("/console/admin/accounts")

    @pages.post("/console/admin/accounts/{account_id}/reset-password")
    def admin_reset_password(
        account_id: uuid.UUID, admin: Admin, db: Db, state: State, csrf_token: CsrfField = ""
    ) -> Response:
        """A new password for the account, shown to the administrator this once."""
        check_form_csrf(state, admin, csrf_token)
        password = accounts.reset_password(
            db, state.settings, account_id=account_id, new=None, now=state.clock()
        )
        account = accounts.get_account(db, account_id=account_id)
        return render(
            state,
            "console/password_reset_done.html",
            active=admin,
            nav="admin",
            email=account.email,
            password=password,
        )

    api = APIRouter(
        prefix="/api/admin",
        tags=["admin"],
        responses=problem_responses(401, 403, 404, 422),
        dependencies=[Depends(csrf_checked_session)],
    )

    @api.post("/accounts/{account_id}/suspend", response_model=AccountStatusView)
    def suspend(account_id: uuid.UUID, admin: Admin, db: Db, state: State) -> AccountStatusView:
        """Suspend an account: its sessions and keys are refused from the next request on. An
        administrator cannot suspend their own account (as in the console)."""
        _set_suspended(state, db, admin, account_id, suspended=True)
        return AccountStatusView(account_id=account_id, suspended=True)

    @api.post("/accounts/{account_id}/reinstate", response_model=AccountStatusView)
    def reinstate(account_id: uuid.UUID, admin: Admin, db: Db, state: State) -> AccountStatusView:
        _set_suspended(state, db, admin, account_id, suspended=False)
        return AccountStatusView(account_id=account_id, suspended=False)

    return combined(pages, api)
