from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy.orm import Session

from modelpilot.control.errors import InvalidRequestError, NotFoundError
from modelpilot.control.usage import UsageTotals, usage_breakdown, usage_series
from tests.control.billing.seed import add_account, add_deployment, add_usage


def at(day: int, hour: int) -> datetime:
    return datetime(2026, 11, day, hour, tzinfo=UTC)


@pytest.fixture
def seeded(engine):
    """Account A with two deployments, account B with one, usage on 27-28 Nov."""
    a = add_account(engine, "a@example.com")
    b = add_account(engine, "b@example.com")
    prod = add_deployment(engine, a, "prod")
    dev = add_deployment(engine, a, "dev")
    other = add_deployment(engine, b, "other")
    add_usage(engine, prod, at(27, 10), actual=1_000, baseline=5_000, requests=2)
    add_usage(engine, prod, at(27, 10), actual=9_000, baseline=6_000, escalated=True, category="qa")
    add_usage(engine, prod, at(28, 3), actual=300, baseline=300, routed=False, served="claude-sonnet-4-5")
    add_usage(engine, dev, at(28, 3), actual=50, baseline=70, feedback_reports=1)
    add_usage(
        engine,
        dev,
        at(28, 4),
        actual=400,
        baseline=400,
        requests=4,
        routed=False,
        served="claude-sonnet-4-5",
        shadow_requests=2,
        shadow_cost_micros=40,
    )
    add_usage(engine, other, at(27, 10), actual=7, baseline=777_777)
    return a, b, prod, dev, other


def test_daily_series_sums_the_account_and_fills_empty_days(engine, seeded):
    a, _, _, _, _ = seeded
    with Session(engine) as db:
        series = usage_series(
            db, account_id=a, deployment_id=None, start=at(26, 15), end=at(29, 0), step="day"
        )
    assert [p.start.day for p in series.points] == [26, 27, 28]
    assert series.points[0].totals == UsageTotals()
    day27, day28 = series.points[1].totals, series.points[2].totals
    assert (day27.requests, day27.routed_requests, day27.escalated_requests) == (3, 3, 1)
    assert (day27.baseline_cost_micros, day27.actual_cost_micros, day27.savings_micros) == (
        11_000,
        10_000,
        1_000,
    )
    assert (day28.requests, day28.routed_requests, day28.feedback_reports) == (6, 1, 1)
    assert day28.savings_micros == 20
    # 2 of 4 shadow requests: their estimated actual cost 200 minus the shadow cost 40.
    assert (day28.shadow_requests, day28.would_save_micros) == (2, 160)
    assert series.totals.requests == 9
    assert series.totals.actual_cost_micros == 10_000 + 300 + 50 + 400


def test_hourly_series_of_one_deployment(engine, seeded):
    a, _, _, dev, _ = seeded
    with Session(engine) as db:
        series = usage_series(
            db, account_id=a, deployment_id=dev, start=at(28, 2), end=at(28, 6), step="hour"
        )
    assert [(p.start.hour, p.totals.requests) for p in series.points] == [(2, 0), (3, 1), (4, 4), (5, 0)]


def test_another_accounts_deployment_is_not_found(engine, seeded):
    a, _, _, _, other = seeded
    with Session(engine) as db, pytest.raises(NotFoundError):
        usage_series(db, account_id=a, deployment_id=other, start=at(27, 0), end=at(29, 0), step="day")


@pytest.mark.parametrize(
    ("start", "end", "step"),
    [
        (at(28, 0), at(27, 0), "day"),
        (datetime(2026, 11, 27), at(28, 0), "day"),
        (datetime(2020, 1, 1, tzinfo=UTC), at(28, 0), "hour"),
        (at(27, 0), at(28, 0), "week"),
    ],
)
def test_bad_ranges_are_refused(engine, seeded, start, end, step):
    a = seeded[0]
    with Session(engine) as db, pytest.raises(InvalidRequestError):
        usage_series(db, account_id=a, deployment_id=None, start=start, end=end, step=step)


def test_breakdown_by_category_and_route(engine, seeded):
    a = seeded[0]
    with Session(engine) as db:
        breakdown = usage_breakdown(db, account_id=a, deployment_id=None, start=at(27, 0), end=at(29, 0))
    assert [(c.category, c.totals.requests, c.totals.actual_cost_micros) for c in breakdown.by_category] == [
        ("qa", 1, 9_000),
        ("code", 8, 1_750),
    ]
    routes = {(r.requested_model, r.served_model): r.totals.requests for r in breakdown.by_route}
    assert routes == {
        ("claude-sonnet-4-5", "claude-haiku-4-5"): 4,
        ("claude-sonnet-4-5", "claude-sonnet-4-5"): 5,
    }
    assert breakdown.totals.baseline_cost_micros == 5_000 + 6_000 + 300 + 70 + 400
