"""A deployment's request log (opt-in metadata, no content): the filtered, paged log page and
its JSON twin ``/api/deployments/{id}/logs`` (session or management token). The records as CSV
are in :mod:`modelpilot.control.http.exports`."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import Response

from modelpilot.control import dashboard, deployments, request_log
from modelpilot.control.errors import InvalidRequestError
from modelpilot.control.http import charts
from modelpilot.control.http.dependencies import ApiReader, Db, SignedIn, State
from modelpilot.control.http.html import render
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.http.routers import combined
from modelpilot.control.http.views import LogView
from modelpilot.control.store.queries import ingestion as usage_queries
from modelpilot.schema.wire import Category


def _bool_filter(value: str | None) -> bool | None:
    return {"yes": True, "no": False}.get(value or "")


def _date_filter(value: str | None) -> date | None:
    try:
        found = date.fromisoformat(value) if value else None
    except ValueError as exc:
        raise InvalidRequestError("dates are YYYY-MM-DD") from exc
    if found is not None and not dashboard.FIRST_DATE <= found <= dashboard.LAST_DATE:
        raise InvalidRequestError(f"dates are between {dashboard.FIRST_DATE} and {dashboard.LAST_DATE}")
    return found


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/console/deployments/{deployment_id}/logs")
    def log_list(
        deployment_id: uuid.UUID,
        active: SignedIn,
        db: Db,
        state: State,
        category: str | None = None,
        model: str | None = None,
        routed: str | None = None,
        escalated: str | None = None,
        errors: str | None = None,
        since: str | None = None,
        until: str | None = None,
        page: Annotated[int, Query(ge=1, le=request_log.MAX_PAGE)] = 1,
    ) -> Response:
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        filters = request_log.LogFilters(
            category=category or None,
            served_model=model or None,
            routed=_bool_filter(routed),
            escalated=_bool_filter(escalated),
            errors_only=errors == "on",
            since=_date_filter(since),
            until=_date_filter(until),
        )
        found = request_log.search_logs(db, deployment_id=deployment.id, filters=filters, page=page)
        query = {
            "category": category or "",
            "model": model or "",
            "routed": routed or "",
            "escalated": escalated or "",
            "errors": errors or "",
            "since": since or "",
            "until": until or "",
        }
        return render(
            state,
            "console/logs.html",
            active=active,
            nav="deployments",
            tab="logs",
            deployment=deployment,
            found=found,
            query=query,
            qs=urlencode({name: value for name, value in query.items() if value}),
            categories=list(Category),
            models=[m.id for m in state.catalog.models],
            usd=charts.format_usd,
        )

    api = APIRouter(prefix="/api", tags=["console"], responses=problem_responses(401, 403, 404, 422))

    @api.get("/deployments/{deployment_id}/logs", response_model=list[LogView])
    def list_logs(deployment_id: uuid.UUID, caller: ApiReader, db: Db) -> list[LogView]:
        deployment = deployments.get_deployment(db, account_id=caller.account.id, deployment_id=deployment_id)
        return [LogView.of(row) for row in usage_queries.list_log_records(db, deployment_id=deployment.id)]

    return combined(pages, api)
