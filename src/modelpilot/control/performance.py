"""How a deployment's routing performed, day by day: the latency the routing decision adds (p50
and p95 of the proxies' route round trips, from their telemetry histograms), how often a request
failed open (no usable decision), and how often a routed answer was escalated.

Built from what proxies already send: telemetry windows (numbers only) and usage aggregates.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelpilot.control.store.tables import TelemetryReport, UsageAggregate, usage_columns
from modelpilot.schema.wire import LATENCY_BUCKETS

#: The histogram's buckets, in order, with the upper bound each stands for (ms); beyond the last
#: bound is shown as "over 1000 ms".
BUCKETS: tuple[tuple[str, int], ...] = tuple(
    (name, 2000 if bound == math.inf else int(bound)) for name, bound in LATENCY_BUCKETS
)


@dataclass(frozen=True, slots=True)
class DayPerformance:
    """One UTC day. Latencies are bucket upper bounds (None: no route round trip that day)."""

    day: date
    route_calls: int
    route_p50_ms: int | None
    route_p95_ms: int | None
    fail_opens: int
    requests: int
    routed: int
    escalated: int
    #: Requests that needed a decision: route calls (answered or failed), cache hits and
    #: requests the open circuit breaker sent on without asking.
    decisions_sought: int = 0

    @property
    def fail_open_bps(self) -> int:
        """Requests that failed open (no usable decision) per 10,000 that needed a decision."""
        return round(10_000 * self.fail_opens / self.decisions_sought) if self.decisions_sought else 0

    @property
    def escalation_bps(self) -> int:
        """Escalated requests per 10,000 routed ones."""
        return round(10_000 * self.escalated / self.routed) if self.routed else 0


def percentile_ms(histogram: dict[str, int], share: float) -> int | None:
    """The upper bound of the bucket holding the ``share`` quantile (None for an empty one)."""
    total = sum(histogram.get(name, 0) for name, _ in BUCKETS)
    if total == 0:
        return None
    seen = 0
    for name, bound in BUCKETS:
        seen += histogram.get(name, 0)
        if seen >= share * total:
            return bound
    return BUCKETS[-1][1]


def daily_performance(
    session: Session, *, deployment_id: uuid.UUID, days: int, now: datetime
) -> list[DayPerformance]:
    """The last ``days`` UTC days up to ``now``, oldest first, every day present."""
    first = (now - timedelta(days=days - 1)).date()
    start = datetime(first.year, first.month, first.day, tzinfo=now.tzinfo)
    histograms: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    calls: dict[date, int] = defaultdict(int)
    fail_opens: dict[date, int] = defaultdict(int)
    sought: dict[date, int] = defaultdict(int)
    for report in session.scalars(
        select(TelemetryReport).where(
            TelemetryReport.deployment_id == deployment_id, TelemetryReport.window_start >= start
        )
    ):
        day = report.window_start.date()
        for name, count in report.route_latency.items():
            histograms[day][name] += int(count)
        counters = report.counters
        calls[day] += int(counters.get("route_calls", 0))
        # A timed-out or failed route call is among the route calls; a circuit-open skip is not.
        skips = int(counters.get("circuit_open_skips", 0))
        sought[day] += int(counters.get("route_calls", 0)) + int(counters.get("route_cache_hits", 0)) + skips
        fail_opens[day] += int(counters.get("fail_open_timeouts", 0)) + int(
            counters.get("fail_open_errors", 0)
        )
        fail_opens[day] += skips
    requests: dict[date, int] = defaultdict(int)
    routed: dict[date, int] = defaultdict(int)
    escalated: dict[date, int] = defaultdict(int)
    for row in session.execute(
        select(
            UsageAggregate.hour, UsageAggregate.routed, UsageAggregate.escalated, usage_columns.requests
        ).where(UsageAggregate.deployment_id == deployment_id, UsageAggregate.hour >= start)
    ):
        day = row.hour.date()
        requests[day] += row.requests
        if row.routed:
            routed[day] += row.requests
            if row.escalated:
                escalated[day] += row.requests
    out = []
    for offset in range(days):
        day = first + timedelta(days=offset)
        histogram = histograms.get(day, {})
        out.append(
            DayPerformance(
                day=day,
                route_calls=calls[day],
                route_p50_ms=percentile_ms(histogram, 0.5),
                route_p95_ms=percentile_ms(histogram, 0.95),
                fail_opens=fail_opens[day],
                requests=requests[day],
                routed=routed[day],
                escalated=escalated[day],
                decisions_sought=sought[day],
            )
        )
    return out
