"""A deployment's API keys: the keys page (the new secret shown once), create and revoke forms,
and their JSON twins under ``/api/deployments/{id}/keys`` (session or management token)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from modelpilot.control import deployments
from modelpilot.control.errors import NotFoundError
from modelpilot.control.http import key_reveal
from modelpilot.control.http.dependencies import ApiReader, ApiWriter, Db, SignedIn, State
from modelpilot.control.http.html import CsrfField, check_form_csrf, render, see_other
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.http.routers import combined
from modelpilot.control.http.views import ApiKeyView, CreatedApiKey, NameBody
from modelpilot.ports import is_loopback_name

#: Shown in a command in place of the control plane's address when it is not configured
#: (``MODELPILOT_PUBLIC_URL``) and the page was not asked for on loopback.
UNKNOWN_CONTROL_PLANE_URL = "https://<your control plane>"


def shown_control_plane_url(public_url: str | None, request: Request) -> str | None:
    """The control plane's address for the commands a page shows: the configured public origin
    (``MODELPILOT_PUBLIC_URL``); unset, the request's own origin only when it names loopback (what
    ``modelpilot up`` serves; a rebound name never is), rebuilt from its parsed scheme, host and
    port; else None, and the page shows :data:`UNKNOWN_CONTROL_PLANE_URL`. A Host header is the
    client's to choose (DNS rebinding, a proxy in between), so another name is never written
    into a command."""
    if public_url:
        return public_url.rstrip("/")
    url = request.base_url
    try:
        port = url.port
    except ValueError:  # a port that is not a number
        return None
    name = url.hostname or ""
    if not is_loopback_name(name):
        return None
    host = f"[{name}]" if ":" in name else name
    return f"{url.scheme}://{host}" + (f":{port}" if port is not None else "")


def _keys_page(deployment_id: uuid.UUID) -> str:
    return f"/console/deployments/{deployment_id}/keys"


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/console/deployments/{deployment_id}/keys")
    def key_list(
        deployment_id: uuid.UUID, active: SignedIn, db: Db, state: State, request: Request
    ) -> Response:
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        new_secret = key_reveal.take(state, request, active, _keys_page(deployment_id))
        response = render(
            state,
            "console/keys.html",
            active=active,
            nav="deployments",
            tab="keys",
            deployment=deployment,
            keys=deployments.list_api_keys(db, account_id=active.account.id, deployment_id=deployment.id),
            new_secret=new_secret,
            control_plane_url=shown_control_plane_url(state.settings.public_url, request),
            unknown_control_plane_url=UNKNOWN_CONTROL_PLANE_URL,
        )
        if request.cookies.get(key_reveal.COOKIE):
            key_reveal.forget(response, _keys_page(deployment_id))
        return response

    @pages.post("/console/deployments/{deployment_id}/keys")
    def key_create(
        deployment_id: uuid.UUID,
        active: SignedIn,
        db: Db,
        state: State,
        request: Request,
        csrf_token: CsrfField = "",
        name: Annotated[str, Form()] = "",
    ) -> Response:
        """Create a key and redirect to the keys page, which shows its secret once (a reload
        of that page creates nothing and shows the secret no more; see key_reveal)."""
        check_form_csrf(state, active, csrf_token)
        _, secret = deployments.create_api_key(
            db, account_id=active.account.id, deployment_id=deployment_id, name=name, now=state.clock()
        )
        response = see_other(_keys_page(deployment_id))
        key_reveal.keep_for_next_page(response, state, request, active, _keys_page(deployment_id), secret)
        return response

    @pages.get("/console/deployments/{deployment_id}/keys/{key_id}/revoke")
    def key_revoke_confirm(
        deployment_id: uuid.UUID, key_id: uuid.UUID, active: SignedIn, db: Db, state: State
    ) -> Response:
        keys = deployments.list_api_keys(db, account_id=active.account.id, deployment_id=deployment_id)
        key = next((k for k in keys if k.id == key_id and k.revoked_at is None), None)
        if key is None:
            raise NotFoundError("no such key")
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        return render(
            state,
            "console/revoke.html",
            active=active,
            nav="deployments",
            tab="keys",
            deployment=deployment,
            key=key,
        )

    @pages.post("/console/deployments/{deployment_id}/keys/{key_id}/revoke")
    def key_revoke(
        deployment_id: uuid.UUID,
        key_id: uuid.UUID,
        active: SignedIn,
        db: Db,
        state: State,
        csrf_token: CsrfField = "",
    ) -> Response:
        check_form_csrf(state, active, csrf_token)
        deployments.revoke_api_key(
            db, account_id=active.account.id, deployment_id=deployment_id, key_id=key_id, now=state.clock()
        )
        return see_other(f"/console/deployments/{deployment_id}/keys")

    api = APIRouter(prefix="/api", tags=["console"], responses=problem_responses(401, 403, 404, 422))

    @api.get("/deployments/{deployment_id}/keys", response_model=list[ApiKeyView])
    def list_keys(deployment_id: uuid.UUID, caller: ApiReader, db: Db) -> list[ApiKeyView]:
        rows = deployments.list_api_keys(db, account_id=caller.account.id, deployment_id=deployment_id)
        return [ApiKeyView.of(k) for k in rows]

    @api.post("/deployments/{deployment_id}/keys", response_model=CreatedApiKey, status_code=201)
    def create_key(
        deployment_id: uuid.UUID, body: NameBody, caller: ApiWriter, db: Db, state: State
    ) -> CreatedApiKey:
        """Create a key. The response is the only time its secret is ever shown."""
        key, secret = deployments.create_api_key(
            db, account_id=caller.account.id, deployment_id=deployment_id, name=body.name, now=state.clock()
        )
        return CreatedApiKey(key=ApiKeyView.of(key), secret=secret)

    @api.delete("/deployments/{deployment_id}/keys/{key_id}", status_code=204, response_class=Response)
    def revoke_key(
        deployment_id: uuid.UUID, key_id: uuid.UUID, caller: ApiWriter, db: Db, state: State
    ) -> Response:
        """Revoke a key: refused from the next request on, on every replica."""
        deployments.revoke_api_key(
            db, account_id=caller.account.id, deployment_id=deployment_id, key_id=key_id, now=state.clock()
        )
        return Response(status_code=204)

    return combined(pages, api)
