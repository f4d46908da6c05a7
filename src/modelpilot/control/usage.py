"""Usage totals of an account for the dashboard: a time series (hourly or daily) and breakdowns
by category and by requested -> served model. Always scoped to one account.

Savings are ``baseline - actual`` (negative when escalations paid twice). Shadow figures are what
routing *would* have saved in shadow mode; they are reported, never billed. The shadow requests'
own cost is not stored apart from their bucket's, so ``would_save_micros`` estimates it per
bucket (the bucket's mean actual cost per request x shadow_requests) before subtracting the
shadow cost. Paired checks (calibration) add verdict counts and their own spend, which is
reported apart and is never part of actual, baseline or savings.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Row
from sqlalchemy.orm import Session

from modelpilot.control import deployments
from modelpilot.control.errors import InvalidRequestError
from modelpilot.control.store.queries import billing as queries
from modelpilot.control.store.queries.billing import UsageScope
from modelpilot.control.store.tables import UsageAggregate

Step = Literal["hour", "day"]
#: The most points one series may have (31 days of hours is 744; a year of days is 366).
MAX_POINTS = 2_000
_STEP = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True, slots=True)
class UsageTotals:
    """Summed usage: every counter of the usage bucket (``totals.requests``,
    ``totals.calibration_cost_micros``, ...; :data:`~modelpilot.schema.bucket.COUNTERS`) and the
    sums derived from them (``routed_requests``, ``escalated_requests``, and shadow mode's
    ``would_save_micros``, an estimate never billed; see the module docstring). Paired checks'
    spend (``calibration_cost_micros``) is apart from actual and baseline: never in savings or
    fees. Money is integer micro-dollars."""

    #: The sums in ``queries.SUM_NAMES`` order.
    sums: tuple[int, ...] = (0,) * len(queries.SUM_NAMES)

    def __getattr__(self, name: str) -> int:
        # Only called for names that are not attributes: the sums, by name.
        try:
            return self.sums[_SUM_INDEX[name]]
        except KeyError:
            raise AttributeError(name) from None

    @property
    def savings_micros(self) -> int:
        """Net savings: baseline - actual (negative when escalations cost more than routing saved)."""
        return self.baseline_cost_micros - self.actual_cost_micros

    def __add__(self, other: UsageTotals) -> UsageTotals:
        return UsageTotals(tuple(a + b for a, b in zip(self.sums, other.sums, strict=True)))


_SUM_INDEX = {name: index for index, name in enumerate(queries.SUM_NAMES)}


def totals_of(sums: tuple[Any, ...]) -> UsageTotals:
    """Totals from one query row's sums (``queries.SUM_NAMES`` order)."""
    return UsageTotals(tuple(int(v) for v in sums))


@dataclass(frozen=True, slots=True)
class UsagePoint:
    """The totals of one step starting at ``start`` (UTC)."""

    start: datetime
    totals: UsageTotals


@dataclass(frozen=True, slots=True)
class UsageSeries:
    """Every step of ``[start, end)`` in order, empty steps included, and the grand total."""

    step: Step
    start: datetime
    end: datetime
    points: list[UsagePoint]
    totals: UsageTotals


@dataclass(frozen=True, slots=True)
class CategoryUsage:
    category: str
    totals: UsageTotals


@dataclass(frozen=True, slots=True)
class RouteUsage:
    """Usage of requests for ``requested_model`` that were served by ``served_model``."""

    requested_model: str
    served_model: str
    totals: UsageTotals


@dataclass(frozen=True, slots=True)
class UsageBreakdown:
    """Totals over ``[start, end)`` by category and by requested -> served (largest cost first)."""

    start: datetime
    end: datetime
    by_category: list[CategoryUsage]
    by_route: list[RouteUsage]
    totals: UsageTotals


def _floor(moment: datetime, step: Step) -> datetime:
    moment = moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return moment.replace(hour=0) if step == "day" else moment


def _scope(
    db: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID | None, start: datetime, end: datetime
) -> UsageScope:
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidRequestError("start and end must be timezone-aware")
    if end <= start:
        raise InvalidRequestError("end must be after start")
    if deployment_id is not None:
        # Another account's deployment is indistinguishable from a missing one (404).
        deployments.get_deployment(db, account_id=account_id, deployment_id=deployment_id)
    return UsageScope(account_id=account_id, deployment_id=deployment_id, start=start, end=end)


def usage_series(
    db: Session,
    *,
    account_id: uuid.UUID,
    deployment_id: uuid.UUID | None,
    start: datetime,
    end: datetime,
    step: Step,
) -> UsageSeries:
    """The account's (or one of its deployments') usage per hour or per UTC day.

    ``start`` is floored to its step; the series covers ``[start, end)`` with one point per step,
    zeros where nothing was metered. Raises ``InvalidRequestError`` for naive datetimes, an empty
    range or more than ``MAX_POINTS`` points, ``NotFoundError`` for a deployment the account does
    not own.
    """
    if step not in _STEP:
        raise InvalidRequestError("step must be 'hour' or 'day'")
    start = _floor(start, step) if start.tzinfo is not None else start
    scope = _scope(db, account_id=account_id, deployment_id=deployment_id, start=start, end=end)
    width = _STEP[step]
    count = -(-(end - start) // width)
    if count > MAX_POINTS:
        raise InvalidRequestError(f"at most {MAX_POINTS} points per series; use a wider step or range")
    by_step: dict[datetime, UsageTotals] = {}
    for row in queries.sum_usage(db, scope, group_by=[UsageAggregate.hour]):
        key = _floor(row[0], step)
        by_step[key] = by_step.get(key, UsageTotals()) + totals_of(tuple(row[1:]))
    points = [
        UsagePoint(start=moment, totals=by_step.get(moment, UsageTotals()))
        for moment in (start + i * width for i in range(count))
    ]
    return UsageSeries(step=step, start=start, end=end, points=points, totals=_sum(p.totals for p in points))


def _sum(items: Any) -> UsageTotals:
    total = UsageTotals()
    for item in items:
        total = total + item
    return total


def _cost_order(totals: UsageTotals) -> tuple[int, int]:
    return (-totals.actual_cost_micros, -totals.requests)


def usage_breakdown(
    db: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID | None, start: datetime, end: datetime
) -> UsageBreakdown:
    """The account's (or one deployment's) usage over ``[start, end)`` by category and by
    requested -> served model, largest actual cost first. Same errors as :func:`usage_series`."""
    scope = _scope(db, account_id=account_id, deployment_id=deployment_id, start=start, end=end)
    categories = [
        CategoryUsage(category=str(row[0]), totals=totals_of(tuple(row[1:])))
        for row in queries.sum_usage(db, scope, group_by=[UsageAggregate.category])
    ]
    routes = [
        _route(row)
        for row in queries.sum_usage(
            db, scope, group_by=[UsageAggregate.requested_model, UsageAggregate.served_model]
        )
    ]
    categories.sort(key=lambda c: (_cost_order(c.totals), c.category))
    routes.sort(key=lambda r: (_cost_order(r.totals), r.requested_model, r.served_model))
    return UsageBreakdown(
        start=start,
        end=end,
        by_category=categories,
        by_route=routes,
        totals=_sum(c.totals for c in categories),
    )


def _route(row: Row[Any]) -> RouteUsage:
    values = tuple(row)
    return RouteUsage(
        requested_model=str(values[0]), served_model=str(values[1]), totals=totals_of(values[2:])
    )
