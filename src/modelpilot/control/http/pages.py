"""Public pages (status, security, architecture, DPA, subprocessors, security.txt) and the admin
pages that post, update and resolve incidents. The public pages need no log-in and show no
account data; every figure they quote is read from settings and code at render time
(:mod:`modelpilot.control.disclosures`)."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel, Field

from modelpilot.control import disclosures, sessions
from modelpilot.control import status as health
from modelpilot.control.errors import InvalidRequestError
from modelpilot.control.http.dependencies import Admin, Db, State
from modelpilot.control.http.html import render
from modelpilot.control.http.state import ControlState
from modelpilot.control.sessions import ActiveSession
from modelpilot.control.store.tables import Incident

#: Path -> template of the pages that only state facts (no database).
PUBLIC_PAGES = {
    "/security": "public/security.html",
    "/architecture": "public/architecture.html",
    "/dpa": "public/dpa.html",
    "/subprocessors": "public/subprocessors.html",
}
#: RFC 9116 §2.5.5: a security.txt must expire, and less than a year ahead is recommended.
SECURITY_TXT_LIFETIME = timedelta(days=364)


# --- JSON views of the status page --------------------------------------------------------------


class DayView(BaseModel):
    """One UTC day of one component."""

    date: date
    probes: int
    ok: int
    uptime: float | None = Field(description="share of ok probes, 0-1; null when no probe ran that day")


class ComponentView(BaseModel):
    id: str
    name: str
    status: str = Field(description="operational | degraded | down | unknown")
    last_checked_at: datetime | None
    latency_ms: int | None
    uptime_90d: float | None = Field(
        description="share of ok probes over the window, 0-1; null without probes"
    )
    daily: list[DayView] = Field(description="one entry per UTC day, oldest first, today last")


class IncidentView(BaseModel):
    id: uuid.UUID
    title: str
    body: str
    severity: str
    components: list[str]
    started_at: datetime
    updated_at: datetime
    resolved_at: datetime | None

    @classmethod
    def of(cls, row: Incident) -> IncidentView:
        return cls(
            id=row.id,
            title=row.title,
            body=row.body,
            severity=row.severity,
            components=list(row.components),
            started_at=row.started_at,
            updated_at=row.updated_at,
            resolved_at=row.resolved_at,
        )


class StatusView(BaseModel):
    """``GET /status.json``: the status page as data."""

    generated_at: datetime
    status: str = Field(description="the worst component status")
    probe_interval_s: int
    window_days: int
    components: list[ComponentView]
    open_incidents: list[IncidentView]
    recent_incidents: list[IncidentView] = Field(description="resolved within the window, latest first")

    @classmethod
    def of(cls, report: health.StatusReport, *, probe_interval_s: int) -> StatusView:
        return cls(
            generated_at=report.generated_at,
            status=report.overall,
            probe_interval_s=probe_interval_s,
            window_days=health.UPTIME_DAYS,
            components=[
                ComponentView(
                    id=c.id,
                    name=c.name,
                    status=c.status,
                    last_checked_at=c.last_checked_at,
                    latency_ms=c.latency_ms,
                    uptime_90d=c.uptime_share,
                    daily=[DayView(date=d.day, probes=d.probes, ok=d.ok, uptime=d.share) for d in c.days],
                )
                for c in report.components
            ],
            open_incidents=[IncidentView.of(i) for i in report.open_incidents],
            recent_incidents=[IncidentView.of(i) for i in report.resolved_incidents],
        )


# --- rendering ----------------------------------------------------------------------------------


def _render(
    state: ControlState,
    name: str,
    status_code: int = 200,
    *,
    active: ActiveSession | None = None,
    **context: Any,
) -> HTMLResponse:
    return render(
        state,
        name,
        active=active,
        status=status_code,
        **context,
        duration=disclosures.format_duration,
        number=disclosures.format_number,
        percent=_percent,
        component_names=health.component_names,
    )


def _percent(share: float | None) -> str:
    if share is None:
        return "no data"
    # Never round a bad day up to 100%: 99.999% shows as 99.99% (the inner round only absorbs
    # binary float error, so that 0.57 stays 57.00%).
    floored = math.floor(round(share * 10_000, 6)) / 100
    return f"{floored:.2f}%"


def _public_page(state: ControlState, name: str) -> HTMLResponse:
    return _render(
        state,
        name,
        facts=disclosures.security_facts(state.settings),
        endpoints=disclosures.wire_endpoints(),
        categories=disclosures.categories(),
        firewall=disclosures.firewall_examples(),
        today=state.clock().date(),
    )


def _public_page_route(template: str) -> Callable[[ControlState], Response]:
    # A closure, not a default argument: FastAPI would read a defaulted parameter from the query.
    def page(state: State) -> Response:
        return _public_page(state, template)

    return page


def _draft(title: str, body: str, severity: str, components: list[str]) -> health.IncidentDraft:
    return health.IncidentDraft(title=title, body=body, severity=severity, components=tuple(components))


TitleField = Annotated[str, Form(max_length=health.MAX_TITLE_CHARS * 2)]
BodyField = Annotated[str, Form(max_length=health.MAX_BODY_CHARS * 2)]
SeverityField = Annotated[str, Form()]
ComponentsField = Annotated[list[str], Form()]
CsrfField = Annotated[str, Form()]


def pages_router() -> APIRouter:
    """The public pages, ``/status.json`` and the admin incident pages."""
    router = APIRouter()

    @router.get("/status", include_in_schema=False)
    def status_page(state: State, db: Db) -> Response:
        report = health.build_report(db, now=state.clock(), history=state.probe_history)
        return _render(
            state,
            "status.html",
            report=report,
            probe_interval_s=state.settings.status_probe_interval_s,
            window_days=health.UPTIME_DAYS,
        )

    @router.get("/status.json", response_model=StatusView, tags=["status"])
    def status_json(state: State, db: Db) -> StatusView:
        """Each component's current status, last probe, latency and 90-day uptime (overall and per
        UTC day), the open incidents and those resolved within the window. Public."""
        report = health.build_report(db, now=state.clock(), history=state.probe_history)
        return StatusView.of(report, probe_interval_s=state.settings.status_probe_interval_s)

    for path, template in PUBLIC_PAGES.items():
        router.add_api_route(path, _public_page_route(template), methods=["GET"], include_in_schema=False)

    @router.get("/.well-known/security.txt", include_in_schema=False)
    def security_txt(state: State) -> Response:
        # Links come from the configured origin, never from the request's Host header.
        base = (state.settings.public_url or "").rstrip("/")
        expires = (state.clock() + SECURITY_TXT_LIFETIME).replace(microsecond=0)
        lines = (
            f"Contact: {state.settings.security_contact}",
            f"Expires: {expires.strftime('%Y-%m-%dT%H:%M:%SZ')}",
            "Preferred-Languages: en",
            *((f"Canonical: {base}/.well-known/security.txt", f"Policy: {base}/security") if base else ()),
        )
        return PlainTextResponse("\n".join(lines) + "\n", media_type="text/plain; charset=utf-8")

    _add_admin_routes(router)
    return router


def _incident_form(
    state: ControlState,
    active: ActiveSession,
    db: Db,
    *,
    incident: Incident | None = None,
    draft: health.IncidentDraft | None = None,
    errors: tuple[str, ...] = (),
) -> HTMLResponse:
    open_incidents, resolved_incidents = health.list_incidents(db, now=state.clock())
    return _render(
        state,
        "admin_incidents.html" if incident is None else "admin_incident_edit.html",
        status_code=422 if errors else 200,
        incident=incident,
        draft=draft,
        errors=errors,
        open_incidents=open_incidents,
        resolved_incidents=resolved_incidents,
        components=health.COMPONENTS,
        severities=health.SEVERITIES,
        active=active,
        nav="admin",
    )


def _messages(exc: InvalidRequestError) -> tuple[str, ...]:
    return tuple(f"{problem.path.removeprefix('$.')}: {problem.reason}" for problem in exc.errors)


def _add_admin_routes(router: APIRouter) -> None:
    @router.get("/admin/incidents", include_in_schema=False)
    def incidents_page(state: State, db: Db, active: Admin) -> Response:
        return _incident_form(state, active, db)

    @router.post("/admin/incidents", include_in_schema=False)
    def post_incident(
        state: State,
        db: Db,
        active: Admin,
        csrf_token: CsrfField,
        title: TitleField = "",
        body: BodyField = "",
        severity: SeverityField = "",
        components: ComponentsField = [],  # noqa: B006 - FastAPI copies form defaults
    ) -> Response:
        sessions.check_csrf(state.settings, active.csrf_binding, csrf_token)
        draft = _draft(title, body, severity, components)
        try:
            health.post_incident(db, draft=draft, now=state.clock(), created_by=active.account.id)
        except InvalidRequestError as exc:
            return _incident_form(state, active, db, draft=draft, errors=_messages(exc))
        return RedirectResponse("/admin/incidents", status_code=303)

    @router.get("/admin/incidents/{incident_id}", include_in_schema=False)
    def edit_page(incident_id: uuid.UUID, state: State, db: Db, active: Admin) -> Response:
        incident = health.get_incident(db, incident_id=incident_id)
        return _incident_form(state, active, db, incident=incident)

    @router.post("/admin/incidents/{incident_id}", include_in_schema=False)
    def update_incident(
        incident_id: uuid.UUID,
        state: State,
        db: Db,
        active: Admin,
        csrf_token: CsrfField,
        title: TitleField = "",
        body: BodyField = "",
        severity: SeverityField = "",
        components: ComponentsField = [],  # noqa: B006 - FastAPI copies form defaults
    ) -> Response:
        sessions.check_csrf(state.settings, active.csrf_binding, csrf_token)
        draft = _draft(title, body, severity, components)
        try:
            health.update_incident(db, incident_id=incident_id, draft=draft, now=state.clock())
        except InvalidRequestError as exc:
            db.rollback()
            incident = health.get_incident(db, incident_id=incident_id)
            return _incident_form(state, active, db, incident=incident, draft=draft, errors=_messages(exc))
        return RedirectResponse("/admin/incidents", status_code=303)

    @router.post("/admin/incidents/{incident_id}/resolve", include_in_schema=False)
    def resolve_incident(
        incident_id: uuid.UUID, state: State, db: Db, active: Admin, csrf_token: CsrfField
    ) -> Response:
        sessions.check_csrf(state.settings, active.csrf_binding, csrf_token)
        health.resolve_incident(db, incident_id=incident_id, now=state.clock())
        return RedirectResponse("/admin/incidents", status_code=303)
