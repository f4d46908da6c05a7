"""Dashboards: the figures the control plane metered, for the account and per deployment, over
the chosen period, drawn as SVG with text alternatives."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from modelpilot.control import dashboard
from modelpilot.control.errors import InvalidRequestError
from modelpilot.control.http.charts import format_usd
from modelpilot.control.store.tables import UsageAggregate
from tests.control import payloads

ROWS = [
    payloads.meter_row(),  # routed to haiku, kept
    payloads.meter_row(
        category="qa",
        served_model="claude-sonnet-4-5",
        routed=True,
        escalated=True,
        requests=1,
        actual_cost_micros=9000,
        baseline_cost_micros=6000,
    ),
    payloads.meter_row(
        category="chat",
        served_model="claude-sonnet-4-5",
        routed=False,
        requests=2,
        actual_cost_micros=4000,
        baseline_cost_micros=4000,
    ),
]


def kpi(page: str, name: str) -> str:
    match = re.search(rf'data-testid="{name}">([^<]*)<', page)
    assert match, f"no {name} figure on the page"
    return match.group(1)


async def metered_tenant(new_tenant, client, email: str = "a@example.com"):
    tenant = await new_tenant(email)
    deployment = await tenant.create_deployment("production")
    _, secret = await tenant.create_key(deployment)
    response = await client.post(
        "/v1/meter", json=payloads.meter_batch(*ROWS), headers={"authorization": f"Bearer {secret}"}
    )
    assert response.status_code == 200, response.text
    return tenant, deployment


async def test_the_dashboards_show_what_was_metered(new_tenant, client):
    tenant, deployment = await metered_tenant(new_tenant, client)
    requests = sum(r["requests"] for r in ROWS)
    savings = sum(r["baseline_cost_micros"] - r["actual_cost_micros"] for r in ROWS)
    routed = sum(r["requests"] for r in ROWS if r["routed"])
    for path in ("/console?period=7d", f"/console/deployments/{deployment}?period=30d"):
        page = (await tenant.client.get(path)).text
        assert kpi(page, "requests") == str(requests)
        assert kpi(page, "savings") == format_usd(savings)
        assert kpi(page, "spend") == format_usd(sum(r["actual_cost_micros"] for r in ROWS))
        assert kpi(page, "routed-share") == f"{100 * routed / requests:.1f}%"
        assert kpi(page, "escalated-share") == f"{100 / requests:.1f}%"
        for category in ("code", "qa", "chat"):
            assert f'<th scope="row">{category}</th>' in page
        # Every chart is an image with a title and a description.
        assert page.count('role="img"') == 3
        assert page.count("<title id=") == 3 and page.count("<desc id=") == 3


async def test_the_period_chooser(new_tenant, client):
    tenant, _ = await metered_tenant(new_tenant, client)
    # The rows are metered at 10:00 on the clock's day; the day before holds nothing.
    before = await tenant.client.get("/console?period=custom&start=2026-11-01&end=2026-11-27")
    assert kpi(before.text, "requests") == "0"
    one_day = await tenant.client.get("/console?period=custom&start=2026-11-28&end=2026-11-28")
    assert kpi(one_day.text, "requests") == str(sum(r["requests"] for r in ROWS))
    assert "per hour" in one_day.text
    assert (
        await tenant.client.get("/console?period=custom&start=2026-11-28&end=2026-11-01")
    ).status_code == 422
    assert (await tenant.client.get("/console?period=custom&start=nope")).status_code == 422


async def test_one_account_never_sees_another_accounts_usage(new_tenant, client):
    await metered_tenant(new_tenant, client, "a@example.com")
    other = await new_tenant("b@example.com")
    assert kpi((await other.client.get("/console")).text, "requests") == "0"


def test_presets_cover_whole_days_up_to_today():
    now = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)
    period = dashboard.choose_period("7d", start=None, end=None, now=now)
    assert period.start == datetime(2026, 11, 22, tzinfo=UTC)
    assert period.end == datetime(2026, 11, 29, tzinfo=UTC)
    assert period.step == "day"
    assert dashboard.choose_period("bogus", start=None, end=None, now=now).name == "30d"
    with pytest.raises(InvalidRequestError):
        dashboard.choose_period("custom", start="2026-01-01", end="2027-06-01", now=now)


def test_the_series_has_one_point_per_bucket_and_sums_every_row():
    period = dashboard.choose_period("custom", start="2026-11-28", end="2026-11-28", now=datetime.now(UTC))
    rows = [
        UsageAggregate(
            hour=datetime(2026, 11, 28, hour, tzinfo=UTC),
            category="qa",
            requested_model="a",
            served_model="b",
            routed=True,
            escalated=False,
            requests=2,
            input_tokens=1,
            output_tokens=1,
            cache_write_tokens=0,
            cache_read_tokens=0,
            actual_cost_micros=10,
            baseline_cost_micros=30,
        )
        for hour in (3, 3, 17)
    ]
    summary = dashboard.summarize(rows, period)
    assert len(summary.series) == 24 and period.step == "hour"
    assert [p.totals.requests for p in summary.series if p.totals.requests] == [4, 2]
    assert summary.totals.savings_micros == 3 * 20
    assert summary.by_model == [(("a", "b"), summary.totals)]


def test_money_is_shown_in_dollars():
    assert format_usd(0) == "$0.00"
    assert format_usd(1_234_560_000) == "$1,234.56"
    assert format_usd(2_500) == "$0.0025"
    assert format_usd(-2_500) == "-$0.0025"
    assert format_usd(40) == "<$0.0001"
