"""Administration over HTTP (admins only): suspend and reinstate accounts."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from modelpilot.control import accounts
from modelpilot.control.errors import ForbiddenError
from modelpilot.control.http.dependencies import Db, State, admin_session
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.http.views import AccountStatusView
from modelpilot.control.sessions import ActiveSession

Admin = Annotated[ActiveSession, Depends(admin_session)]


def admin_router() -> APIRouter:
    """Routes under ``/api/admin``."""
    router = APIRouter(prefix="/api/admin", tags=["admin"], responses=problem_responses(401, 403, 404, 422))

    @router.post("/accounts/{account_id}/suspend", response_model=AccountStatusView)
    def suspend(account_id: uuid.UUID, admin: Admin, db: Db, state: State) -> AccountStatusView:
        """Suspend an account: its sessions and keys are refused from the next request on. An
        administrator cannot suspend their own account (as in the console)."""
        if account_id == admin.account.id:
            raise ForbiddenError("administrators cannot suspend themselves")
        account = accounts.set_suspended(db, account_id=account_id, suspended=True, now=state.clock())
        return AccountStatusView(account_id=account.id, suspended=True)

    @router.post("/accounts/{account_id}/reinstate", response_model=AccountStatusView)
    def reinstate(account_id: uuid.UUID, admin: Admin, db: Db, state: State) -> AccountStatusView:
        account = accounts.set_suspended(db, account_id=account_id, suspended=False, now=state.clock())
        return AccountStatusView(account_id=account.id, suspended=False)

    return router
