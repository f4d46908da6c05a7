"""Usage: the account and deployment dashboards (savings, spend, quality) and their JSON twins
(``/api/deployments/{id}/summary``, the hourly aggregates ``/api/deployments/{id}/usage``),
for a session or a management token. The aggregates as CSV are in
:mod:`modelpilot.control.http.exports`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from modelpilot.control import dashboard, deployments, quality
from modelpilot.control.http import charts
from modelpilot.control.http.dependencies import ApiReader, Db, SignedIn, State
from modelpilot.control.http.html import render
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.http.routers import combined
from modelpilot.control.http.views import DeploymentSummaryView, UsageView
from modelpilot.control.store.queries import ingestion as usage_queries
from modelpilot.control.store.tables import Deployment


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


def router() -> APIRouter:
    pages = APIRouter(include_in_schema=False)

    @pages.get("/console")
    def account_dashboard(
        active: SignedIn,
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

    @pages.get("/console/deployments/{deployment_id}")
    def deployment_dashboard(
        deployment_id: uuid.UUID,
        active: SignedIn,
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

    api = APIRouter(prefix="/api", tags=["console"], responses=problem_responses(401, 403, 404, 422))

    @api.get("/deployments/{deployment_id}/usage", response_model=list[UsageView])
    def list_usage(deployment_id: uuid.UUID, caller: ApiReader, db: Db) -> list[UsageView]:
        deployment = deployments.get_deployment(db, account_id=caller.account.id, deployment_id=deployment_id)
        return [UsageView.of(row) for row in usage_queries.list_usage(db, deployment_id=deployment.id)]

    @api.get("/deployments/{deployment_id}/summary", response_model=DeploymentSummaryView)
    def get_summary(
        deployment_id: uuid.UUID,
        caller: ApiReader,
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
        deployment = deployments.get_deployment(db, account_id=caller.account.id, deployment_id=deployment_id)
        summary = dashboard.account_summary(
            db,
            account_id=caller.account.id,
            deployment_id=deployment.id,
            period=_period(state, period, start, end),
        )
        return DeploymentSummaryView.of(deployment, summary)

    return combined(pages, api)
