"""A deployment's performance beside its costs: the latency routing adds (p50, p95), how often
it failed open and how often routed answers were escalated, per day: the performance page and
its JSON twin (session or management token)."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel

from modelpilot.control import deployments
from modelpilot.control.http import charts
from modelpilot.control.http.dependencies import ApiReader, Db, SignedIn, State
from modelpilot.control.http.html import render
from modelpilot.control.http.problems import problem_responses
from modelpilot.control.performance import DayPerformance, daily_performance
from modelpilot.control.store.tables import Account

Days = Annotated[int, Query(ge=1, le=90)]


class DayPerformanceView(BaseModel):
    """One UTC day of a deployment's routing performance."""

    day: date
    route_calls: int
    route_p50_ms: int | None
    route_p95_ms: int | None
    fail_opens: int
    #: Requests that needed a decision (route calls, cache hits, circuit-open skips).
    decisions_sought: int
    #: ``fail_opens`` per 10,000 of ``decisions_sought``.
    fail_open_bps: int
    requests: int
    routed: int
    escalated: int
    escalation_bps: int

    @classmethod
    def of(cls, day: DayPerformance) -> DayPerformanceView:
        return cls(
            day=day.day,
            route_calls=day.route_calls,
            route_p50_ms=day.route_p50_ms,
            route_p95_ms=day.route_p95_ms,
            fail_opens=day.fail_opens,
            decisions_sought=day.decisions_sought,
            fail_open_bps=day.fail_open_bps,
            requests=day.requests,
            routed=day.routed,
            escalated=day.escalated,
            escalation_bps=day.escalation_bps,
        )


def _ms(value: int) -> str:
    return f"{value} ms"


def _percent(bps: int) -> str:
    return f"{bps / 100:.1f}%"


def router() -> APIRouter:
    routes = APIRouter()

    def days_of(
        db: Db, state: State, account: Account, deployment_id: uuid.UUID, days: int
    ) -> list[DayPerformance]:
        deployment = deployments.get_deployment(db, account_id=account.id, deployment_id=deployment_id)
        return daily_performance(db, deployment_id=deployment.id, days=days, now=state.clock())

    @routes.get(
        "/api/deployments/{deployment_id}/performance",
        response_model=list[DayPerformanceView],
        tags=["usage"],
        responses=problem_responses(401, 403, 404, 422),
    )
    def performance_json(
        deployment_id: uuid.UUID, caller: ApiReader, db: Db, state: State, days: Days = 30
    ) -> list[DayPerformanceView]:
        """Per UTC day, oldest first: route latency p50/p95 (bucket bounds, ms), fail-open and
        escalation counts and rates (basis points)."""
        return [DayPerformanceView.of(day) for day in days_of(db, state, caller.account, deployment_id, days)]

    @routes.get("/console/deployments/{deployment_id}/performance", include_in_schema=False)
    def performance_page(
        deployment_id: uuid.UUID, active: SignedIn, db: Db, state: State, days: Days = 30
    ) -> Response:
        found = days_of(db, state, active.account, deployment_id, days)
        labels = [day.day.isoformat() for day in found]
        latency = charts.metric_chart(
            "latency",
            "Latency routing adds",
            "p50 and p95 of the route round trip per day, in milliseconds",
            labels,
            [
                charts.Series("p50", [day.route_p50_ms or 0 for day in found], "actual"),
                charts.Series("p95", [day.route_p95_ms or 0 for day in found], "baseline"),
            ],
            fmt=_ms,
            least_top=25,
        )
        rates = charts.metric_chart(
            "rates",
            "Fail-open and escalation rates",
            "share of routing decisions that failed open, and of routed requests escalated, per day",
            labels,
            [
                charts.Series("fail open", [day.fail_open_bps for day in found], "baseline"),
                charts.Series("escalated", [day.escalation_bps for day in found], "escalated"),
            ],
            fmt=_percent,
            least_top=500,
        )
        deployment = deployments.get_deployment(db, account_id=active.account.id, deployment_id=deployment_id)
        return render(
            state,
            "console/performance.html",
            active=active,
            nav="deployments",
            tab="performance",
            deployment=deployment,
            days=found,
            latency_chart=latency,
            rates_chart=rates,
            has_data=any(day.route_calls or day.requests for day in found),
        )

    return routes
