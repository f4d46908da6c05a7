"""Latency and error charts beside the cost charts (issue 16, item 13): per day, the route round
trip's p50/p95 from the proxies' telemetry, the fail-open rate, and the escalation rate."""

from __future__ import annotations

from modelpilot.control.performance import percentile_ms
from tests.control import payloads
from tests.control.status.accessibility import accessibility_problems


def test_percentiles_are_bucket_bounds() -> None:
    assert percentile_ms({}, 0.5) is None
    histogram = {"le_5_ms": 50, "le_10_ms": 40, "le_250_ms": 9, "gt_1000_ms": 1}
    assert percentile_ms(histogram, 0.5) == 5
    assert percentile_ms(histogram, 0.9) == 10
    assert percentile_ms(histogram, 0.95) == 250
    assert percentile_ms(histogram, 1.0) == 2000  # beyond the last bound


async def test_the_performance_page_and_api_show_latency_fail_opens_and_escalations(new_tenant, client):
    tenant = await new_tenant("a@example.com")
    deployment = await tenant.create_deployment()
    _, secret = await tenant.create_key(deployment)
    auth = {"authorization": f"Bearer {secret}"}
    telemetry = payloads.telemetry_batch()
    # As a proxy counts them: the timed-out call is one of the 99 route calls; the circuit-open
    # skips asked nothing. 4 of the 400 requests that needed a decision failed open.
    telemetry["counters"] = {
        "route_calls": 99,
        "route_cache_hits": 298,
        "fail_open_timeouts": 1,
        "circuit_open_skips": 3,
    }
    telemetry["route_latency"] = {"le_5_ms": 60, "le_10_ms": 30, "le_50_ms": 9}
    assert (await client.post("/v1/telemetry", json=telemetry, headers=auth)).status_code == 200
    rows = (
        payloads.meter_row(requests=8),
        payloads.meter_row(served_model="claude-sonnet-4-5", escalated=True, requests=2),
        payloads.meter_row(served_model="claude-sonnet-4-5", routed=False, requests=5),
    )
    assert (await client.post("/v1/meter", json=payloads.meter_batch(*rows), headers=auth)).status_code == 200

    days = (await tenant.client.get(f"/api/deployments/{deployment}/performance?days=3")).json()
    assert [d["day"] for d in days] == ["2026-11-26", "2026-11-27", "2026-11-28"]
    today = days[-1]
    assert (today["route_p50_ms"], today["route_p95_ms"]) == (5, 50)
    assert (today["fail_opens"], today["decisions_sought"], today["fail_open_bps"]) == (4, 400, 100)
    assert (today["requests"], today["routed"], today["escalated"], today["escalation_bps"]) == (
        15,
        10,
        2,
        2000,
    )
    assert days[0]["route_p50_ms"] is None and days[0]["requests"] == 0

    page = await tenant.client.get(f"/console/deployments/{deployment}/performance?days=3")
    assert page.status_code == 200
    assert "Latency routing adds" in page.text and "Fail-open and escalation rates" in page.text
    assert (
        '<td data-label="Route p50">≤ 5 ms</td>' in page.text
        and '<td data-label="Route p95">≤ 50 ms</td>' in page.text
    )
    assert "2 of 10 routed (20.0%)" in page.text and "4 (1.0%)" in page.text
    assert 'aria-current="page">Performance</a>' in page.text


async def test_another_account_sees_none_of_it(new_tenant):
    alice = await new_tenant("a@example.com")
    deployment = await alice.create_deployment()
    bob = await new_tenant("b@example.com")
    for path in (
        f"/api/deployments/{deployment}/performance",
        f"/console/deployments/{deployment}/performance",
    ):
        assert (await bob.client.get(path)).status_code == 404


async def test_the_deployment_dashboard_points_at_the_performance_tab_for_its_period(new_tenant):
    tenant = await new_tenant("a@example.com")
    deployment = await tenant.create_deployment()
    performance = f"/console/deployments/{deployment}/performance"
    for period, link in (
        ("7d", f"{performance}?days=7"),
        ("30d", f"{performance}?days=30"),
        ("90d", f"{performance}?days=90"),
        # A custom period need not end today, where the performance tab's days end: no days.
        ("custom&start=2026-11-01&end=2026-11-03", performance),
    ):
        page = await tenant.client.get(f"/console/deployments/{deployment}?period={period}")
        assert page.status_code == 200
        line = page.text.split('data-testid="performance-link">', 1)[1].split("</p>", 1)[0]
        assert f'<a href="{link}">Performance</a>' in line and "p50 and p95" in line
        assert accessibility_problems(page.text) == []
        assert (await tenant.client.get(link)).status_code == 200
    # The account's dashboard (all deployments) has no one deployment's tab to point at.
    assert 'data-testid="performance-link"' not in (await tenant.client.get("/console")).text
