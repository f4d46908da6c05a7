"""What the console's dashboards show: metered usage of one deployment or a whole account over a
chosen period, summed into a time series, routing shares and breakdowns. The arithmetic is pure
(:func:`summarize`); :func:`load_usage` is the only database read."""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelpilot.control.errors import InvalidRequestError
from modelpilot.control.quality import Quality, measure
from modelpilot.control.store.tables import Deployment, UsageAggregate
from modelpilot.schema.bucket import COUNTERS

Step = Literal["hour", "day"]
PRESETS = {"7d": 7, "30d": 30, "90d": 90}
MAX_PERIOD_DAYS = 366


@dataclass(frozen=True, slots=True)
class Period:
    """A half-open UTC interval ``[start, end)`` and the width of one chart bucket."""

    name: str
    start: datetime
    end: datetime
    step: Step

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - timedelta(microseconds=1)).date()


#: The dates a period or a filter may name: wide enough for any usage, narrow enough that the
#: day after the last one is still a date (9999-12-31 + 1 day overflowed into a 500).
FIRST_DATE = date(2000, 1, 1)
LAST_DATE = date(2999, 12, 31)


def choose_period(name: str | None, *, start: str | None, end: str | None, now: datetime) -> Period:
    """The period a dashboard asked for: a preset (``7d``, ``30d``, ``90d``, the last N days
    including today) or ``custom`` with ISO dates ``start``..``end`` (both included)."""
    today = now.astimezone(UTC).date()
    if name == "custom":
        try:
            first = date.fromisoformat(start or "")
            last = date.fromisoformat(end or "")
        except ValueError as exc:
            raise InvalidRequestError("a custom period needs a start and an end date (YYYY-MM-DD)") from exc
        if not FIRST_DATE <= first <= last <= LAST_DATE:
            raise InvalidRequestError(
                f"the end must follow the start, both between {FIRST_DATE} and {LAST_DATE}"
            )
        if (last - first).days >= MAX_PERIOD_DAYS:
            raise InvalidRequestError(f"the end must follow the start, at most {MAX_PERIOD_DAYS} days later")
    else:
        name = name if name in PRESETS else "30d"
        last = today
        first = today - timedelta(days=PRESETS[name] - 1)
    begin = datetime(first.year, first.month, first.day, tzinfo=UTC)
    finish = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    step: Step = "hour" if (finish - begin) <= timedelta(days=2) else "day"
    return Period(name=name, start=begin, end=finish, step=step)


#: Sums besides the bucket's counters: requests routed, requests escalated, and shadow mode's
#: "would have saved" (estimated as in :mod:`modelpilot.control.usage`; reported, never billed).
_DERIVED = ("routed", "escalated", "would_save_micros")
_SUMMED = frozenset(COUNTERS + _DERIVED)


@dataclass(slots=True)
class Totals:
    """Summed usage: every counter of the usage bucket by name (``totals.requests``,
    ``totals.judged``, ...; :data:`~modelpilot.schema.bucket.COUNTERS`) and ``routed``,
    ``escalated`` and ``would_save_micros``. Paired checks' spend (``calibration_cost_micros``)
    is never in actual cost or savings. Money in integer micro-dollars."""

    sums: Counter[str] = field(default_factory=Counter)

    def __getattr__(self, name: str) -> int:
        # Only called for names that are not attributes: the sums, by name.
        if name in _SUMMED:
            return self.sums[name]
        raise AttributeError(name)

    @property
    def savings_micros(self) -> int:
        return self.baseline_cost_micros - self.actual_cost_micros

    def quality(self, target: float | None) -> Quality:
        """The measured quality of these verdicts against ``target``."""
        return measure(judged=self.judged, acceptable=self.acceptable, target=target)

    def add(self, row: UsageAggregate) -> None:
        counters = row.counters()
        self.sums.update(counters)
        requests = counters["requests"]
        self.sums["routed"] += requests if row.routed else 0
        self.sums["escalated"] += requests if row.escalated else 0
        shadow_requests = counters["shadow_requests"]
        if shadow_requests and requests:
            self.sums["would_save_micros"] += (
                counters["actual_cost_micros"] // requests * shadow_requests - counters["shadow_cost_micros"]
            )


@dataclass(frozen=True, slots=True)
class Point:
    """One bucket of the time series."""

    start: datetime
    totals: Totals


@dataclass(slots=True)
class Summary:
    """Everything a dashboard draws."""

    period: Period
    totals: Totals = field(default_factory=Totals)
    series: list[Point] = field(default_factory=list)
    by_category: list[tuple[str, Totals]] = field(default_factory=list)
    by_model: list[tuple[tuple[str, str], Totals]] = field(default_factory=list)
    by_deployment: dict[uuid.UUID, Totals] = field(default_factory=dict)


def _bucket_starts(period: Period) -> list[datetime]:
    width = timedelta(hours=1) if period.step == "hour" else timedelta(days=1)
    starts = []
    cursor = period.start
    while cursor < period.end:
        starts.append(cursor)
        cursor += width
    return starts


def _bucket_of(hour: datetime, step: Step) -> datetime:
    hour = hour.astimezone(UTC)
    return (
        hour.replace(minute=0, second=0, microsecond=0)
        if step == "hour"
        else datetime(hour.year, hour.month, hour.day, tzinfo=UTC)
    )


def summarize(rows: Iterable[UsageAggregate], period: Period) -> Summary:
    """Sum ``rows`` (already restricted to the period) into totals, a gap-free series and
    breakdowns sorted by request count."""
    summary = Summary(period=period)
    buckets = {start: Totals() for start in _bucket_starts(period)}
    categories: dict[str, Totals] = defaultdict(Totals)
    models: dict[tuple[str, str], Totals] = defaultdict(Totals)
    by_deployment: dict[uuid.UUID, Totals] = defaultdict(Totals)
    for row in rows:
        by_deployment[row.deployment_id].add(row)
        summary.totals.add(row)
        bucket = buckets.get(_bucket_of(row.hour, period.step))
        if bucket is not None:
            bucket.add(row)
        categories[row.category].add(row)
        models[(row.requested_model, row.served_model)].add(row)
    summary.series = [Point(start, totals) for start, totals in buckets.items()]
    summary.by_category = sorted(categories.items(), key=lambda item: (-item[1].requests, item[0]))
    # Calibration rows (requests = 0) still name a requested -> candidate pair: they sort last.
    summary.by_model = sorted(models.items(), key=lambda item: (-item[1].requests, -item[1].judged, item[0]))
    summary.by_deployment = dict(by_deployment)
    return summary


def load_usage(
    session: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID | None, period: Period
) -> Sequence[UsageAggregate]:
    """The usage buckets of the account (or of one of its deployments) inside ``period``."""
    query = (
        select(UsageAggregate)
        .join(Deployment, Deployment.id == UsageAggregate.deployment_id)
        .where(
            Deployment.account_id == account_id,
            UsageAggregate.hour >= period.start,
            UsageAggregate.hour < period.end,
        )
    )
    if deployment_id is not None:
        query = query.where(UsageAggregate.deployment_id == deployment_id)
    return session.scalars(query.order_by(UsageAggregate.hour, UsageAggregate.id)).all()


def account_summary(
    session: Session, *, account_id: uuid.UUID, deployment_id: uuid.UUID | None, period: Period
) -> Summary:
    """The dashboard of an account, or of one of its deployments (the caller checked ownership)."""
    rows = load_usage(session, account_id=account_id, deployment_id=deployment_id, period=period)
    return summarize(rows, period)
