"""Deployments: the list page, create, rename and delete forms, and their JSON twins under
``/api/deployments`` (``POST``, ``PATCH`` to rename, ``DELETE``; session or management token)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form
from fastapi.responses import Response

from modelpilot.control import deployments
from modelpilot.control.errors import InvalidRequestError
from modelpilot.control.http.dependencies import ApiReader, ApiWriter, Db, SignedIn, State
from modelpilot.control.http.html import CsrfField, check_form_csrf, render, see_other
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.http.resources.settings import settings_page
from modelpilot.control.http.routers import combined
from modelpilot.control.http.views import DeploymentView, NameBody


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/console/deployments")
    def deployment_list(active: SignedIn, db: Db, state: State) -> Response:
        return render(
            state,
            "console/deployments.html",
            active=active,
            nav="deployments",
            deployments=deployments.list_deployments(db, account_id=active.account.id),
        )

    @pages.post("/console/deployments")
    def deployment_create(
        active: SignedIn, db: Db, state: State, name: Annotated[str, Form()] = "", csrf_token: CsrfField = ""
    ) -> Response:
        check_form_csrf(state, active, csrf_token)
        row = deployments.create_deployment(db, account_id=active.account.id, name=name, now=state.clock())
        return see_other(f"/console/deployments/{row.id}/keys")

    @pages.post("/console/deployments/{deployment_id}/rename")
    def deployment_rename(
        deployment_id: uuid.UUID,
        active: SignedIn,
        db: Db,
        state: State,
        csrf_token: CsrfField = "",
        name: Annotated[str, Form()] = "",
    ) -> Response:
        check_form_csrf(state, active, csrf_token)
        deployments.rename_deployment(
            db, account_id=active.account.id, deployment_id=deployment_id, name=name
        )
        return see_other(f"/console/deployments/{deployment_id}/settings")

    @pages.post("/console/deployments/{deployment_id}/delete")
    def deployment_delete(
        deployment_id: uuid.UUID,
        active: SignedIn,
        db: Db,
        state: State,
        csrf_token: CsrfField = "",
        confirmation: Annotated[str, Form()] = "",
    ) -> Response:
        check_form_csrf(state, active, csrf_token)
        try:
            deployments.delete_deployment(
                db, account_id=active.account.id, deployment_id=deployment_id, confirmation=confirmation
            )
        except InvalidRequestError as exc:
            return settings_page(state, db, active, deployment_id, delete_error=exc.detail)
        return see_other("/console/deployments")

    api = APIRouter(prefix="/api", tags=["console"], responses=problem_responses(401, 403, 404, 422))

    @api.get("/deployments", response_model=list[DeploymentView])
    def list_deployments(caller: ApiReader, db: Db) -> list[DeploymentView]:
        return [DeploymentView.of(d) for d in deployments.list_deployments(db, account_id=caller.account.id)]

    @api.post("/deployments", response_model=DeploymentView, status_code=201)
    def create_deployment(body: NameBody, caller: ApiWriter, db: Db, state: State) -> DeploymentView:
        row = deployments.create_deployment(
            db, account_id=caller.account.id, name=body.name, now=state.clock()
        )
        return DeploymentView.of(row)

    @api.get("/deployments/{deployment_id}", response_model=DeploymentView)
    def get_deployment(deployment_id: uuid.UUID, caller: ApiReader, db: Db) -> DeploymentView:
        return DeploymentView.of(
            deployments.get_deployment(db, account_id=caller.account.id, deployment_id=deployment_id)
        )

    @api.patch("/deployments/{deployment_id}", response_model=DeploymentView)
    def rename_deployment(
        deployment_id: uuid.UUID, body: NameBody, caller: ApiWriter, db: Db
    ) -> DeploymentView:
        """Rename the deployment (the console's rename form). Its id, keys, settings, usage and
        logs stay as they are; the name is the only field a ``PATCH`` changes (routing settings
        are ``PUT /api/deployments/{id}/routing``)."""
        row = deployments.rename_deployment(
            db, account_id=caller.account.id, deployment_id=deployment_id, name=body.name
        )
        return DeploymentView.of(row)

    @api.delete("/deployments/{deployment_id}", status_code=204, response_class=Response)
    def delete_deployment(deployment_id: uuid.UUID, caller: ApiWriter, db: Db) -> Response:
        """Delete the deployment with its keys, usage and logs (the console asks for its name
        to be typed; a call names it by id). Its keys are refused from the next request on."""
        deployment = deployments.get_deployment(db, account_id=caller.account.id, deployment_id=deployment_id)
        deployments.delete_deployment(
            db, account_id=caller.account.id, deployment_id=deployment.id, confirmation=deployment.name
        )
        return Response(status_code=204)

    return combined(pages, api)
