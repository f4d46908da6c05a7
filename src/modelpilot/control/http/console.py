"""The web console: server-rendered pages for dashboards, deployments, keys, routing settings,
the request log, billing and administration. Every page reads through the signed-in account
(another tenant's deployment is a 404); every POST carries the session's CSRF token."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from modelpilot.control import (
    accounts,
    billing,
    dashboard,
    deployments,
    quality,
    request_log,
    sessions,
)
from modelpilot.control.errors import ForbiddenError, InvalidRequestError, NotFoundError
from modelpilot.control.http import charts, key_reveal
from modelpilot.control.http.dependencies import Db, State, current_session
from modelpilot.control.http.html import STATIC_FILES, render, static_body, static_version
from modelpilot.control.policy.settings import CategoryRule, RoutingSettings
from modelpilot.control.sessions import ActiveSession
from modelpilot.control.store.tables import Deployment
from modelpilot.schema.wire import Category

Reader = Annotated[ActiveSession, Depends(current_session)]
CsrfField = Annotated[str, Form()]


def _checked(state: State, active: ActiveSession, token: str | None) -> None:
    sessions.check_csrf(state.settings, active.csrf_binding, token)


def _see_other(url: str) -> Response:
    return RedirectResponse(url, status_code=303)


async def _form(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_form)]


def _period(state: State, period: str | None, start: str | None, end: str | None) -> dashboard.Period:
    return dashboard.choose_period(period, start=start, end=end, now=state.clock())


@dataclass(frozen=True, slots=True)
class _DeploymentQuality:
    """One deployment's row of the account dashboard's quality table."""

    deployment: Deployment
    totals: dashboard.Totals
    quality: quality.Quality


def _quality_context(
    summary: dashboard.Summary, deployment: Deployment | None, owned: Sequence[Deployment]
) -> dict[str, Any]:
    target = deployment.quality_target if deployment is not None else None
    per_deployment = [
        _DeploymentQuality(d, totals, totals.quality(d.quality_target))
        for d in owned
        for totals in [summary.by_deployment.get(d.id, dashboard.Totals())]
    ]
    shadowing = [d for d in owned if d.routing_mode == "shadow"]
    return {
        "quality": summary.totals.quality(target),
        "pair_quality": {pair: totals.quality(target) for pair, totals in summary.by_model},
        "per_deployment": per_deployment,
        # Shadow mode is how a cautious customer decides: its "would have saved" leads the page.
        "is_shadow": bool(shadowing) or summary.totals.shadow_requests > 0,
        "checks_off": [d for d in owned if d.calibration_rate_bps == 0],
        "pct": quality.percent,
    }


def _dashboard_context(
    summary: dashboard.Summary, *, deployment: Deployment | None, owned: Sequence[Deployment]
) -> dict[str, Any]:
    labels = [p.start.strftime("%H:%M" if summary.period.step == "hour" else "%b %d") for p in summary.series]
    baseline = [p.totals.baseline_cost_micros for p in summary.series]
    actual = [p.totals.actual_cost_micros for p in summary.series]
    savings = [p.totals.savings_micros for p in summary.series]
    totals = summary.totals
    # Escalated requests were routed first: they are a part of the routed ones.
    as_requested = totals.requests - totals.routed
    return {
        "summary": summary,
        "totals": totals,
        "spend_chart": charts.line_chart(
            "spend",
            "Spend over time",
            f"Actual spend {charts.format_usd(totals.actual_cost_micros)} against "
            f"{charts.format_usd(totals.baseline_cost_micros)} without routing, per {summary.period.step}.",
            labels,
            [
                charts.Series("Without ModelPilot", baseline, "baseline"),
                charts.Series("Actual spend", actual, "actual"),
            ],
        ),
        "savings_chart": charts.bar_chart(
            "savings",
            "Savings over time",
            f"Net savings {charts.format_usd(totals.savings_micros)} over the period, per {summary.period.step}.",
            labels,
            savings,
        ),
        "share_chart": charts.share_bar(
            "share",
            "Share of requests routed and escalated",
            [
                ("Served as requested", max(as_requested, 0), "requested"),
                ("Routed to a cheaper model", totals.routed - totals.escalated, "routed"),
                ("Escalated", totals.escalated, "escalated"),
            ],
        ),
        "max_category": max((t.requests for _, t in summary.by_category), default=0),
        "max_model": max((t.requests for _, t in summary.by_model), default=0),
        "usd": charts.format_usd,
        "share": charts.format_share,
        **_quality_context(summary, deployment, owned),
    }


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


def _scaled(text: str, scale: int) -> int:
    """A decimal a person typed (``2.5`` %, ``1.50`` $) in whole units of ``1/scale``;
    ``ValueError`` for anything else (more decimals than the unit has, not a number)."""
    try:
        value = Decimal(text.strip()) * scale
    except InvalidOperation as exc:
        raise ValueError("not a number") from exc
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError("too many decimals")
    return int(value)


def _settings_from_form(form: FormData, current: RoutingSettings) -> RoutingSettings:
    """The routing settings a settings form posted (pins are kept as they were; calibration
    fields left out keep their values). The calibration rate is typed in percent and the daily
    cap in dollars."""
    rate = form.get("calibration_rate_percent")
    cap = form.get("calibration_daily_cap_usd")
    rules: dict[Category, CategoryRule] = {}
    for category in Category:
        action = str(form.get(f"rule_{category.value}", "default"))
        target = str(form.get(f"target_{category.value}", "")).strip()
        if action == "never":
            rules[category] = CategoryRule(action="never")
        elif action == "route" or target:
            rules[category] = CategoryRule(action="route", quality_target=float(target) if target else None)
    allowed = [str(m) for m in form.getlist("allowed_models")]
    return RoutingSettings(
        mode=str(form.get("mode", "on")),  # type: ignore[arg-type]  # validated by the model
        quality_target=float(str(form.get("quality_target", "0.95"))),
        allowed_models=allowed or None,
        category_rules=rules,
        pins=current.pins,
        metadata_logs=form.get("metadata_logs") == "on",
        log_retention_days=int(str(form.get("log_retention_days", "30"))),
        calibration_rate_bps=_scaled(str(rate), 100) if rate is not None else current.calibration_rate_bps,
        calibration_daily_cap_micros=(
            _scaled(str(cap), 1_000_000) if cap is not None else current.calibration_daily_cap_micros
        ),
    )


def _admin(active: ActiveSession) -> ActiveSession:
    if not active.account.is_admin:
        raise NotFoundError("no such page")
    return active


def console_router() -> APIRouter:
    """HTML routes under ``/console`` and the console's static files (not in the OpenAPI)."""
    router = APIRouter(include_in_schema=False)

    @router.get("/static/{name}")
    def static(name: str, v: str | None = None) -> Response:
        if name not in STATIC_FILES:
            raise NotFoundError("no such file")
        # A versioned URL never changes content; an unversioned one is revalidated soon.
        fresh = v == static_version(name)
        return Response(
            static_body(name),
            media_type=STATIC_FILES[name],
            headers={
                "cache-control": "public, max-age=31536000, immutable" if fresh else "public, max-age=300",
                "x-content-type-options": "nosniff",
            },
        )

    # -- dashboards --------------------------------------------------------------------------------
    @router.get("/console")
    def account_dashboard(
        active: Reader,
        db: Db,
        state: State,
        period: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> Response:
        chosen = _period(state, period, start, end)
        summary = dashboard.account_summary(
            db, account_id=active.account.id, deployment_id=None, period=chosen
        )
        owned = deployments.list_deployments(db, account_id=active.account.id)
        return render(
            state,
            "console/dashboard.html",
            active=active,
            nav="dashboard",
            deployment=None,
            deployments=owned,
            **_dashboard_context(summary, deployment=None, owned=owned),
        )

    @router.get("/console/deployments/{deployment_id}")
    def deployment_dashboard(
        deployment_id: uuid.UUID,
        active: Reader,
        db: Db,
        state: State,
        period: str | None = None,
        start: str | None = None,
        end: str | None = None,
    ) -> Response:
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        chosen = _period(state, period, start, end)
        summary = dashboard.account_summary(
            db, account_id=active.account.id, deployment_id=deployment.id, period=chosen
        )
        return render(
            state,
            "console/dashboard.html",
            active=active,
            nav="deployments",
            deployment=deployment,
            tab="dashboard",
            **_dashboard_context(summary, deployment=deployment, owned=[deployment]),
        )

    # -- deployments -------------------------------------------------------------------------------
    @router.get("/console/deployments")
    def deployment_list(active: Reader, db: Db, state: State) -> Response:
        return render(
            state,
            "console/deployments.html",
            active=active,
            nav="deployments",
            deployments=deployments.list_deployments(db, account_id=active.account.id),
        )

    @router.post("/console/deployments")
    def deployment_create(
        active: Reader, db: Db, state: State, name: Annotated[str, Form()] = "", csrf_token: CsrfField = ""
    ) -> Response:
        _checked(state, active, csrf_token)
        row = deployments.create_deployment(db, account_id=active.account.id, name=name, now=state.clock())
        return _see_other(f"/console/deployments/{row.id}/keys")

    @router.post("/console/deployments/{deployment_id}/rename")
    def deployment_rename(
        deployment_id: uuid.UUID,
        active: Reader,
        db: Db,
        state: State,
        csrf_token: CsrfField = "",
        name: Annotated[str, Form()] = "",
    ) -> Response:
        _checked(state, active, csrf_token)
        deployments.rename_deployment(
            db, account_id=active.account.id, deployment_id=deployment_id, name=name
        )
        return _see_other(f"/console/deployments/{deployment_id}/settings")

    @router.post("/console/deployments/{deployment_id}/delete")
    def deployment_delete(
        deployment_id: uuid.UUID,
        active: Reader,
        db: Db,
        state: State,
        csrf_token: CsrfField = "",
        confirmation: Annotated[str, Form()] = "",
    ) -> Response:
        _checked(state, active, csrf_token)
        try:
            deployments.delete_deployment(
                db, account_id=active.account.id, deployment_id=deployment_id, confirmation=confirmation
            )
        except InvalidRequestError as exc:
            return settings_page(state, db, active, deployment_id, delete_error=exc.detail)
        return _see_other("/console/deployments")

    # -- keys --------------------------------------------------------------------------------------
    def keys_page(
        state: State,
        db: Db,
        active: ActiveSession,
        deployment_id: uuid.UUID,
        request: Request,
    ) -> Response:
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        new_secret = key_reveal.take(state, request, active, deployment_id)
        response = render(
            state,
            "console/keys.html",
            active=active,
            nav="deployments",
            tab="keys",
            deployment=deployment,
            keys=deployments.list_api_keys(db, account_id=active.account.id, deployment_id=deployment.id),
            new_secret=new_secret,
            control_plane_url=str(request.base_url).rstrip("/"),
        )
        if request.cookies.get(key_reveal.COOKIE):
            key_reveal.forget(response, deployment_id)
        return response

    @router.get("/console/deployments/{deployment_id}/keys")
    def key_list(
        deployment_id: uuid.UUID, active: Reader, db: Db, state: State, request: Request
    ) -> Response:
        return keys_page(state, db, active, deployment_id, request)

    @router.post("/console/deployments/{deployment_id}/keys")
    def key_create(
        deployment_id: uuid.UUID,
        active: Reader,
        db: Db,
        state: State,
        request: Request,
        csrf_token: CsrfField = "",
        name: Annotated[str, Form()] = "",
    ) -> Response:
        """Create a key and redirect to the keys page, which shows its secret once (a reload
        of that page creates nothing and shows the secret no more; see key_reveal)."""
        _checked(state, active, csrf_token)
        _, secret = deployments.create_api_key(
            db, account_id=active.account.id, deployment_id=deployment_id, name=name, now=state.clock()
        )
        response = _see_other(f"/console/deployments/{deployment_id}/keys")
        key_reveal.keep_for_next_page(response, state, request, active, deployment_id, secret)
        return response

    @router.get("/console/deployments/{deployment_id}/keys/{key_id}/revoke")
    def key_revoke_confirm(
        deployment_id: uuid.UUID, key_id: uuid.UUID, active: Reader, db: Db, state: State
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

    @router.post("/console/deployments/{deployment_id}/keys/{key_id}/revoke")
    def key_revoke(
        deployment_id: uuid.UUID,
        key_id: uuid.UUID,
        active: Reader,
        db: Db,
        state: State,
        csrf_token: CsrfField = "",
    ) -> Response:
        _checked(state, active, csrf_token)
        deployments.revoke_api_key(
            db, account_id=active.account.id, deployment_id=deployment_id, key_id=key_id, now=state.clock()
        )
        return _see_other(f"/console/deployments/{deployment_id}/keys")

    # -- routing settings --------------------------------------------------------------------------
    def settings_page(
        state: State,
        db: Db,
        active: ActiveSession,
        deployment_id: uuid.UUID,
        *,
        problems: list[str] | None = None,
        saved: bool = False,
        delete_error: str | None = None,
    ) -> Response:
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        return render(
            state,
            "console/settings.html",
            active=active,
            nav="deployments",
            tab="settings",
            deployment=deployment,
            settings=deployments.routing_settings_of(deployment),
            models=[m for m in state.catalog.models if m.is_routable],
            categories=list(Category),
            max_retention_days=state.settings.max_log_retention_days,
            problems=problems or [],
            saved=saved,
            delete_error=delete_error,
            status=422 if problems or delete_error else 200,
        )

    @router.get("/console/deployments/{deployment_id}/settings")
    def settings_form(
        deployment_id: uuid.UUID, active: Reader, db: Db, state: State, saved: bool = False
    ) -> Response:
        return settings_page(state, db, active, deployment_id, saved=saved)

    @router.post("/console/deployments/{deployment_id}/settings")
    def settings_save(
        deployment_id: uuid.UUID, active: Reader, db: Db, state: State, form: Posted
    ) -> Response:
        token = form.get("csrf_token")
        _checked(state, active, token if isinstance(token, str) else None)
        current = deployments.get_routing_settings(
            db, account_id=active.account.id, deployment_id=deployment_id
        )
        try:
            wanted = _settings_from_form(form, current)
            deployments.update_routing_settings(
                db,
                account_id=active.account.id,
                deployment_id=deployment_id,
                settings=wanted,
                catalog=state.catalog,
                max_retention_days=state.settings.max_log_retention_days,
            )
        except ValidationError as exc:
            fields = sorted({".".join(str(p) for p in e["loc"]) or "settings" for e in exc.errors()})
            return settings_page(state, db, active, deployment_id, problems=[f"{f}: invalid" for f in fields])
        except ValueError:
            return settings_page(state, db, active, deployment_id, problems=["numbers only, please"])
        except InvalidRequestError as exc:
            reasons = [f"{e.path}: {e.reason}" for e in exc.errors] or [exc.detail]
            return settings_page(state, db, active, deployment_id, problems=reasons)
        return _see_other(f"/console/deployments/{deployment_id}/settings?saved=true")

    # -- request log -------------------------------------------------------------------------------
    @router.get("/console/deployments/{deployment_id}/logs")
    def log_list(
        deployment_id: uuid.UUID,
        active: Reader,
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

    # -- billing -----------------------------------------------------------------------------------
    @router.get("/console/billing")
    def billing_page(active: Reader, db: Db, state: State) -> Response:
        now = state.clock()
        bill = billing.compute_bill(
            db, state.settings, account_id=active.account.id, month=billing.month_of(now)
        )
        return render(
            state,
            "console/billing.html",
            active=active,
            nav="billing",
            month=now.astimezone(UTC).strftime("%B %Y"),
            bill=bill,
            invoices=billing.list_invoices(db, account_id=active.account.id),
            usd=charts.format_usd,
        )

    # -- administration ----------------------------------------------------------------------------
    @router.get("/console/admin/accounts")
    def admin_accounts(active: Reader, db: Db, state: State) -> Response:
        _admin(active)
        return render(
            state, "console/admin.html", active=active, nav="admin", accounts=accounts.list_accounts(db)
        )

    def set_suspended(
        state: State, db: Db, active: ActiveSession, token: str, account_id: uuid.UUID, *, suspended: bool
    ) -> Response:
        # The CSRF check comes first, like on every other POST; then non-admins get a 404.
        _checked(state, active, token)
        _admin(active)
        if account_id == active.account.id:
            raise ForbiddenError("administrators cannot suspend themselves")
        accounts.set_suspended(db, account_id=account_id, suspended=suspended, now=state.clock())
        return _see_other("/console/admin/accounts")

    @router.post("/console/admin/accounts/{account_id}/suspend")
    def admin_suspend(
        account_id: uuid.UUID, active: Reader, db: Db, state: State, csrf_token: CsrfField = ""
    ) -> Response:
        """Suspend: every session is revoked and the keys are refused from the next request."""
        return set_suspended(state, db, active, csrf_token, account_id, suspended=True)

    @router.post("/console/admin/accounts/{account_id}/reinstate")
    def admin_reinstate(
        account_id: uuid.UUID, active: Reader, db: Db, state: State, csrf_token: CsrfField = ""
    ) -> Response:
        return set_suspended(state, db, active, csrf_token, account_id, suspended=False)

    return router
