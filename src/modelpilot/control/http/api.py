"""The console's JSON API: the session, deployments, keys, usage and logs. Every route is scoped
to the logged-in account; changes need the session's CSRF token."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from modelpilot.control import dashboard, deployments, sessions
from modelpilot.control.http.dependencies import Db, State, csrf_checked_session, current_session
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.http.views import (
    ApiKeyView,
    CreatedApiKey,
    DeploymentSummaryView,
    DeploymentView,
    LogView,
    NameBody,
    RoutingSettingsView,
    SessionView,
    UsageView,
)
from modelpilot.control.sessions import ActiveSession
from modelpilot.control.store.queries import ingestion as usage_queries

Reader = Annotated[ActiveSession, Depends(current_session)]
Writer = Annotated[ActiveSession, Depends(csrf_checked_session)]


def api_router() -> APIRouter:
    """Routes under ``/api`` for the console and scripts holding a session cookie."""
    router = APIRouter(prefix="/api", tags=["console"], responses=problem_responses(401, 403, 404, 422))

    @router.get("/session", response_model=SessionView)
    def get_session(active: Reader, state: State) -> SessionView:
        """The logged-in account and its CSRF token."""
        return SessionView(
            account_id=active.account.id,
            email=active.account.email,
            is_admin=active.account.is_admin,
            csrf_token=sessions.csrf_token(state.settings, active.csrf_binding),
        )

    @router.get("/deployments", response_model=list[DeploymentView])
    def list_deployments(active: Reader, db: Db) -> list[DeploymentView]:
        return [DeploymentView.of(d) for d in deployments.list_deployments(db, account_id=active.account.id)]

    @router.post("/deployments", response_model=DeploymentView, status_code=201)
    def create_deployment(body: NameBody, active: Writer, db: Db, state: State) -> DeploymentView:
        row = deployments.create_deployment(
            db, account_id=active.account.id, name=body.name, now=state.clock()
        )
        return DeploymentView.of(row)

    @router.get("/deployments/{deployment_id}", response_model=DeploymentView)
    def get_deployment(deployment_id: uuid.UUID, active: Reader, db: Db) -> DeploymentView:
        return DeploymentView.of(
            deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        )

    @router.get("/deployments/{deployment_id}/keys", response_model=list[ApiKeyView])
    def list_keys(deployment_id: uuid.UUID, active: Reader, db: Db) -> list[ApiKeyView]:
        rows = deployments.list_api_keys(db, account_id=active.account.id, deployment_id=deployment_id)
        return [ApiKeyView.of(k) for k in rows]

    @router.post("/deployments/{deployment_id}/keys", response_model=CreatedApiKey, status_code=201)
    def create_key(
        deployment_id: uuid.UUID, body: NameBody, active: Writer, db: Db, state: State
    ) -> CreatedApiKey:
        """Create a key. The response is the only time its secret is ever shown."""
        key, secret = deployments.create_api_key(
            db, account_id=active.account.id, deployment_id=deployment_id, name=body.name, now=state.clock()
        )
        return CreatedApiKey(key=ApiKeyView.of(key), secret=secret)

    @router.delete("/deployments/{deployment_id}/keys/{key_id}", status_code=204, response_class=Response)
    def revoke_key(
        deployment_id: uuid.UUID, key_id: uuid.UUID, active: Writer, db: Db, state: State
    ) -> Response:
        """Revoke a key: refused from the next request on, on every replica."""
        deployments.revoke_api_key(
            db, account_id=active.account.id, deployment_id=deployment_id, key_id=key_id, now=state.clock()
        )
        return Response(status_code=204)

    @router.get("/deployments/{deployment_id}/usage", response_model=list[UsageView])
    def list_usage(deployment_id: uuid.UUID, active: Reader, db: Db) -> list[UsageView]:
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        return [UsageView.of(row) for row in usage_queries.list_usage(db, deployment_id=deployment.id)]

    @router.get("/deployments/{deployment_id}/summary", response_model=DeploymentSummaryView)
    def get_summary(
        deployment_id: uuid.UUID,
        active: Reader,
        db: Db,
        state: State,
        period: Annotated[str | None, Query(description="7d, 30d (default), 90d or custom")] = None,
        start: Annotated[str | None, Query(description="custom: first UTC day (YYYY-MM-DD)")] = None,
        end: Annotated[str | None, Query(description="custom: last UTC day, inclusive")] = None,
    ) -> DeploymentSummaryView:
        """What the deployment's dashboard shows: savings, shadow mode's "would have saved",
        measured quality (paired-check verdicts, acceptable share with a 95 % Wilson interval,
        against the deployment's quality target) and calibration spend, in total and per
        requested -> served pair."""
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        chosen = dashboard.choose_period(period, start=start, end=end, now=state.clock())
        summary = dashboard.account_summary(
            db, account_id=active.account.id, deployment_id=deployment.id, period=chosen
        )
        return DeploymentSummaryView.of(deployment, summary)

    @router.get("/deployments/{deployment_id}/logs", response_model=list[LogView])
    def list_logs(deployment_id: uuid.UUID, active: Reader, db: Db) -> list[LogView]:
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        return [LogView.of(row) for row in usage_queries.list_log_records(db, deployment_id=deployment.id)]

    @router.get("/deployments/{deployment_id}/routing", response_model=RoutingSettingsView)
    def get_routing(deployment_id: uuid.UUID, active: Reader, db: Db) -> RoutingSettingsView:
        """The deployment's routing settings: mode, quality target, allowed models, rules, pins, logs."""
        return deployments.get_routing_settings(db, account_id=active.account.id, deployment_id=deployment_id)

    @router.put("/deployments/{deployment_id}/routing", response_model=RoutingSettingsView)
    def put_routing(
        deployment_id: uuid.UUID, body: RoutingSettingsView, active: Writer, db: Db, state: State
    ) -> RoutingSettingsView:
        """Replace the deployment's routing settings. Model ids must be in the catalog; the
        retention is capped by the control plane. Applies to new decisions within a minute."""
        return deployments.update_routing_settings(
            db,
            account_id=active.account.id,
            deployment_id=deployment_id,
            settings=body,
            catalog=state.catalog,
            max_retention_days=state.settings.max_log_retention_days,
        )

    return router
