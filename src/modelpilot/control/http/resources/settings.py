"""A deployment's routing settings: the settings page and form, and ``GET``/``PUT
/api/deployments/{id}/routing`` (session or management token)."""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from modelpilot.control import deployments
from modelpilot.control.errors import InvalidRequestError
from modelpilot.control.http.dependencies import ApiReader, ApiWriter, Db, SignedIn, State
from modelpilot.control.http.html import check_form_csrf, render, see_other
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.http.routers import combined
from modelpilot.control.http.views import RoutingSettingsView
from modelpilot.control.policy.settings import CategoryRule, RoutingSettings
from modelpilot.control.sessions import ActiveSession
from modelpilot.schema.wire import Category


async def _form(request: Request) -> FormData:
    return await request.form()


Posted = Annotated[FormData, Depends(_form)]


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
    """The settings page (also where renaming and deleting the deployment live), with the
    reasons a form was refused, if any."""
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


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/console/deployments/{deployment_id}/settings")
    def settings_form(
        deployment_id: uuid.UUID, active: SignedIn, db: Db, state: State, saved: bool = False
    ) -> Response:
        return settings_page(state, db, active, deployment_id, saved=saved)

    @pages.post("/console/deployments/{deployment_id}/settings")
    def settings_save(
        deployment_id: uuid.UUID, active: SignedIn, db: Db, state: State, form: Posted
    ) -> Response:
        token = form.get("csrf_token")
        check_form_csrf(state, active, token if isinstance(token, str) else None)
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
        return see_other(f"/console/deployments/{deployment_id}/settings?saved=true")

    api = APIRouter(prefix="/api", tags=["console"], responses=problem_responses(401, 403, 404, 422))

    @api.get("/deployments/{deployment_id}/routing", response_model=RoutingSettingsView)
    def get_routing(deployment_id: uuid.UUID, caller: ApiReader, db: Db) -> RoutingSettingsView:
        """The deployment's routing settings: mode, quality target, allowed models, rules, pins, logs."""
        return deployments.get_routing_settings(db, account_id=caller.account.id, deployment_id=deployment_id)

    @api.put("/deployments/{deployment_id}/routing", response_model=RoutingSettingsView)
    def put_routing(
        deployment_id: uuid.UUID, body: RoutingSettingsView, caller: ApiWriter, db: Db, state: State
    ) -> RoutingSettingsView:
        """Replace the deployment's routing settings. Model ids must be in the catalog; the
        retention is capped by the control plane. Applies to new decisions within a minute."""
        return deployments.update_routing_settings(
            db,
            account_id=caller.account.id,
            deployment_id=deployment_id,
            settings=body,
            catalog=state.catalog,
            max_retention_days=state.settings.max_log_retention_days,
        )

    return combined(pages, api)
